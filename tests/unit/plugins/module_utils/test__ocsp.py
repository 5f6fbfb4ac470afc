"""The one OCSP validator, judged against responses the tests build (and forge) themselves."""

import datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.ocsp.stapling.plugins.module_utils import _ocsp
from lab.pki import PKI
from lab.responders import build_response

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI.create(str(tmp_path_factory.mktemp("pki")), "http://127.0.0.1:1/")


def request_for(pki, name, algorithm=hashes.SHA1()):
    leaf = pki.certs[name]
    return ocsp.OCSPRequestBuilder().add_certificate(leaf.cert, leaf.issuer.cert, algorithm).build().public_bytes(
        serialization.Encoding.DER)


def judge(pki, name, der, **kwargs):
    leaf = pki.certs[name]
    return _ocsp.validate_response(der, leaf.cert, leaf.issuer.cert, **kwargs)


def codes(result):
    return [e["code"] for e in result["errors"]]


def test_good_response_signed_by_issuer(pki):
    result = judge(pki, "good", build_response(pki, request_for(pki, "good"), "good"))
    assert result["valid"] and result["authentic"], result
    assert result["cert_status"] == "good" and result["signer"] == "issuer"
    assert result["signer_subject"] == "CN=Lab Intermediate CA,O=ocsp.stapling lab"
    assert 0 <= result["age"] < 300 and result["this_update"].endswith("Z")


def test_sha256_certid_is_honoured(pki):
    result = judge(pki, "good", build_response(pki, request_for(pki, "good", hashes.SHA256()), "good"))
    assert result["valid"], result


def test_delegated_responder_with_eku_is_accepted(pki):
    result = judge(pki, "good", build_response(pki, request_for(pki, "good"), "delegated"))
    assert result["valid"] and result["signer"] == "delegated", result


@pytest.mark.parametrize("mode, code", [
    ("wrong_signer", "signer_not_authorized"),
    ("delegated_no_eku", "signer_not_authorized"),
    ("wrong_serial", "wrong_certificate"),
    ("expired", "expired"),
    ("future", "not_yet_valid"),
    ("trylater", "unsuccessful"),
    ("unauthorized", "unsuccessful"),
    ("unknown", "unknown"),
])
def test_forged_or_bad_responses_are_rejected(pki, mode, code):
    result = judge(pki, "good", build_response(pki, request_for(pki, "good"), mode))
    assert not result["valid"] and code in codes(result), result


def test_revoked_is_authentic_but_not_valid(pki):
    result = judge(pki, "revoked", build_response(pki, request_for(pki, "revoked"), "good"))
    assert result["authentic"] and not result["valid"]
    assert codes(result) == ["revoked"] and result["revocation_reason"] == "key_compromise"
    assert result["revocation_time"].endswith("Z")


def test_response_for_another_certificate_of_the_same_issuer(pki):
    # A genuine, correctly signed response, but about another leaf.
    result = judge(pki, "good", build_response(pki, request_for(pki, "must_staple"), "good"))
    assert codes(result) == ["wrong_certificate"], result


def _sign(pki, signer_cert, signer_key, name="good", certificates=(), responder=None):
    leaf = pki.certs[name]
    now = datetime.datetime.now(UTC).replace(tzinfo=None)
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf.cert, issuer=leaf.issuer.cert, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=now, next_update=now + datetime.timedelta(hours=1), revocation_time=None, revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.NAME, responder or signer_cert)
    if certificates:
        builder = builder.certificates(list(certificates))
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_issuer_name_with_another_key_fails_the_signature(pki):
    # The rogue CA has the intermediate's name: ResponderID by name matches the issuer,
    # but the signature is the rogue key's (what Apache staples without a word).
    der = _sign(pki, pki.rogue.cert, pki.rogue.key)
    assert "signature_invalid" in codes(judge(pki, "good", der))


def test_other_issuers_delegate_is_not_authorized(pki):
    # A genuine OCSP-signing delegate, but certified by the second intermediate, not our issuer.
    delegate = pki._sign("delegate_of_2", "Second OCSP Responder", ec.generate_private_key(ec.SECP256R1()),
                         pki.intermediate2, eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    der = _sign(pki, delegate.cert, delegate.key, certificates=[delegate.cert])
    result = judge(pki, "good", der)
    assert codes(result) == ["signer_not_authorized"], result


def test_garbage_is_not_ocsp(pki):
    result = judge(pki, "good", b"<html>not ocsp</html>")
    assert codes(result) == ["not_ocsp"] and result["response_status"] is None


def test_max_age_and_skew(pki):
    der = build_response(pki, request_for(pki, "good"), "good")
    later = datetime.datetime.now(UTC) + datetime.timedelta(minutes=30)
    assert "too_old" in codes(judge(pki, "good", der, now=later, max_age=600))
    assert judge(pki, "good", der, now=later)["valid"]
    # nextUpdate is 60 min ahead: 62 minutes later it is expired, unless the skew covers it.
    much_later = datetime.datetime.now(UTC) + datetime.timedelta(minutes=62)
    assert "expired" in codes(judge(pki, "good", der, now=much_later, skew=0))
    assert judge(pki, "good", der, now=much_later, skew=600)["valid"]


def test_request_matches_what_openssl_would_ask(pki):
    der = _ocsp.build_request(pki.certs["good"].cert, pki.intermediate.cert)
    req = ocsp.load_der_ocsp_request(der)
    assert req.serial_number == pki.certs["good"].serial
    assert isinstance(req.hash_algorithm, hashes.SHA1)


@pytest.mark.parametrize("uri, expect", [
    ("http://ocsp.example.org", {"scheme": "http", "host": "ocsp.example.org", "port": 80, "path": "/", "error": None}),
    ("http://ocsp.example.org:8080/sub/", {"port": 8080, "path": "/sub/", "error": None}),
    ("http://[2001:db8::1]:8888/", {"host": "2001:db8::1", "port": 8888, "error": None}),
    ("HTTP://OCSP.example.org/", {"scheme": "http", "error": None}),
])
def test_endpoints_parse(uri, expect):
    got = _ocsp.parse_endpoint(uri)
    for key, value in expect.items():
        assert got[key] == value, (key, got)


@pytest.mark.parametrize("uri, fragment", [
    ("https://ocsp.example.org/", "only http://"),
    ("ldap://ldap.example.org/cn=ocsp", "only http://"),
    ("http://user:secret@ocsp.example.org/", "userinfo"),
    ("http://[2001:db8::1/", "malformed"),
    ("ocsp.example.org", "absolute URI"),
    ("http://ocsp.example.org:99999/", "malformed"),
])
def test_unusable_endpoints_say_why(uri, fragment):
    assert fragment in _ocsp.parse_endpoint(uri)["error"]


def test_same_serial_under_another_issuer_is_not_our_certificate(pki):
    # Signed by our issuer, right serial, but the CertID names the second intermediate.
    leaf = pki.certs["good"]
    other = ocsp.OCSPRequestBuilder().add_certificate(pki.certs["second_issuer"].cert, pki.intermediate2.cert,
                                                      hashes.SHA1()).build()
    now = datetime.datetime.now(UTC).replace(tzinfo=None)
    der = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=other.issuer_name_hash, issuer_key_hash=other.issuer_key_hash,
        serial_number=leaf.serial, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=now, next_update=now + datetime.timedelta(hours=1), revocation_time=None, revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, pki.intermediate.cert).sign(
        pki.intermediate.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    assert codes(judge(pki, "good", der)) == ["wrong_certificate"]
