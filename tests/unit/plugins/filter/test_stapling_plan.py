"""The plan filter on recorded facts: the lab's real apache_info/ocsp_responder_info results (Debian), and
RHEL 9 / SLES 15 layouts gathered by _apache.gather from the recorded trees."""

import copy
import json
import os
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.filter.stapling_plan import FilterModule, stapling_plan
from ansible_collections.ocsp.stapling.plugins.module_utils import _apache

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(UNIT, "plugins", "module_utils"))
from test__apache import install  # noqa: E402  (the recorded RHEL/SUSE trees and commands)


@pytest.fixture
def lab():
    with open(os.path.join(UNIT, "fixtures", "plan", "lab_debian.json")) as f:
        return json.load(f)


def by_name(plan):
    return {d["server_name"]: d for d in plan["decisions"]}


def test_registered_under_its_name():
    assert FilterModule().filters()["stapling_plan"] is stapling_plan


def test_lab_plan_decides_per_vhost(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    d = by_name(plan)
    assert plan["engine"] == "mod_ssl" and "a2enmod md" in plan["engine_reason"]
    assert {n: x["decision"] for n, x in d.items()} == {
        "good.lab.test": "staple", "revoked.lab.test": "error", "must-staple.lab.test": "staple",
        "second-issuer.lab.test": "staple", "no-uri.lab.test": "no_ocsp_uri", "missing-chain.lab.test": "error"}
    assert d["missing-chain.lab.test"]["code"] == "missing_issuer"
    assert "SSLCertificateChainFile" in d["missing-chain.lab.test"]["reason"]
    assert "AH02217" in d["missing-chain.lab.test"]["reason"]
    assert "Let's Encrypt" in d["no-uri.lab.test"]["reason"]
    # the probe's authentic 'revoked' answer stops that vhost before any change
    assert d["revoked.lab.test"]["code"] == "certificate_revoked" and "replace" in d["revoked.lab.test"]["reason"]
    # no error at host level: a missing chain is per vhost, no URI is normal
    assert plan["errors"] == []
    assert plan["must_staple"] == ["must-staple.lab.test"]
    assert plan["summary"] == {"staple": 3, "no_ocsp_uri": 1, "error": 2}
    # stapling was in force (hand-written lab config) where it cannot work: switched off, not left on
    cfg = {v["server_name"]: v["stapling"] for v in plan["vhosts"]}
    assert cfg["no-uri.lab.test"] == "off" and cfg["missing-chain.lab.test"] == "off" and cfg["good.lab.test"] == "on"
    assert all(set(v) == {"file", "line", "server_name", "stapling"} for v in plan["vhosts"])
    assert any("mod_md" in w for w in plan["warnings"])


def test_lab_targets_and_endpoints(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    ports = {v["server_name"]: int(v["addresses"][0].split(":")[1]) for v in lab["apache_info"]["vhosts"]}
    assert sorted((t["sni"], t["port"]) for t in plan["targets"]) == sorted(
        (n, ports[n]) for n in ("good.lab.test", "must-staple.lab.test", "second-issuer.lab.test"))
    assert all(t["host"] == "127.0.0.1" for t in plan["targets"])
    assert len(plan["checks"]) == 6
    ep = {(e["host"], e["port"]) for e in plan["endpoints"]}
    all_ep = {(e["host"], e["port"]) for e in lab["ocsp_responder_info"]["endpoints"]}
    assert ep == all_ep and len(ep) == 2


def test_endpoints_only_of_planned_vhosts(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], exclude=["second-issuer.*"])
    second = [c for c in lab["ocsp_responder_info"]["certificates"] if c["serial"] and "second" in c["path"]][0]
    port2 = second["endpoints"][0]["port"]
    assert port2 not in [e["port"] for e in plan["endpoints"]] and len(plan["endpoints"]) == 1
    assert by_name(plan)["second-issuer.lab.test"]["decision"] == "excluded"
    assert "second-issuer.lab.test" not in [v["server_name"] for v in plan["vhosts"]]


def test_include_globs_case_insensitive(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], include=["GOOD.*", "revoked.lab.test"])
    assert sorted(v["server_name"] for v in plan["vhosts"]) == ["good.lab.test", "revoked.lab.test"]
    assert plan["summary"]["not_selected"] == 4


