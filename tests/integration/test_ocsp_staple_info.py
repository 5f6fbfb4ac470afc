"""ocsp.stapling.ocsp_staple_info through ansible-playbook, against a real Apache that staples
what the lab's responders answer (one fault mode per vhost), with curl --cert-status as peer oracle."""

import subprocess

import pytest

from lab import STAPLING_GLOBAL, ApacheSandbox, FaultResponder
from lab.procs import free_port

MODULE = "ocsp.stapling.ocsp_staple_info"
APACHE_DEFAULTS = ["SSLStaplingReturnResponderErrors on", "SSLStaplingFakeTryLater on"]

# vhost name: (fault mode or None for the leaf's own AIA, extra directives, leaf kind)
CASES = {
    "good": ("good", [], {}),
    "revoked": ("revoked", [], {}),
    "delegated": ("delegated", [], {}),
    "delegated_no_eku": ("delegated_no_eku", [], {}),
    "wrong_signer": ("wrong_signer", [], {}),
    "expired": ("expired", APACHE_DEFAULTS, {}),
    "wrong_serial": ("wrong_serial", APACHE_DEFAULTS, {}),
    "down_defaults": ("down", APACHE_DEFAULTS, {}),
    "down_safe": ("down", [], {}),
    "no_uri": (None, [], {"ocsp_uris": []}),
    "tls12_only": ("good", ["SSLProtocol -all +TLSv1.2"], {}),
    "tls13_only": ("good", ["SSLProtocol -all +TLSv1.3"], {}),
    "must_staple_down": ("down", [], {"must_staple": True}),
}


@pytest.fixture(scope="module")
def staple_lab(lab, tmp_path_factory):
    """An Apache whose vhosts each staple one responder behaviour; every leaf its own (mod_ssl
    caches responses per certificate, so vhosts must not share one)."""
    work = str(tmp_path_factory.mktemp("staple"))
    responder = FaultResponder(lab.pki.directory, work)
    leaves = {name: lab.pki.issue_leaf("st_" + name, **kind) for name, (_m, _d, kind) in CASES.items()}
    leaves["sni_a"] = lab.pki.issue_leaf("st_sni_a")
    leaves["sni_b"] = lab.pki.issue_leaf("st_sni_b")
    responder.start()
    apache = ApacheSandbox(work)
    apache.set_global(STAPLING_GLOBAL)
    targets = {}
    for name, (mode, directives, _kind) in CASES.items():
        leaf = leaves[name]
        extra = ["SSLUseStapling on"] + list(directives)
        if mode:
            extra.append("SSLStaplingForceURL " + responder.url(mode))
        targets[name] = apache.add_vhost(name, leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                                         server_name=leaf.server_name, directives=extra)
    shared = free_port()
    for name in ("sni_a", "sni_b"):
        leaf = leaves[name]
        targets[name] = apache.add_vhost(name, leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                                         server_name=leaf.server_name, port=shared,
                                         directives=["SSLUseStapling on", "SSLStaplingForceURL " + responder.url("good")])
    targets["not_tls"] = {"host": "127.0.0.1", "port": responder.port, "sni": "plain.lab.test"}
    targets["closed"] = {"host": "127.0.0.1", "port": free_port(), "sni": "closed.lab.test"}
    ok, out = apache.configtest()
    assert ok, out
    apache.start()
    try:
        yield {"targets": targets, "leaves": leaves, "apache": apache, "responder": responder}
    finally:
        apache.stop()
        responder.stop()


def curl_accepts(lab, target):
    proc = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cert-status", "--cacert", lab.pki.root_path,
         "--resolve", "{sni}:{port}:{host}".format(**target), "https://{sni}:{port}/".format(**target)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=30, check=False)
    return proc.returncode == 0, proc.stdout


@pytest.fixture(scope="module")
def report(staple_lab):
    from ansible_runner import run_module
    names = sorted(staple_lab["targets"])
    result = run_module(MODULE, {"targets": [staple_lab["targets"][n] for n in names], "require": False,
                                 "timeout": 8, "attempts": 3, "return_der": True})
    return result, dict(zip(names, result.get("results", [])))


def codes(r):
    return sorted(set(e["code"] for e in r["errors"]))


@pytest.mark.parametrize("name, stapled, valid, expect_codes, extra", [
    ("good", True, True, [], {"cert_status": "good", "signer": "issuer"}),
    ("delegated", True, True, [], {"signer": "delegated"}),
    ("revoked", True, False, ["revoked"], {"cert_status": "revoked", "signer": "issuer"}),
    ("wrong_signer", True, False, ["signer_not_authorized"], {"signer": None}),
    ("delegated_no_eku", True, False, ["signer_not_authorized"], {}),
    ("expired", True, False, ["expired"], {}),
    ("down_defaults", True, False, ["unsuccessful"], {}),
    ("down_safe", False, False, ["no_staple"], {}),
    ("no_uri", False, False, ["no_staple"], {}),
    ("tls12_only", True, True, [], {}),
    ("tls13_only", True, True, [], {}),
    ("not_tls", False, False, ["not_tls"], {}),
    ("closed", False, False, ["connection_refused"], {}),
])
def test_verdict_per_vhost(report, lab, staple_lab, name, stapled, valid, expect_codes, extra):
    result, by_name = report
    r = by_name[name]
    assert (r["stapled"], r["valid"]) == (stapled, valid), r
    assert codes(r) == expect_codes, r
    for key, value in extra.items():
        assert r[key] == value, (key, r)
    if name not in ("not_tls", "closed"):
        # Peer oracle: curl --cert-status accepts exactly the staples we call valid.
        accepted, out = curl_accepts(lab, staple_lab["targets"][name])
        assert accepted == valid, (name, out, r)


