"""Which firewall the host uses, and the factory of backends."""

import json

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils._firewall import api as _firewall
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.tests.unit.plugins.module_utils._firewall.recorder import recorded, which_all


def test_detect_refuses_to_guess():
    run = recorded({"/usr/sbin/firewall-cmd --state": (0, "running\n", ""),
                    "/usr/sbin/ufw status": (0, "Status: active\n", "")})
    with pytest.raises(StaplingError, match="more than one firewall is active"):
        _firewall.detect(run, which_all)
    run = recorded({"/usr/sbin/firewall-cmd --state": (252, "not running\n", ""),
                    "/usr/sbin/ufw status": (0, "Status: active\n", "")})
    assert _firewall.detect(run, which_all)[0] == "ufw"


def test_make_backend_names_the_missing_tool():
    with pytest.raises(StaplingError, match="backend nftables needs the nft command; install nftables"):
        _firewall.make_backend("nftables", recorded({}), lambda name: None)
    assert isinstance(_firewall.make_backend("ufw", recorded({}), which_all), _firewall.Ufw)
    assert isinstance(_firewall.make_backend("iptables", recorded({}), which_all), _firewall.Iptables)


# --- firewalld: a policy of ours, runtime and permanent -------------------------------------


def test_every_backend_plans_in_one_shape():
    """nftables, iptables, ufw and firewalld: plan() is a Plan whose lines are text (what a diff shows) and whose
    change is what apply() takes; an empty plan applies nothing."""
    from test_nftables import RULESET
    from test_iptables import SAVED
    from test_ufw import UFW_STATUS
    run = recorded({"/usr/sbin/nft -j list ruleset": (0, json.dumps(RULESET), ""),
                    "/usr/sbin/iptables-save -t filter": (0, SAVED, ""),
                    "/usr/sbin/ip6tables-save -t filter": (0, SAVED, ""),
                    "/usr/sbin/ufw status": (0, UFW_STATUS, ""),
                    "/usr/sbin/firewall-cmd --state": (0, "running\n", ""),
                    "/usr/sbin/firewall-cmd --get-policies": (0, "allow-host-ipv6\n", ""),
                    "/usr/sbin/firewall-cmd --permanent --get-policies": (0, "allow-host-ipv6\n", "")})
    rules, _res = _firewall.desired_rules([{"host": "192.0.2.77", "port": 80}])
    for name in ("nftables", "iptables", "ufw", "firewalld"):
        fw = _firewall.make_backend(name, run, which_all)
        plan = fw.plan(rules)
        assert isinstance(plan, _firewall.Plan), name
        assert plan.added == ["ip 192.0.2.77 tcp/80"] and "ip 192.0.2.77 tcp/80" in plan.after, name
        assert plan.lines and all(isinstance(line, str) for line in plan.lines), (name, plan.lines)
        assert any("192.0.2.77" in line for line in plan.lines), (name, plan.lines)
        before = len(run.calls)
        fw.apply(_firewall.Plan(plan.change, [], [], [], plan.after))  # nothing to do: no command
        assert len(run.calls) == before, name


def test_ensure_is_what_the_module_returns():
    """ocsp_egress's result from its parameters: converged (nothing applied, no listing without diff), a change in
    check mode (nothing applied, the diff says what would be), and a bad endpoint (refused, nothing read)."""
    from test_nftables import RULESET
    run = recorded({"/usr/sbin/nft -j list ruleset": (0, json.dumps(RULESET), ""),
                    "/usr/sbin/nft list ruleset": (0, "table inet host {\n  chain ocsp_stapling_egress {\n", "")})
    params = {"endpoints": [{"host": "192.0.2.1", "port": 80}], "backend": "nftables", "state": "present",
              "purge": False, "owner": None, "persist": False, "allowed_networks": []}
    result = _firewall.ensure(params, run, which_all)
    assert result["changed"] is False and result["added"] == [] and result["backend"] == "nftables"
    assert [c[0] for c in run.calls] == [["/usr/sbin/nft", "-j", "list", "ruleset"]]
    params["endpoints"].append({"host": "192.0.2.5", "port": 80})
    result = _firewall.ensure(params, run, which_all, check_mode=True, diff=True)
    assert result["changed"] is True and result["added"] == ["ip 192.0.2.5 tcp/80"]
    assert "# would add rule inet host ocsp_stapling_egress ip daddr 192.0.2.5" in result["diff"]["after"]
    assert not [c for c in run.calls if c[0][1:] == ["-f", "-"]]  # check mode: nothing applied
    params["endpoints"] = [{"host": "169.254.169.254", "port": 80}]
    with pytest.raises(StaplingError, match="link-local") as info:
        _firewall.ensure(params, recorded({}), which_all)
    assert info.value.details["added"] == [] and "backend" not in info.value.details
