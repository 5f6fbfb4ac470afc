"""The firewalld backend over recorded firewall-cmd output: the policy of ours, runtime and permanent."""

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils._firewall import api as _firewall
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.tests.unit.plugins.module_utils._firewall.recorder import recorded


RICH_A = 'rule family="ipv4" destination address="192.0.2.1" port port="80" protocol="tcp" accept'

RICH_B = 'rule family="ipv6" destination address="2001:db8::1" port port="80" protocol="tcp" accept'


def firewalld(runtime, permanent):
    """A recorded firewalld: runtime/permanent are lists of rich rules, or None without our policy."""
    fc = "/usr/sbin/firewall-cmd"
    answers = {fc + " --state": (0, "running\n", "")}
    for scope, rules in (("", runtime), (" --permanent", permanent)):
        answers[fc + scope + " --get-policies"] = (0, "allow-host-ipv6" + (" ocsp-stapling" if rules is not None
                                                                           else "") + "\n", "")
        answers[fc + scope + " --policy ocsp-stapling --list-rich-rules"] = (0, "\n".join(rules or []) + "\n", "")
    return _firewall.Firewalld(recorded(answers), fc)


def test_firewalld_rich_rules_round_trip():
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}, {"host": "2001:db8::1"}], resolver=lambda h, p: [h])
    texts = sorted(_firewall.Firewalld.rich(r) for r in rules.values())
    assert texts == [RICH_A, RICH_B]
    assert sorted(_firewall.Firewalld.parse("\n".join(texts + ['rule service name="ssh" accept']))) == sorted(rules)


def test_firewalld_first_run_creates_the_policy_and_reloads_once():
    fw = firewalld(None, None)
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}], resolver=lambda h, p: [h])
    plan = fw.plan(rules)
    commands, added, removed, after = plan.change, plan.added, plan.removed, plan.after
    flat = [" ".join(c[1:]) for c in commands]
    assert flat == ["--permanent --new-policy ocsp-stapling",
                    "--permanent --policy ocsp-stapling --add-ingress-zone HOST",
                    "--permanent --policy ocsp-stapling --add-egress-zone ANY",
                    "--permanent --policy ocsp-stapling --set-priority=-32768",
                    "--permanent --policy ocsp-stapling --add-rich-rule=" + RICH_A,
                    "--reload"]
    assert added == ["ip 192.0.2.1 tcp/80"] and removed == [] and after == added
    assert "reload" in fw.notes[0]


def test_firewalld_converged_plans_nothing_and_purge_edits_both_scopes():
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}], resolver=lambda h, p: [h])
    assert firewalld([RICH_A], [RICH_A]).plan(rules).change == []
    plan = firewalld([RICH_A, RICH_B], [RICH_B]).plan(rules, purge=True)
    commands, added, removed, after = plan.change, plan.added, plan.removed, plan.after
    flat = [" ".join(c[1:]) for c in commands]
    assert flat == ["--permanent --policy ocsp-stapling --remove-rich-rule=" + RICH_B,
                    "--permanent --policy ocsp-stapling --add-rich-rule=" + RICH_A,
                    "--policy ocsp-stapling --remove-rich-rule=" + RICH_B]
    assert removed == ["ip6 2001:db8::1 tcp/80"] and added == [] and after == ["ip 192.0.2.1 tcp/80"]
    # Without purge, ours stay (and the runtime-only one is made permanent too).
    plan = firewalld([RICH_A, RICH_B], [RICH_B]).plan(rules)
    commands, added, removed, after = plan.change, plan.added, plan.removed, plan.after
    assert removed == [] and len(after) == 2


def test_firewalld_absent_and_refusals():
    plan = firewalld([RICH_A], [RICH_A]).plan({}, state="absent")
    commands, added, removed, after = plan.change, plan.added, plan.removed, plan.after
    flat = [" ".join(c[1:]) for c in commands]
    assert flat == ["--permanent --delete-policy ocsp-stapling",
                    "--policy ocsp-stapling --remove-rich-rule=" + RICH_A]
    assert removed == ["ip 192.0.2.1 tcp/80"] and after == [] and added == []
    assert firewalld([], None).plan({}, state="absent").change == []
    owned, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}], owner_uid=33, resolver=lambda h, p: [h])
    with pytest.raises(StaplingError, match="no owner match"):
        firewalld(None, None).plan(owned)
    stopped = _firewall.Firewalld(recorded({"/usr/sbin/firewall-cmd --state": (252, "not running\n", "")}),
                                  "/usr/sbin/firewall-cmd")
    with pytest.raises(StaplingError, match="firewalld is not running"):
        stopped.plan({})


# --- persistence for nftables and iptables ----------------------------------------------------
