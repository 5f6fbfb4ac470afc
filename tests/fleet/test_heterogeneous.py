"""A mixed fleet: default-deny egress with nftables on one host and iptables on another (the responder unreachable
before, exactly it reachable after), a vhost whose chain is missing (a reported per-vhost error), and a host whose
Apache configuration is broken before we start (refused, untouched) while the others proceed, or stop, by the
canary and threshold rules."""

import json

from fleet.testing import config_digests, latest_summary, recap, rollout_vars, run_on_fleet

MIXED = {
    1: {"vhosts": ["good", "no_uri"], "firewall": "nftables"},     # the canary
    2: {"vhosts": ["good", "must_staple"], "firewall": "iptables"},
    3: {"vhosts": ["good", "no_uri"], "broken_config": True},
    4: {"vhosts": ["good", "missing_chain"]},
}


def mixed_profile(index):
    return MIXED.get(index) or {"vhosts": ["good", "no_uri", "must_staple"]}


def egress_rules(host):
    """Our accept rules on the host, as its firewall lists them."""
    if host.profile["firewall"] == "nftables":
        ruleset = json.loads(host.exec(["nft", "-j", "list", "ruleset"]).stdout)["nftables"]
        return [r["rule"] for r in ruleset if "rule" in r and r["rule"]["chain"] == "ocsp_stapling_egress"]
    out = host.exec(["iptables", "-S", "OCSP-STAPLING"], check=False).stdout
    return [line for line in out.splitlines() if line.startswith("-A OCSP-STAPLING")]


def test_mixed_fleet_threshold_lets_the_others_proceed(fleet, tmp_path):
    fleet.reset(mixed_profile)
    responder = (fleet.bridge_address, fleet.state["responder_port"])
    hosts = dict((h.name, h) for h in fleet.hosts)
    walled = [hosts["h01"], hosts["h02"]]
    for h in walled:
        assert not h.can_connect(*responder), h  # default-deny egress: the responder is unreachable
        assert egress_rules(h) == []
    broken = hosts["h03"]
    digests, broken_apache = config_digests(fleet), broken.apache_pids()
    assert broken_apache and broken.exec(["apache2ctl", "configtest"], check=False).returncode != 0

    # Canary h01 alone, then the other five together; one failure in five (20 %) is within 25 %.
    rc, results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path,
                                    rollout_vars(tmp_path, apache_stapling_max_fail_percentage=25))
    assert rc != 0, out[-3000:]  # a host failed
    per_host = recap(out)
    summary = latest_summary(tmp_path)["hosts"]
    assert per_host["h03"]["failed"] == 1 and summary["h03"]["status"] == "failed", summary["h03"]
    assert "configtest" in json.dumps(summary["h03"]["failure"]).lower() or \
        "Syntax error" in json.dumps(summary["h03"]["failure"]), summary["h03"]["failure"]
    # Untouched: its configuration tree byte for byte, the same Apache processes serving.
    assert config_digests(fleet)["h03"] == digests["h03"] and broken.apache_pids() == broken_apache
    for name in ("h01", "h02", "h04", "h05", "h06"):
        if name in hosts:
            assert per_host[name]["failed"] == 0 and summary[name]["status"] == "changed", (name, summary[name])

    for h in walled:
        assert h.can_connect(*responder), h  # opened for the responder ...
        rules = egress_rules(h)
        assert len(rules) == 1 and responder[0] in json.dumps(rules) and str(responder[1]) in json.dumps(rules), rules
        assert not h.can_connect(hosts["h03"].address, 22)  # ... and nothing else
        firewall = summary[h.name]["firewall"]
        assert firewall["backend"] == h.profile["firewall"] and len(firewall["added"]) == 1, firewall
        good = [v for v in summary[h.name]["vhosts"] if v["server_name"] == "good.lab.test"][0]
        assert good["staple"]["valid"] is True

    v = dict((x["server_name"], x) for x in summary["h04"]["vhosts"])
    assert v["missing-chain.lab.test"]["decision"] == "error" and v["missing-chain.lab.test"]["code"] == "missing_issuer"
    assert "chain" in v["missing-chain.lab.test"]["reason"].lower()
    assert v["good.lab.test"]["staple"]["valid"] is True


def test_broken_canary_stops_the_rollout(fleet, tmp_path):
    fleet.reset(lambda i: {"vhosts": ["good", "no_uri"], "broken_config": i == 1})
    for h in fleet.hosts[:2]:  # a host made again keeps no firewall rule of an earlier test (a new namespace)
        assert h.exec(["nft", "list", "ruleset"]).stdout.strip() == ""
        assert h.can_connect(fleet.bridge_address, fleet.state["responder_port"])
    digests = config_digests(fleet)
    rc, results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path))
    assert rc != 0
    assert recap(out)["h01"]["failed"] == 1
    assert not [r for r in results if r["host"] not in ("h01", "localhost")]  # no other host ran a task
    assert config_digests(fleet) == digests  # nothing changed anywhere
    summary = latest_summary(tmp_path)["hosts"]
    assert summary["h01"]["status"] == "failed"
    assert all(summary[h]["status"] == "no_report" for h in summary if h != "h01"), summary
