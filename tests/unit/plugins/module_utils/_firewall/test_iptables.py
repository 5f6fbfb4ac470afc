"""The iptables backend over recorded iptables-save output: an atomic iptables-restore script per family."""

from ansible_collections.ocsp.stapling.plugins.module_utils._firewall import api as _firewall
from ansible_collections.ocsp.stapling.tests.unit.plugins.module_utils._firewall.recorder import recorded, which_all


SAVED = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT DROP [0:0]
-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""


def test_iptables_plan_builds_an_atomic_restore():
    run = recorded({"/usr/sbin/iptables-save -t filter": (0, SAVED, ""),
                    "/usr/sbin/ip6tables-save -t filter": (0, SAVED, "")})
    binaries = _firewall.iptables_binaries(which_all)
    fw = _firewall.Iptables(run, binaries)
    rules, _res = _firewall.desired_rules([{"host": "192.0.2.1", "port": 8080}], owner_uid=33)
    plan = fw.plan(rules)
    scripts, added, removed, after = plan.change, plan.added, plan.removed, plan.after
    assert added == ["ip 192.0.2.1 tcp/8080 uid=33"] and removed == [] and after == added
    assert scripts["ip"] == [
        "*filter", ":OCSP-STAPLING - [0:0]", '-I OUTPUT 1 -m comment --comment "ocsp.stapling jump" -j OCSP-STAPLING',
        '-A OCSP-STAPLING -d 192.0.2.1 -p tcp -m tcp --dport 8080 -m owner --uid-owner 33 -m comment '
        '--comment "ocsp.stapling ip 192.0.2.1 tcp/8080 uid=33" -j ACCEPT', "COMMIT"]
    # The ip6 table gets our (empty) chain and jump, so later IPv6 endpoints need no new jump.
    assert scripts["ip6"][:3] == ["*filter", ":OCSP-STAPLING - [0:0]",
                                  '-I OUTPUT 1 -m comment --comment "ocsp.stapling jump" -j OCSP-STAPLING']
    fw.apply(plan)
    assert [c[0] for c in run.calls[-2:]] == [["/usr/sbin/iptables-restore", "--noflush"],
                                              ["/usr/sbin/ip6tables-restore", "--noflush"]]
