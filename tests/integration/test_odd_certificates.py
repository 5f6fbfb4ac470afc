"""Odd certificates and odd OCSP responses, made here, through ansible-playbook: one never fails the task
of another, and what the modules read is what OpenSSL (and so mod_ssl) reads.

* Differential: for each certificate, ``openssl x509 -ocsp_uri`` and ``-ext tlsfeature`` (the system's
  OpenSSL, the one Apache links) are the oracle for the module's OCSP URIs and must-staple; where
  OpenSSL cannot read a certificate, the module reports ``error``.
* ``ocsp_staple_info`` against a real Apache serving odd certificates beside a normal vhost.
* Odd responses served by the lab's fault responder to a probe, and stapled by Apache.
"""

import datetime
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lab import STAPLING_GLOBAL, FaultResponder, PKI
from lab.pki import ODD_CERTIFICATES, issue_odd_certificates
from lab.responders import ODD_RESPONSES, build_response, odd_response

OCSP = "http://127.0.0.1:1/ocsp"


def openssl_reads(path):
    """(readable, ocsp_uris, must_staple) as the system's openssl sees the PEM at path."""
    uri = subprocess.run(["openssl", "x509", "-noout", "-in", path, "-ocsp_uri"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=30, check=False)
    if uri.returncode != 0:
        return False, None, None
    ext = subprocess.run(["openssl", "x509", "-noout", "-in", path, "-ext", "tlsfeature"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=30, check=False)
    assert ext.returncode == 0, ext.stderr
    return True, [line.strip() for line in uri.stdout.splitlines() if line.strip()], "status_request" in ext.stdout


@pytest.fixture(scope="module")
def odd_pki(tmp_path_factory):
    pki = PKI.create(str(tmp_path_factory.mktemp("oddpki")), OCSP)
    pki.odd = issue_odd_certificates(pki)
    return pki


@pytest.mark.core_matrix
def test_differential_against_openssl_in_one_task(run_module, odd_pki):
    names = list(ODD_CERTIFICATES)
    paths = [odd_pki.odd[n].cert_path for n in names]
    normal = ["good", "must_staple", "no_uri"]
    paths += [odd_pki.certs[n].cert_path for n in normal]
    result = run_module("ocsp.stapling.ocsp_responder_info",
                        {"certificates": paths, "fail_on_error": False, "resolve": False})
    assert not result["failed"], result["_output"]
    assert "Traceback" not in result["_output"]
    assert [c["path"] for c in result["certificates"]] == paths  # one task lists each
    disagreements = []
    for path, entry in zip(paths, result["certificates"]):
        readable, uris, staple = openssl_reads(path)
        if not readable:
            if not entry["error"]:
                disagreements.append((path, "openssl cannot read it, the module reports no error"))
            continue
        if entry["ocsp_uris"] != uris or entry["must_staple"] is not staple:
            disagreements.append((path, "openssl", uris, staple, "module", entry["ocsp_uris"], entry["must_staple"]))
        assert "Replace the file" not in (entry["error"] or "")
    assert not disagreements, disagreements
    # At least one of each kind, so the comparison above meant something.
    by = dict(zip(names + normal, result["certificates"]))
    assert by["odd_dup_bc_must_staple"]["must_staple"] and by["odd_dup_bc_must_staple"]["error"] is None
    assert by["odd_critical_false"]["error"] and by["odd_critical_false"]["ocsp_uris"] == [OCSP]
    assert by["odd_sct_unknown_alg"]["warnings"][0]["oid"] == "1.3.6.1.4.1.11129.2.4.2"


def test_fail_on_error_fails_after_reporting_every_certificate(run_module, odd_pki):
    paths = [odd_pki.certs["good"].fullchain_path, odd_pki.odd["odd_invalid_version"].fullchain_path,
             odd_pki.odd["odd_x400_san"].fullchain_path]
    result = run_module("ocsp.stapling.ocsp_responder_info", {"certificates": paths, "resolve": False})
    assert result["failed"] and "1 of 3 certificates could not be inspected" in result["msg"], result["msg"]
    assert "Traceback" not in result["_output"]
    assert [c["stapleable"] for c in result["certificates"]] == [True, False, True]


# --------------------------------------------------------------------------------------------
# A real Apache serving odd certificates beside a normal vhost
# --------------------------------------------------------------------------------------------

SERVED = ("odd_sct_unknown_alg", "odd_dup_bc_must_staple", "odd_critical_false", "odd_null_sig_params")


@pytest.fixture
def odd_apache(apache_sandbox, tmp_path):
    pki = PKI.create(str(tmp_path / "pki"), "http://127.0.0.1:1/")
    responder = FaultResponder(pki.directory, str(tmp_path))
    normal = pki.issue_leaf("normal", ocsp_uris=[responder.url("good")])
    odd = issue_odd_certificates(pki, ocsp_url=responder.url("good"), names=SERVED)
    responder.start()  # after the leaves: it reads the PKI when it starts
    try:
        apache_sandbox.set_global(STAPLING_GLOBAL)
        targets = {"normal": apache_sandbox.add_vhost("normal", normal.cert_path, normal.key_path,
                                                      chain_path=normal.chain_path, server_name=normal.server_name,
                                                      directives=["SSLUseStapling on"])}
        for name in SERVED:
            leaf = odd[name]
            targets[name] = apache_sandbox.add_vhost(name, leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                                                     server_name=leaf.server_name, directives=["SSLUseStapling on"])
        ok, out = apache_sandbox.configtest()
        assert ok, out  # Debian's Apache (OpenSSL 3.0) loads every one of them
        apache_sandbox.start()
        yield {"targets": targets, "pki": pki}
    finally:
        responder.stop()


def test_staple_info_judges_the_normal_vhost_beside_odd_ones(run_module, odd_apache):
    order = ["normal"] + list(SERVED)
    result = run_module("ocsp.stapling.ocsp_staple_info", {
        "targets": [{"host": odd_apache["targets"][n]["host"], "port": odd_apache["targets"][n]["port"],
                     "sni": odd_apache["targets"][n]["sni"]} for n in order],
        "require": False, "attempts": 3, "delay": 0.2, "timeout": 15})
    assert "Traceback" not in result["_output"]
    results = dict(zip(order, result["results"]))
    assert results["normal"]["valid"] and results["normal"]["cert_status"] == "good", results["normal"]["errors"]
    for name in SERVED:
        entry = results[name]
        assert not entry["valid"] and entry["errors"] and all(e["code"] for e in entry["errors"]), (name, entry)
        assert entry["certificate"]["ocsp_uris"], (name, entry)
    # The responder knows no odd certificate (they are not in its PKI): an authentic "unknown" where
    # cryptography reads the certificate; "unreadable_certificate" where it does not.
    assert "unknown" in [e["code"] for e in results["odd_sct_unknown_alg"]["errors"]], results["odd_sct_unknown_alg"]
    assert results["odd_sct_unknown_alg"]["certificate"]["warnings"][0]["oid"] == "1.3.6.1.4.1.11129.2.4.2"
    for name in ("odd_critical_false", "odd_null_sig_params"):
        assert "unreadable_certificate" in [e["code"] for e in results[name]["errors"]], results[name]
    must = results["odd_dup_bc_must_staple"]
    assert must["must_staple"] is True and "must_staple_unsatisfied" in [e["code"] for e in must["errors"]]
    # must-staple unsatisfied fails the task even with require: false, after reporting every target.
    assert result["failed"] and result["summary"]["targets"] == len(order)


# --------------------------------------------------------------------------------------------
# Odd responses served by the lab's responder: to a probe, and stapled by Apache
# --------------------------------------------------------------------------------------------

EXPECTED = {
    "unknown_certid_hash": "unsupported_algorithm",
    "unknown_signature_algorithm": "unsupported_algorithm",
    "critical_unknown_extension": "unsupported_critical_extension",
    "noncritical_unknown_extension": None,  # ignored, as RFC 5280 says of unknown non-critical extensions
    "two_certificates": None,   # RFC 6960 allows several; ours is found and judged
    "rsa_pss": None,            # RSA issuer, RSASSA-PSS: a valid response
    "produced_in_future": "not_yet_valid",  # producedAt 2035 (issue 24): mod_ssl staples it, we refuse it
}


@pytest.fixture
def odd_responses(tmp_path):
    assert set(EXPECTED) == set(ODD_RESPONSES)
    pki = PKI.create(str(tmp_path / "pki"), "http://127.0.0.1:1/")
    pki.add_rsa_chain()
    responder = FaultResponder(pki.directory, str(tmp_path))
    leaves = {}
    for kind in EXPECTED:
        rsa = kind == "rsa_pss"
        leaf = pki.issue_leaf("resp_" + kind, ocsp_uris=[responder.fixed_url(kind)],
                              issuer=pki.rsa_intermediate if rsa else None, key_type="rsa" if rsa else "ec")
        request = ocsp.OCSPRequestBuilder().add_certificate(leaf.cert, leaf.issuer.cert, hashes.SHA1()).build()
        der = _good(leaf) if rsa else build_response(pki, request.public_bytes(serialization.Encoding.DER), "good")
        responder.serve_fixed(kind, odd_response(der, kind, leaf.issuer.key))
        leaves[kind] = leaf
    responder.start()
    try:
        yield {"pki": pki, "leaves": leaves, "responder": responder}
    finally:
        responder.stop()


def _good(leaf):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return ocsp.OCSPResponseBuilder().add_response(
        cert=leaf.cert, issuer=leaf.issuer.cert, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=now - datetime.timedelta(minutes=1), next_update=now + datetime.timedelta(hours=1),
        revocation_time=None, revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, leaf.issuer.cert).sign(
        leaf.issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_odd_responses_to_a_probe(run_module, odd_responses):
    kinds = list(EXPECTED)
    result = run_module("ocsp.stapling.ocsp_responder_info", {
        "certificates": [odd_responses["leaves"][k].fullchain_path for k in kinds], "probe": True, "timeout": 5})
    assert not result["failed"], result["_output"]
    for kind, entry in zip(kinds, result["certificates"]):
        probe = entry["probe"]
        assert probe["http_status"] == 200, (kind, probe)
        if EXPECTED[kind] is None:
            assert probe["ok"] and probe["valid"] and probe["signer"] == "issuer", (kind, probe)
        else:
            assert not probe["ok"] and probe["error"]["code"] == EXPECTED[kind], (kind, probe)
            assert not probe["authentic"]
    assert odd_responses["responder"].stats()["by_mode"]["fixed"] == len(kinds)


def test_odd_responses_stapled_by_apache(run_module, odd_responses, apache_sandbox):
    apache_sandbox.set_global(STAPLING_GLOBAL)
    targets = {}
    for kind, leaf in odd_responses["leaves"].items():
        targets[kind] = apache_sandbox.add_vhost(kind, leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                                                 server_name=leaf.server_name,
                                                 directives=["SSLUseStapling on", "SSLStaplingReturnResponderErrors on"])
    ok, out = apache_sandbox.configtest()
    assert ok, out
    apache_sandbox.start()
    kinds = list(targets)
    result = run_module("ocsp.stapling.ocsp_staple_info", {
        "targets": [{"host": targets[k]["host"], "port": targets[k]["port"], "sni": targets[k]["sni"]} for k in kinds],
        "require": False, "attempts": 2, "delay": 0.2, "timeout": 15, "tls_versions": ["1.3"]})
    assert not result["failed"], result["_output"]
    stapled = 0
    for kind, entry in zip(kinds, result["results"]):
        codes = [e["code"] for e in entry["errors"]]
        if not entry["stapled"]:  # mod_ssl itself refused to staple it
            assert codes == ["no_staple"], (kind, entry)
            continue
        stapled += 1
        if EXPECTED[kind] is None:
            assert entry["valid"], (kind, entry)
        else:
            assert EXPECTED[kind] in codes and not entry["valid"], (kind, entry)
    assert stapled >= 2  # at least the valid ones travel through Apache
