"""The report filters: one host's report from recorded results, the fleet document, the egress rollback set."""

import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.filter.egress_rollback_endpoints import egress_rollback_endpoints
from ansible_collections.ocsp.stapling.plugins.filter.stapling_fleet_report import stapling_fleet_report
from ansible_collections.ocsp.stapling.plugins.plugin_utils._summary import SCHEMA
from ansible_collections.ocsp.stapling.plugins.filter.stapling_host_report import stapling_host_report
from ansible_collections.ocsp.stapling.plugins.filter.stapling_plan import stapling_plan

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def lab():
    with open(os.path.join(UNIT, "fixtures", "plan", "lab_debian.json")) as f:
        return json.load(f)


def staple_result(target, valid=True):
    return dict(target, stapled=valid, valid=valid, cert_status="good" if valid else None,
                this_update="2026-12-02T19:00:00Z", next_update="2026-12-02T20:00:00Z", age=60,
                signer="issuer" if valid else None,
                errors=[] if valid else [{"code": "no_staple", "msg": "no staple in 5 handshakes"}])


def test_host_report_per_vhost(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    staples = {"results": [staple_result(t, valid=(t["sni"] != "second-issuer.lab.test")) for t in plan["targets"]]}
    config = {"changed": True, "transaction": "20261202T195000-abc", "reload": "graceful",
              "vhosts": [dict(v, action="added", reason=None) for v in plan["vhosts"]], "files": [], "problems": []}
    report = stapling_host_report(lab["apache_info"], plan=plan, config=config, staples=staples,
                                  reload={"mode": "graceful", "downtime": None, "changed": True},
                                  egress={"skipped": True})
    assert report["status"] == "changed" and report["transaction"] == "20261202T195000-abc"
    assert report["apache"]["version"] == "2.4.71" and report["openssl"]["mod_ssl_version"] == "3.0.19"
    assert report["firewall"] is None and report["reload"] == "graceful"
    v = {x["server_name"]: x for x in report["vhosts"]}
    assert v["good.lab.test"]["staple"]["valid"] is True and v["good.lab.test"]["staple"]["signer"] == "issuer"
    assert v["second-issuer.lab.test"]["staple"]["last_error"] == "no staple in 5 handshakes"
    assert v["no-uri.lab.test"]["staple"]["checked"] is False
    assert v["no-uri.lab.test"]["certificate"]["ocsp_uri_present"] is False
    assert v["must-staple.lab.test"]["certificate"]["must_staple"] is True
    assert v["good.lab.test"]["certificate"]["serial"] and v["good.lab.test"]["certificate"]["not_after"]
    assert v["good.lab.test"]["changed"] is True and v["good.lab.test"]["decision"] == "staple"


def test_check_mode_changes_are_drift_and_failures_say_rolled_back(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    drift = stapling_host_report(lab["apache_info"], plan=plan, config={"changed": True}, check_mode=True)
    assert drift["status"] == "drift" and drift["drift"] is True
    clean = stapling_host_report(lab["apache_info"], plan=plan, config={"changed": False}, check_mode=True)
    assert clean["status"] == "ok" and clean["drift"] is False
    failed = stapling_host_report(lab["apache_info"], plan=plan, rolled_back=True,
                                  failure={"task": "verify", "msg": "no staple"})
    assert failed["status"] == "rolled_back" and failed["rolled_back"] is True


def test_fleet_report(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    one = stapling_host_report(lab["apache_info"], plan=plan, config={"changed": False})
    doc = stapling_fleet_report({"web1": one, "web2": None, "web3": one}, "rollout", "2026-12-02T20:00:00Z",
                                failed_hosts=["web3"], unreachable_hosts=[])
    assert doc["schema"] == SCHEMA and doc["playbook"] == "rollout"
    assert doc["hosts"]["web1"]["host"] == "web1" and doc["hosts"]["web1"]["status"] == "ok"
    assert doc["hosts"]["web2"]["status"] == "no_report"
    assert doc["hosts"]["web3"]["status"] == "failed"
    assert doc["totals"]["hosts"] == 3 and doc["totals"]["ok"] == 1 and doc["totals"]["failed"] == 1
    json.dumps(doc)
    with pytest.raises(AnsibleFilterError, match="dict of inventory host name"):
        stapling_fleet_report([one], "rollout", "x")


def test_egress_rollback_keeps_only_the_rules_from_before():
    result = {"rules": [{"family": "ip", "address": "192.0.2.1", "port": 80, "protocol": "tcp", "uid": None},
                        {"family": "ip", "address": "192.0.2.2", "port": 80, "protocol": "tcp", "uid": 33}],
              "added": ["ip 192.0.2.2 tcp/80 uid=33"]}
    assert egress_rollback_endpoints(result) == [{"host": "192.0.2.1", "port": 80}]
    result["added"] = ["ip 192.0.2.2 tcp/80"]  # not the same rule: the uid is part of its identity
    assert len(egress_rollback_endpoints(result)) == 2
    with pytest.raises(AnsibleFilterError, match="ocsp_egress"):
        egress_rollback_endpoints(None)


@pytest.mark.parametrize("uid", [None, 33])
def test_rule_identity_is_ocsp_egress_own(uid):
    from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.base import Rule
    rule = Rule("ip6", "2001:db8::1", 8080, uid)
    assert Rule.from_dict(rule.as_dict()).key == rule.key
    other = Rule("ip", "192.0.2.1", 80, uid)
    # a rule this run added is left out; the one that was there before is given back (to be kept by purge)
    result = {"rules": [rule.as_dict(), other.as_dict()], "added": [rule.key]}
    assert egress_rollback_endpoints(result) == [{"host": "192.0.2.1", "port": 80}]


def test_verification_only_report_lists_targets(lab):
    staples = {"results": [dict(staple_result({"host": "127.0.0.1", "port": 443, "sni": "www.example.org"}),
                                must_staple=False, certificate={"subject": "CN=www", "serial": "01",
                                                                "ocsp_uris": ["http://o.example/"]})]}
    report = stapling_host_report(lab["apache_info"], staples=staples)
    assert [(v["server_name"], v["decision"], v["staple"]["valid"], v["certificate"]["ocsp_uri_present"])
            for v in report["vhosts"]] == [("www.example.org", "verify", True, True)]
    assert report["status"] == "ok"


def _documented(section):
    import re
    doc = open(os.path.join(os.path.dirname(os.path.dirname(UNIT)), "docs", "report-schema.md")).read()
    part = doc.split("## `{0}`".format(section), 1)[1].split("\n## ", 1)[0] if section else \
        doc.split("## Document", 1)[1].split("\n## ", 1)[0]
    names = set()
    for cell in re.findall(r"^\| ([^|]+) \|", part, re.M):
        names |= set(re.findall(r"`([a-z_]+)`", cell))
    return names


def test_schema_document_covers_every_field(lab):
    """docs/report-schema.md names every field the filters produce, and no field they do not."""
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    host = stapling_host_report(lab["apache_info"], plan=plan, config={"changed": False})
    doc = stapling_fleet_report({"h": host}, "rollout", "x")
    assert set(doc) == _documented(None)
    assert set(host) == _documented("host")
    assert set(host["vhosts"][0]) == _documented("vhost")


def _documented_values(field):
    """The `code`-quoted values in the vhost table's row for ``field``."""
    import re
    doc = open(os.path.join(os.path.dirname(os.path.dirname(UNIT)), "docs", "report-schema.md")).read()
    part = doc.split("## `vhost`", 1)[1].split("\n## ", 1)[0]
    row = [r for r in part.splitlines() if r.startswith("| `{0}` |".format(field))][0]
    return set(re.findall(r"`([a-z_]+)`", row.split("|")[3]))


def test_schema_document_lists_every_decision_and_code(lab):
    """Every decision and code the plan can give is documented, and the plan gives only those."""
    from ansible_collections.ocsp.stapling.plugins.filter import stapling_plan as plan_module
    assert set(plan_module.DECISIONS) | {"verify"} == _documented_values("decision") - {"code"}
    assert set(plan_module.CODES) | {"verify"} == _documented_values("code")
    facts = json.loads(json.dumps(lab["apache_info"]))
    macro_vhost = dict(facts["vhosts"][0], server_name="made.lab.test", line=99,
                       macro={"name": "vhost", "file": "/etc/apache2/macros.conf", "line": 3})
    facts["vhosts"].append(macro_vhost)
    for state in ("present", "absent"):
        plan = stapling_plan(facts, lab["ocsp_responder_info"], state=state)
        assert {d["decision"] for d in plan["decisions"]} <= set(plan_module.DECISIONS)
        assert {d["code"] for d in plan["decisions"]} <= set(plan_module.CODES)
        made = [d for d in plan["decisions"] if d["server_name"] == "made.lab.test"][0]
        assert made["decision"] == "macro" and made["selected"] is True
        assert "defined by macro vhost at /etc/apache2/macros.conf:3 (Use at {0}:99)".format(made["file"]) in \
            made["reason"]
        assert all(v["server_name"] != "made.lab.test" for v in plan["vhosts"])
        assert all(t["sni"] != "made.lab.test" for t in plan["targets"] + plan["checks"])
    report = stapling_host_report(facts, plan=plan, config={"changed": False})
    assert [v["decision"] for v in report["vhosts"] if v["server_name"] == "made.lab.test"] == ["macro"]