def test_jmespath_query_over_vhosts_with_certificate(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], query="[?certificate.must_staple]")
    assert [v["server_name"] for v in plan["vhosts"]] == ["must-staple.lab.test"]
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], query="[].server_name | [?contains(@, 'uri')]")
    assert [v["server_name"] for v in plan["vhosts"]] == ["no-uri.lab.test"]


@pytest.mark.parametrize("query, fragment", [("[?", "not a valid JMESPath"), ("length(@)", "must return a list")])
def test_bad_query_is_a_clear_error(lab, query, fragment):
    with pytest.raises(AnsibleFilterError, match=fragment):
        stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], query=query)


def test_force_url_staples_no_uri_vhosts(lab):
    url = "http://ocsp.example.net/"
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], force_url={"no-uri.*": url})
    d = by_name(plan)["no-uri.lab.test"]
    assert d["decision"] == "staple" and d["code"] == "forced_url"
    item = [v for v in plan["vhosts"] if v["server_name"] == "no-uri.lab.test"][0]
    assert item["force_url"] == url and item["stapling"] == "on"
    assert ("ocsp.example.net", 80) in [(e["host"], e["port"]) for e in plan["endpoints"]]
    # a dict only applies to the names it matches
    assert by_name(plan)["good.lab.test"]["force_url"] is None
    with pytest.raises(AnsibleFilterError, match="http://"):
        stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], force_url="https://ocsp.example.net/")


def test_without_probe_a_revoked_certificate_is_planned_and_left_to_verification(lab):
    responder = copy.deepcopy(lab["ocsp_responder_info"])
    for cert in responder["certificates"]:
        cert.pop("probe", None)
    assert by_name(stapling_plan(lab["apache_info"], responder))["revoked.lab.test"]["decision"] == "staple"


def test_must_staple_that_cannot_be_stapled_stops_the_host(lab):
    responder = copy.deepcopy(lab["ocsp_responder_info"])
    for cert in responder["certificates"]:
        if cert["must_staple"]:
            cert["issuer_found"] = False
    plan = stapling_plan(lab["apache_info"], responder)
    assert [e["code"] for e in plan["errors"]] == ["must_staple_unmet"]
    assert "must-staple.lab.test" in plan["errors"][0]["msg"]


def test_engine_auto_prefers_mod_md_when_available_and_allowed(lab):
    facts = copy.deepcopy(lab["apache_info"])
    facts["capabilities"]["mod_md_stapling"] = {"ok": True, "reason": None}
    assert stapling_plan(facts, lab["ocsp_responder_info"])["engine"] == "mod_md"
    assert stapling_plan(facts, lab["ocsp_responder_info"], allow_mod_md=False)["engine"] == "mod_ssl"
    assert stapling_plan(facts, lab["ocsp_responder_info"], engine="mod_ssl")["engine"] == "mod_ssl"
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], engine="mod_md")
    assert [e["code"] for e in plan["errors"]] == ["engine_unavailable"] and "a2enmod md" in plan["errors"][0]["msg"]


def test_gate_refuses_broken_or_incapable_hosts(lab):
    facts = copy.deepcopy(lab["apache_info"])
    facts["problems"] = [{"code": "configtest_failed", "severity": "error", "msg": "AH00526: Syntax error"}]
    facts["capabilities"]["mod_ssl_stapling"] = {"ok": False, "reason": "Apache 2.2.34 is older than 2.3.3"}
    facts["apache"]["socache_shmcb_module"] = False  # not a refusal: the config module loads it
    codes = [e["code"] for e in stapling_plan(facts, lab["ocsp_responder_info"])["errors"]]
    assert codes == ["cannot_staple", "configtest_failed"]


def test_misplaced_cache_is_a_refusal_unless_the_change_fixes_it(lab):
    facts = copy.deepcopy(lab["apache_info"])
    facts["problems"] = [
        {"code": "cache_in_vhost", "severity": "error", "file": "/x/good.conf", "line": 7, "msg": "SSLStaplingCache..."},
        {"code": "configtest_failed", "severity": "error", "file": None, "line": None, "msg": "AH00526"}]
    errors = stapling_plan(facts, lab["ocsp_responder_info"])["errors"]
    assert [e["code"] for e in errors] == ["configtest_failed"]
    assert "/x/good.conf line 7" in errors[0]["msg"] and "apache_stapling_fix_misplaced_cache" in errors[0]["msg"]
    assert stapling_plan(facts, lab["ocsp_responder_info"], fix_misplaced_cache=True)["errors"] == []


