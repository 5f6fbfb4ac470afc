"""ocsp.stapling.ocsp_responder_info through ansible-playbook, against the lab's real responders."""

import subprocess

import pytest

from lab import FaultResponder
from lab.procs import free_port

MODULE = "ocsp.stapling.ocsp_responder_info"

PROBE_CASES = [
    # mode, ok, error code, extra expectations
    ("good", True, None, {"cert_status": "good", "signer": "issuer", "http_status": 200}),
    ("delegated", True, None, {"signer": "delegated"}),
    ("revoked", False, "revoked", {"cert_status": "revoked", "authentic": True}),
    ("unknown", False, "unknown", {"cert_status": "unknown"}),
    ("trylater", False, "try_later", {"response_status": "try_later"}),
    ("unauthorized", False, "unauthorized", {}),
    ("garbage", False, "not_ocsp", {}),
    ("http500", False, "http_status", {"http_status": 500}),
    ("down", False, "connection_failed", {}),
    ("hang", False, "timeout", {}),
    ("wrong_signer", False, "signer_not_authorized", {"authentic": False}),
    ("delegated_no_eku", False, "signer_not_authorized", {}),
    ("expired", False, "expired", {}),
    ("future", False, "not_yet_valid", {}),
    ("wrong_serial", False, "wrong_certificate", {}),
]


@pytest.fixture(scope="module")
def probe_lab(lab, tmp_path_factory):
    """One leaf per fault mode, each naming its mode's URL, and a responder that knows them all."""
    responder = FaultResponder(lab.pki.directory, str(tmp_path_factory.mktemp("responder")))
    leaves = {mode: lab.pki.issue_leaf("probe_" + mode, ocsp_uris=[responder.url(mode)]) for mode in (case[0] for case in PROBE_CASES)}
    leaves["refused"] = lab.pki.issue_leaf("probe_refused", ocsp_uris=["http://127.0.0.1:{0}/".format(free_port())])
    responder.start()
    try:
        yield leaves
    finally:
        responder.stop()


def test_probe_names_every_failure_mode(run_module, probe_lab):
    order = [case[0] for case in PROBE_CASES] + ["refused"]
    result = run_module(MODULE, {"certificates": [probe_lab[m].fullchain_path for m in order],
                                 "probe": True, "timeout": 1})
    assert not result["failed"], result["_output"]
    assert result["changed"] is False
    probes = {mode: cert["probe"] for mode, cert in zip(order, result["certificates"])}
    for mode, ok, code, extra in PROBE_CASES:
        probe = probes[mode]
        assert probe["ok"] is ok, (mode, probe)
        assert (probe["error"] or {}).get("code") == code, (mode, probe)
        for key, value in extra.items():
            assert probe[key] == value, (mode, key, probe)
    assert probes["refused"]["error"]["code"] == "connection_refused", probes["refused"]
    assert probes["good"]["method"] == "GET" and probes["good"]["latency_ms"] < 5000


@pytest.mark.core_matrix
def test_facts_agree_with_openssl(run_module, lab):
    names = ["good", "no_uri", "must_staple", "second_issuer", "expired"]
    result = run_module(MODULE, {"certificates": [{"path": lab.pki.certs[n].cert_path,
                                                   "chain_path": lab.pki.certs[n].chain_path} for n in names]},
                        check=True)
    assert not result["failed"], result["_output"]
    for name, cert in zip(names, result["certificates"]):
        oracle = subprocess.run(["openssl", "x509", "-noout", "-ocsp_uri", "-serial", "-in", lab.pki.certs[name].cert_path],
                                stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split("\n")
        uris = [line for line in oracle if line.startswith("http")]
        serial = [line.split("=", 1)[1] for line in oracle if line.startswith("serial=")][0]
        assert cert["ocsp_uris"] == uris, (name, cert, oracle)
        assert cert["serial"].lstrip("0") == serial.lstrip("0"), (name, cert["serial"], serial)
        assert cert["issuer_found"] is True and cert["issuer_source"] == "chain_path"
    verdict = {n: (c["stapleable"], c["must_staple"]) for n, c in zip(names, result["certificates"])}
    assert verdict == {"good": (True, False), "no_uri": (False, False), "must_staple": (True, True),
                       "second_issuer": (True, False), "expired": (False, False)}
    # The lab's two responders, each once, resolved on this host.
    ports = sorted(e["port"] for e in result["endpoints"])
    assert ports == sorted([lab.openssl.port, lab.fault.port]), result["endpoints"]
    assert all(e["addresses"] == ["127.0.0.1"] and e["protocol"] == "tcp" for e in result["endpoints"])


def test_bad_certificate_fails_the_task_but_reports_the_others(run_module, lab):
    key = lab.pki.certs["good"].key_path
    result = run_module(MODULE, {"certificates": [lab.pki.certs["good"].fullchain_path, key, "/nonexistent/x.pem"]})
    assert result["failed"]
    assert "2 of 3 certificates could not be inspected" in result["msg"]
    assert key in result["msg"] and "/nonexistent/x.pem" in result["msg"]
    assert "PRIVATE KEY-----" not in result["_output"].replace("found: PRIVATE KEY)", "")
    assert result["certificates"][0]["stapleable"] is True
    lenient = run_module(MODULE, {"certificates": [lab.pki.certs["good"].fullchain_path, key],
                                  "fail_on_error": False})
    assert not lenient["failed"] and lenient["certificates"][1]["error"]


def test_options_are_checked(run_module, lab):
    both = run_module(MODULE, {"certificates": [lab.pki.certs["good"].cert_path], "vhosts": []})
    assert both["failed"] and "mutually exclusive" in both["msg"]
    wrong = run_module(MODULE, {"certificates": [{"path": lab.pki.certs["good"].cert_path, "chain": "/x"}]})
    assert wrong["failed"] and "certificates[0] has unknown keys chain" in wrong["msg"]


def test_vhosts_input(run_module, lab):
    vhosts = [{"server_name": t["sni"], "tls": True, "file": "/etc/apache2/sites-enabled/lab.conf", "line": 1,
               "certificate_file": lab.pki.certs[name].cert_path,
               "certificate_chain_file": lab.pki.certs[name].chain_path}
              for name, t in sorted(lab.vhosts.items())]
    result = run_module(MODULE, {"vhosts": vhosts, "probe": True})
    assert not result["failed"], result["_output"]
    by_name = {c["vhosts"][0]["server_name"]: c for c in result["certificates"]}
    assert by_name["good.lab.test"]["probe"]["ok"] is True
    assert by_name["revoked.lab.test"]["probe"]["error"]["code"] == "revoked"
    assert by_name["no-uri.lab.test"]["stapleable"] is False
