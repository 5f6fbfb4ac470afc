"""Egress planning over recorded command output: rule identity, bad input, detection, nft/iptables plans."""

import json

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils import _firewall
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError


def test_rule_keys_round_trip():
    rule = _firewall.Rule("ip6", "2001:db8::1", 8080, 33)
    assert rule.key == "ip6 2001:db8::1 tcp/8080 uid=33"
    back = _firewall.Rule.from_key(rule.key)
    assert (back.family, back.address, back.port, back.uid) == ("ip6", "2001:db8::1", 8080, 33)


def test_desired_rules_resolve_every_address():
    rules, resolved = _firewall.desired_rules(
        [{"host": "ocsp.example.org", "port": 80}, {"host": "[2001:db8::7]", "port": 8888}],
        resolver=lambda host, port: ["192.0.2.1", "2001:db8::1"] if host == "ocsp.example.org" else
        _firewall._resolve(host, port))
    assert sorted(rules) == ["ip 192.0.2.1 tcp/80", "ip6 2001:db8::1 tcp/80", "ip6 2001:db8::7 tcp/8888"]
    assert resolved[1]["addresses"] == ["2001:db8::7"]


@pytest.mark.parametrize("endpoint, fragment", [
    ({"port": 80}, "has no host"),
    ({"host": "x", "port": "http"}, "not a number"),
    ({"host": "x", "port": 70000}, "outside 1-65535"),
    ({"host": "x", "protocol": "udp"}, "TCP only"),
])
def test_bad_endpoints(endpoint, fragment):
    with pytest.raises(StaplingError, match=fragment):
        _firewall.desired_rules([endpoint], resolver=lambda h, p: ["192.0.2.1"])


def recorded(outputs):
    calls = []

    def run(argv, data=None):
        calls.append((argv, data))
        for prefix, answer in outputs.items():
            if " ".join(argv).startswith(prefix):
                return answer
        return 0, "", ""
    run.calls = calls
    return run


def which_all(name):
    return "/usr/sbin/" + name


def test_detect_refuses_to_guess():
    run = recorded({"/usr/sbin/firewall-cmd --state": (0, "running\n", ""),
                    "/usr/sbin/ufw status": (0, "Status: active\n", "")})
    with pytest.raises(StaplingError, match="more than one firewall is active"):
        _firewall.detect(run, which_all)
    run = recorded({"/usr/sbin/firewall-cmd --state": (252, "not running\n", ""),
                    "/usr/sbin/ufw status": (0, "Status: active\n", "")})
    assert _firewall.detect(run, which_all)[0] == "ufw"


RULESET = {"nftables": [
    {"metainfo": {"json_schema_version": 1}},
    {"table": {"family": "inet", "name": "host", "handle": 1}},
    {"chain": {"family": "inet", "table": "host", "name": "output", "handle": 1, "type": "filter", "hook": "output",
               "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "host", "name": "ocsp_stapling_egress", "handle": 5}},
    {"rule": {"family": "inet", "table": "host", "chain": "output", "handle": 6, "comment": "ocsp.stapling jump",
              "expr": []}},
    {"rule": {"family": "inet", "table": "host", "chain": "ocsp_stapling_egress", "handle": 7,
              "comment": "ocsp.stapling ip 192.0.2.1 tcp/80", "expr": []}},
    {"rule": {"family": "inet", "table": "host", "chain": "ocsp_stapling_egress", "handle": 8,
              "comment": "ocsp.stapling ip 192.0.2.9 tcp/80", "expr": []}},
]}


def test_nft_plan_adds_missing_and_purges_stale():
    run = recorded({"/usr/sbin/nft -j list ruleset": (0, json.dumps(RULESET), "")})
    assert _firewall.detect(run, lambda n: "/usr/sbin/nft" if n == "nft" else None)[0] == "nftables"
    fw = _firewall.Nftables(run, "/usr/sbin/nft")
    rules, _res = _firewall.desired_rules([{"host": "192.0.2.1"}, {"host": "2001:db8::1"}])
    lines, added, removed, after = fw.plan(rules, purge=True)
    assert added == ["ip6 2001:db8::1 tcp/80"] and removed == ["ip 192.0.2.9 tcp/80"]
    assert lines == ['add rule inet host ocsp_stapling_egress ip6 daddr 2001:db8::1 tcp dport 80 accept '
                     'comment "ocsp.stapling ip6 2001:db8::1 tcp/80"',
                     "delete rule inet host ocsp_stapling_egress handle 8"]
    assert after == ["ip 192.0.2.1 tcp/80", "ip6 2001:db8::1 tcp/80"]
    # Without purge the stale rule stays, and nothing else changes when all is there.
    lines, added, removed, after = fw.plan({k: r for k, r in rules.items() if r.family == "ip"})
    assert lines == [] and removed == [] and "ip 192.0.2.9 tcp/80" in after


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
    scripts, added, removed, after = fw.plan(rules)
    assert added == ["ip 192.0.2.1 tcp/8080 uid=33"] and removed == []
    assert scripts["ip"] == [
        "*filter", ":OCSP-STAPLING - [0:0]", '-I OUTPUT 1 -m comment --comment "ocsp.stapling jump" -j OCSP-STAPLING',
        '-A OCSP-STAPLING -d 192.0.2.1 -p tcp -m tcp --dport 8080 -m owner --uid-owner 33 -m comment '
        '--comment "ocsp.stapling ip 192.0.2.1 tcp/8080 uid=33" -j ACCEPT', "COMMIT"]
    # The ip6 table gets our (empty) chain and jump, so later IPv6 endpoints need no new jump.
    assert scripts["ip6"][:3] == ["*filter", ":OCSP-STAPLING - [0:0]",
                                  '-I OUTPUT 1 -m comment --comment "ocsp.stapling jump" -j OCSP-STAPLING']
    fw.apply(scripts)
    assert [c[0] for c in run.calls[-2:]] == [["/usr/sbin/iptables-restore", "--noflush"],
                                              ["/usr/sbin/ip6tables-restore", "--noflush"]]


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
    commands, added, removed, after = fw.plan(rules, purge=True)
    assert added == ["ip 192.0.2.2 tcp/8080"] and removed == ["ip 192.0.2.9 tcp/80"]
    assert commands == [
        ["/usr/sbin/ufw", "allow", "out", "proto", "tcp", "to", "192.0.2.2", "port", "8080", "comment",
         "ocsp.stapling ip 192.0.2.2 tcp/8080"],
        ["/usr/sbin/ufw", "delete", "allow", "out", "proto", "tcp", "to", "192.0.2.9", "port", "80"]]
    with pytest.raises(StaplingError, match="no owner match"):
        fw.plan(_firewall.desired_rules([{"host": "192.0.2.1"}], owner_uid=33)[0])
    inactive = _firewall.Ufw(recorded({"/usr/sbin/ufw status": (0, "Status: inactive\n", "")}), "/usr/sbin/ufw")
    with pytest.raises(StaplingError, match="not active"):
        inactive.plan(rules)


def test_make_backend_names_the_missing_tool():
    with pytest.raises(StaplingError, match="backend nftables needs the nft command; install nftables"):
        _firewall.make_backend("nftables", recorded({}), lambda name: None)
    assert isinstance(_firewall.make_backend("ufw", recorded({}), which_all), _firewall.Ufw)
    assert isinstance(_firewall.make_backend("iptables", recorded({}), which_all), _firewall.Iptables)