def test_state_absent_plans_removal_of_selected(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], state="absent", exclude=["good.*"])
    assert {v["stapling"] for v in plan["vhosts"]} == {"absent"} and len(plan["vhosts"]) == 5
    assert plan["targets"] == [] and plan["endpoints"] == []


def test_non_tls_vhosts_are_ignored(lab):
    facts = copy.deepcopy(lab["apache_info"])
    plain = dict(facts["vhosts"][0], tls=False, server_name="plain.lab.test", file="/x/plain.conf")
    facts["vhosts"].append(plain)
    assert "plain.lab.test" not in by_name(stapling_plan(facts, lab["ocsp_responder_info"]))


@pytest.mark.parametrize("args, fragment", [
    (({}, {"certificates": []}), "apache_info"),
    (({"vhosts": []}, {}), "ocsp_responder_info"),
])
def test_wrong_inputs_name_themselves(args, fragment):
    with pytest.raises(AnsibleFilterError, match=fragment):
        stapling_plan(*args)


def test_string_bool_is_refused_with_the_fix(lab):
    with pytest.raises(AnsibleFilterError, match=r"\| bool"):
        stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], allow_mod_md="false")


def _responder_for(facts, **cert):
    """Responder facts for recorded layouts whose certificate files are not on this machine."""
    certs = []
    for v in facts["vhosts"]:
        if not v["tls"]:
            continue
        entry = {"path": v["certificate_file"], "error": None, "expired": False, "has_ocsp_uri": True,
                 "ocsp_uris": ["http://r3.o.example.net"], "issuer_found": True, "issuer_source": "chain_path",
                 "issuer": "CN=Example CA", "must_staple": False, "subject": "CN=" + str(v["server_name"]),
                 "serial": "01", "not_after": "2027-01-01T00:00:00Z", "fingerprint_sha256": "AA", "reason": None,
                 "endpoints": [{"uri": "http://r3.o.example.net", "host": "r3.o.example.net", "port": 80,
                                "addresses": ["192.0.2.7"], "error": None, "resolve_error": None}],
                 "vhosts": [{"file": v["file"], "line": v["line"], "server_name": v["server_name"]}]}
        entry.update(cert)
        certs.append(entry)
    return {"certificates": certs, "endpoints": []}


def test_rhel9_layout(tmp_path):
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    plan = stapling_plan(facts, _responder_for(facts))
    d = by_name(plan)
    # ssl.conf's _default_:443 vhost has no ServerName; www.example.org on *:443: both wildcards -> loopback
    assert {(t["host"], t["port"], t["sni"]) for t in plan["checks"]} == {
        ("127.0.0.1", 443, "127.0.0.1"), ("127.0.0.1", 443, "www.example.org")}
    assert d["www.example.org"]["decision"] == "staple" and d[None]["decision"] == "staple"
    assert plan["endpoints"] == [{"host": "r3.o.example.net", "port": 80, "protocol": "tcp",
                                  "addresses": ["192.0.2.7"], "resolve_error": None, "uris": ["http://r3.o.example.net"]}]
    # a name glob never matches the unnamed vhost; '*' does
    assert [v["server_name"] for v in stapling_plan(facts, _responder_for(facts), include=["*.org"])["vhosts"]] == [
        "www.example.org"]
    assert len(stapling_plan(facts, _responder_for(facts), include=["*"])["vhosts"]) == 2
    again = stapling_plan(facts, _responder_for(facts), check_host="192.0.2.10")
    assert {t["host"] for t in again["targets"]} == {"192.0.2.10"}


def test_suse15_layout_no_uri_everywhere(tmp_path):
    root, run = install("suse15", tmp_path, "apache2")
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, config_file="httpd.conf", defines=["SSL"])
    plan = stapling_plan(facts, _responder_for(facts, has_ocsp_uri=False, ocsp_uris=[], endpoints=[]))
    assert [(d["server_name"], d["decision"]) for d in plan["decisions"]] == [("shop.example.com", "no_ocsp_uri")]
    # SUSE's vhost has SSLUseStapling on: switched off so Apache stops logging AH02218 on every start
    assert plan["vhosts"][0]["stapling"] == "off" and plan["endpoints"] == [] and plan["errors"] == []


