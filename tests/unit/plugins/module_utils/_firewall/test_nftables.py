"""The nftables backend over a recorded ruleset: plan (one shape), purge."""

import json

from ansible_collections.ocsp.stapling.plugins.module_utils._firewall import api as _firewall
from ansible_collections.ocsp.stapling.tests.unit.plugins.module_utils._firewall.recorder import recorded


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
    plan = fw.plan(rules, purge=True)
    lines, added, removed, after = plan.change, plan.added, plan.removed, plan.after
    assert added == ["ip6 2001:db8::1 tcp/80"] and removed == ["ip 192.0.2.9 tcp/80"]
    assert lines == ['add rule inet host ocsp_stapling_egress ip6 daddr 2001:db8::1 tcp dport 80 accept '
                     'comment "ocsp.stapling ip6 2001:db8::1 tcp/80"',
                     "delete rule inet host ocsp_stapling_egress handle 8"]
    assert after == ["ip 192.0.2.1 tcp/80", "ip6 2001:db8::1 tcp/80"]
    # Without purge the stale rule stays, and nothing else changes when all is there.
    plan = fw.plan({k: r for k, r in rules.items() if r.family == "ip"})
    lines, added, removed, after = plan.change, plan.added, plan.removed, plan.after
    assert lines == [] and removed == [] and "ip 192.0.2.9 tcp/80" in after
