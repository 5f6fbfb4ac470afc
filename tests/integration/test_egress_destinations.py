"""Egress and the probe go only where mod_ssl goes (issue 24 #2), through ansible-playbook on a real Apache tree.

A certificate decides where the web server connects for OCSP. Before: a leaf with the OCSP URIs
http://127.0.0.1:N/, http://169.254.169.254/ and http://10.1.2.3:22/ was judged stapleable and the plan opened all
three. Now: only the first (mod_ssl asks X509_get1_ocsp's first entry), a link-local first URI (or forced URL) is that
vhost's error, and apache_stapling_egress_allowed_networks restricts the rest. ocsp_egress refuses such destinations
itself (tests/integration/test_ocsp_egress.py)."""

import json

import pytest

from lab import STAPLING_GLOBAL, FaultResponder

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    networks: {networks}
  tasks:
    - name: facts
      ocsp.stapling.apache_info:
        server_root: {confdir}
      register: apache_facts
    - name: responders
      ocsp.stapling.ocsp_responder_info:
        vhosts: "{{{{ apache_facts.vhosts | selectattr('tls') | list }}}}"
        probe: true
        timeout: 3
        allowed_networks: "{{{{ networks }}}}"
        fail_on_error: false
      register: responder_facts
    - name: plan
      ansible.builtin.set_fact:
        plan: "{{{{ apache_facts | ocsp.stapling.stapling_plan(responder_facts, allowed_networks=networks) }}}}"
    - name: show
      ansible.builtin.debug:
        var: plan
"""


def run(run_playbook, confdir, networks):
    rc, results, output = run_playbook(PLAY.format(confdir=confdir, networks=json.dumps(networks)))
    assert rc == 0, output[-3000:]
    responders = [r for r in results if r["task"] == "responders"][0]["result"]
    plan = [r for r in results if r["task"] == "show"][0]["result"]["plan"]
    return responders, plan


@pytest.fixture
def responder(lab, tmp_path):
    """The lab's fault responder, started after the test's leaves exist (it loads the PKI when it starts)."""
    responder = FaultResponder(lab.pki.directory, str(tmp_path))
    try:
        yield responder
    finally:
        responder.stop()


def test_egress_and_probe_only_where_mod_ssl_asks(run_playbook, apache_sandbox, lab, responder):
    pki = lab.pki
    three = pki.issue_leaf("dest_three", ocsp_uris=[responder.url("good"), "http://169.254.169.254/",
                                                    "http://10.1.2.3:22/"])
    metadata = pki.issue_leaf("dest_metadata", ocsp_uris=["http://169.254.169.254/latest/meta-data/"])
    forced = pki.issue_leaf("dest_forced", ocsp_uris=[responder.url("good")])
    responder.start()
    fault_responder = responder
    apache_sandbox.set_global(STAPLING_GLOBAL)
    for name, leaf, extra in (("three", three, []), ("metadata", metadata, []),
                              ("forced", forced, ["SSLStaplingForceURL http://[fe80::1]:8080/ocsp"])):
        apache_sandbox.add_vhost(name, leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                                 server_name=leaf.server_name, directives=["SSLUseStapling on"] + extra)
    ok, out = apache_sandbox.configtest()
    assert ok, out  # Apache itself accepts all three

    responders, plan = run(run_playbook, apache_sandbox.confdir, [])
    certs = {c["vhosts"][0]["server_name"]: c for c in responders["certificates"]}
    decisions = {d["server_name"]: d for d in plan["decisions"]}
    # the first URI only: one endpoint, one probe (the lab responder counted exactly one request)
    assert [(e["host"], e["port"]) for e in plan["endpoints"]] == [("127.0.0.1", fault_responder.port)], plan
    assert [(e["host"], e["port"]) for e in responders["endpoints"]] == [("127.0.0.1", fault_responder.port)]
    assert certs[three.server_name]["probe"]["ok"] is True, certs[three.server_name]["probe"]["errors"]
    assert [e["asked"] for e in certs[three.server_name]["endpoints"]] == [True, False, False]
    assert fault_responder.stats()["requests"] == 1
    assert decisions[three.server_name]["decision"] == "staple"
    # a link-local first URI, and a link-local forced URL: that vhost's error, never asked
    for name, word in ((metadata.server_name, "169.254.169.254"), (forced.server_name, "fe80::1")):
        d = decisions[name]
        assert d["decision"] == "error" and d["code"] == "refused_destination", d
        assert word in d["reason"] and "link-local" in d["reason"]
        assert certs[name]["probe"]["error"]["code"] == "refused_destination", certs[name]["probe"]
    assert [t["sni"] for t in plan["targets"]] == [three.server_name]

    # the operator's networks: the lab's responder on 127.0.0.1 is outside 10.0.0.0/8, so nothing is asked or opened
    responders, plan = run(run_playbook, apache_sandbox.confdir, ["10.0.0.0/8"])
    assert plan["endpoints"] == [] and responders["endpoints"] == []
    assert {d["code"] for d in plan["decisions"]} == {"refused_destination"}
    assert "outside the networks egress is allowed to (10.0.0.0/8)" in [
        d for d in plan["decisions"] if d["server_name"] == three.server_name][0]["reason"]
    assert fault_responder.stats()["requests"] == 1  # no probe went out