def test_stapling_targets_for_verify(lab, tmp_path):
    from ansible_collections.ocsp.stapling.plugins.filter.stapling_targets import stapling_targets
    facts = copy.deepcopy(lab["apache_info"])
    facts["vhosts"][0]["stapling"]["enabled"] = False
    got = stapling_targets(facts)
    assert len(got) == 5 and facts["vhosts"][0]["server_name"] not in [t["sni"] for t in got]
    assert len(stapling_targets(facts, all_tls=True)) == 6
    root, run = install("rhel9", tmp_path)
    rhel = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    assert stapling_targets(rhel, check_host="10.0.0.5") == [{"host": "10.0.0.5", "port": 443, "sni": "www.example.org"}]


def _good_cert(lab):
    return [c for c in lab["ocsp_responder_info"]["certificates"] if c["path"].endswith("/good.crt")][0]


def test_egress_goes_only_where_mod_ssl_asks(lab):
    """Issue 24 #2: every usable OCSP URI of a stapled vhost's certificate was opened; mod_ssl asks only the first."""
    good = _good_cert(lab)
    first = good["endpoints"][0]
    good["ocsp_uris"] += ["http://169.254.169.254/", "http://10.1.2.3:22/"]
    good["endpoints"] += [dict(first, uri="http://169.254.169.254/", host="169.254.169.254", port=80, addresses=[]),
                          dict(first, uri="http://10.1.2.3:22/", host="10.1.2.3", port=22, addresses=[])]
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    assert by_name(plan)["good.lab.test"]["decision"] == "staple"
    hosts = sorted((e["host"], e["port"]) for e in plan["endpoints"])
    assert ("169.254.169.254", 80) not in hosts and ("10.1.2.3", 22) not in hosts and len(hosts) == 2


def test_a_refused_destination_is_that_vhosts_error(lab):
    good = _good_cert(lab)
    good["endpoints"][0].update(uri="http://169.254.169.254/", host="169.254.169.254", port=80,
                                addresses=["169.254.169.254"])
    good["ocsp_uris"][0] = "http://169.254.169.254/"
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    d = by_name(plan)["good.lab.test"]
    assert d["decision"] == "error" and d["code"] == "refused_destination", d
    assert "link-local" in d["reason"] and "http://169.254.169.254/" in d["reason"]
    assert ("169.254.169.254", 80) not in [(e["host"], e["port"]) for e in plan["endpoints"]]
    assert by_name(plan)["must-staple.lab.test"]["decision"] == "staple"  # the others are still planned


def test_allowed_networks_refuse_every_other_destination(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], allowed_networks=["10.0.0.0/8"])
    refused = [d for d in plan["decisions"] if d["code"] == "refused_destination"]
    assert len(refused) == 3 and plan["endpoints"] == [] and plan["targets"] == []
    assert all("outside the networks egress is allowed to (10.0.0.0/8)" in d["reason"] for d in refused)
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], allowed_networks=["127.0.0.0/8"])
    assert plan["summary"]["staple"] == 3
    with pytest.raises(AnsibleFilterError, match="'127.0.0.1/8' is not a network"):
        stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], allowed_networks=["127.0.0.1/8"])
    with pytest.raises(AnsibleFilterError, match="a list of networks"):
        stapling_plan(lab["apache_info"], lab["ocsp_responder_info"], allowed_networks="10.0.0.0/8")


def test_a_forced_url_to_a_refused_destination_is_an_error(lab):
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"],
                         force_url={"no-uri.*": "http://169.254.169.254/latest/"})
    d = by_name(plan)["no-uri.lab.test"]
    assert d["code"] == "refused_destination" and "link-local" in d["reason"], d
    assert [v for v in plan["vhosts"] if v["server_name"] == "no-uri.lab.test"][0]["stapling"] != "on"


def test_the_vhosts_own_force_url_is_the_destination(lab):
    vhost = [v for v in lab["apache_info"]["vhosts"] if v.get("server_name") == "good.lab.test"][0]
    vhost.setdefault("stapling", {}).setdefault("directives", {})["SSLStaplingForceURL"] = "http://10.9.9.9:8080/ocsp"
    plan = stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])
    assert by_name(plan)["good.lab.test"]["decision"] == "staple"
    assert ("10.9.9.9", 8080) in [(e["host"], e["port"]) for e in plan["endpoints"]]
    # the operator's own directive: not written again by us
    assert "force_url" not in [v for v in plan["vhosts"] if v["server_name"] == "good.lab.test"][0]
    vhost["stapling"]["directives"]["SSLStaplingForceURL"] = "http://[fe80::1]/"
    assert by_name(stapling_plan(lab["apache_info"], lab["ocsp_responder_info"]))["good.lab.test"]["code"] == \
        "refused_destination"