def test_wrong_serial_is_never_valid(report, lab, staple_lab):
    # mod_ssl checks the CertID itself and drops the response: nothing is stapled.
    r = report[1]["wrong_serial"]
    assert not r["valid"] and codes(r) in (["no_staple"], ["wrong_certificate"]), r
    assert curl_accepts(lab, staple_lab["targets"]["wrong_serial"])[0] is False


def test_tls_versions_are_reported(report):
    by_name = report[1]
    assert by_name["tls12_only"]["tls"]["1.3"]["supported"] is False
    assert by_name["tls12_only"]["tls"]["1.2"]["valid"] is True
    assert by_name["tls13_only"]["tls"]["1.2"]["supported"] is False
    assert by_name["tls13_only"]["tls"]["1.3"]["valid"] is True
    good = by_name["good"]
    assert good["tls"]["1.3"]["valid"] and good["tls"]["1.2"]["valid"]
    assert good["tls"]["1.3"]["der"] and good["handshakes"] >= 2


def test_sni_selects_the_certificate(report, staple_lab):
    by_name = report[1]
    for name in ("sni_a", "sni_b"):
        r = by_name[name]
        assert r["valid"], r
        assert r["certificate"]["serial"].lstrip("0") == ("%X" % staple_lab["leaves"][name].serial).lstrip("0")
    assert staple_lab["targets"]["sni_a"]["port"] == staple_lab["targets"]["sni_b"]["port"]


def test_must_staple_without_staple_fails_even_when_not_required(report):
    result, by_name = report
    r = by_name["must_staple_down"]
    assert r["must_staple"] is True and "must_staple_unsatisfied" in codes(r)
    assert result["failed"] and "1 of 17 targets" in result["msg"] and "must_staple_unsatisfied" in result["msg"]
    assert result["summary"]["must_staple_unsatisfied"] == 1


def test_require_fails_on_any_invalid_target_and_check_mode_works(run_module, staple_lab):
    targets = staple_lab["targets"]
    ok = run_module(MODULE, {"targets": [targets["good"], targets["delegated"]]}, check=True)
    expected = {"targets": 2, "stapled": 2, "valid": 2, "invalid": 0, "must_staple_unsatisfied": 0}
    assert not ok["failed"] and ok["summary"] == expected, ok
    bad = run_module(MODULE, {"targets": [targets["good"], targets["wrong_signer"]]})
    assert bad["failed"] and "1 of 2 targets do not staple a valid OCSP response" in bad["msg"]
    assert "signer_not_authorized" in bad["msg"] and targets["wrong_signer"]["sni"] in bad["msg"]
    assert len(bad["results"]) == 2


def test_odd_server_names_are_their_targets_error_and_the_others_are_judged(run_module, staple_lab):
    """Issue 24 #7: Apache accepts ServerName a..b.example and a 64-character label; the module raised an uncaught
    UnicodeError for them and judged no target at all."""
    good = staple_lab["targets"]["good"]
    odd = [dict(good, sni="a..b.example"), dict(good, sni="x" * 64 + ".lab.test")]
    result = run_module(MODULE, {"targets": odd + [good], "require": False})
    assert "Traceback" not in result.get("module_stderr", ""), result
    assert [codes(r) for r in result["results"]] == [["bad_sni"], ["bad_sni"], []], result["results"]
    assert result["results"][2]["valid"] is True
    assert result["summary"]["valid"] == 1 and result["summary"]["invalid"] == 2


def test_bad_options(run_module):
    r = run_module(MODULE, {"targets": [{"host": "127.0.0.1", "port": 1}], "attempts": 0})
    assert r["failed"] and "attempts must be at least 1" in r["msg"]
    r = run_module(MODULE, {"targets": [{"port": 443}]})
    assert r["failed"] and "host" in r["msg"]
    r = run_module(MODULE, {"targets": [{"host": "127.0.0.1"}], "ca_file": "/nonexistent/ca.pem"})
    assert r["failed"] and "/nonexistent/ca.pem" in r["msg"]


@pytest.mark.core_matrix
def test_verify_playbook_by_fqcn(run_playbook, staple_lab, tmp_path):
    targets = [staple_lab["targets"]["good"], staple_lab["targets"]["wrong_signer"]]
    reports = str(tmp_path / "reports")
    extra = ["-e", __import__("json").dumps({"ocsp_stapling_verify_targets": targets, "apache_stapling_report_dir": reports,
                                             "ocsp_stapling_verify_hosts": "localhost"})]
    rc, results, output = run_playbook("ocsp.stapling.verify", extra_args=extra)
    assert rc != 0, output
    verdict = [r for r in results if r["task"] == "Handshake with each target and judge its staple"][0]
    assert verdict["status"] == "failed" and "signer_not_authorized" in verdict["result"]["msg"]
    rc, results, output = run_playbook("ocsp.stapling.verify", extra_args=[
        "-e", __import__("json").dumps({"ocsp_stapling_verify_targets": targets[:1], "apache_stapling_report_dir": reports,
                                        "ocsp_stapling_verify_hosts": "localhost"})])
    assert rc == 0, output
    report = [r for r in results if r["task"] == "Report per target"][0]
    assert "VALID good staple, signed by issuer" in report["result"]["results"][0]["msg"], report
