"""The ufw backend over recorded ufw status output."""

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils._firewall import api as _firewall
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.tests.unit.plugins.module_utils._firewall.recorder import recorded


UFW_STATUS = """Status: active

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW       Anywhere
192.0.2.1 80/tcp           ALLOW OUT   Anywhere                   # ocsp.stapling ip 192.0.2.1 tcp/80
192.0.2.9 80/tcp           ALLOW OUT   Anywhere                   # ocsp.stapling ip 192.0.2.9 tcp/80
"""


def test_ufw_plan_from_status():
    run = recorded({"/usr/sbin/ufw status": (0, UFW_STATUS, "")})
    fw = _firewall.Ufw(run, "/usr/sbin/ufw")
    rules, _res = _firewall.desired_rules([{"host": "192.0.2.1"}, {"host": "192.0.2.2", "port": 8080}])
    plan = fw.plan(rules, purge=True)
    commands, added, removed, after = plan.change, plan.added, plan.removed, plan.after
    assert added == ["ip 192.0.2.2 tcp/8080"] and removed == ["ip 192.0.2.9 tcp/80"]
    assert after == ["ip 192.0.2.1 tcp/80", "ip 192.0.2.2 tcp/8080"]
    assert commands == [
        ["/usr/sbin/ufw", "allow", "out", "proto", "tcp", "to", "192.0.2.2", "port", "8080", "comment",
         "ocsp.stapling ip 192.0.2.2 tcp/8080"],
        ["/usr/sbin/ufw", "delete", "allow", "out", "proto", "tcp", "to", "192.0.2.9", "port", "80"]]
    with pytest.raises(StaplingError, match="no owner match"):
        fw.plan(_firewall.desired_rules([{"host": "192.0.2.1"}], owner_uid=33)[0])
    inactive = _firewall.Ufw(recorded({"/usr/sbin/ufw status": (0, "Status: inactive\n", "")}), "/usr/sbin/ufw")
    with pytest.raises(StaplingError, match="not active"):
        inactive.plan(rules)
