"""The validator with RSA signers (PKCS#1 v1.5 and PSS), a delegate with no EKU extension at all, odd
responses made here by DER surgery, and ``authentic`` on every early return. Each test was seen to
kill the mutants of benchmarks/mutation/results.md that it names."""

import datetime
import random

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ansible_collections.ocsp.stapling.plugins.module_utils import _ocsp
from lab.pki import PKI
from lab.responders import build_response, odd_response

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = PKI.create(str(tmp_path_factory.mktemp("pki")), "http://127.0.0.1:1/")
    pki.add_rsa_chain()
    pki.add_delegate_without_eku_extension()
    return pki


def codes(result):
    return [e["code"] for e in result["errors"]]


def response(pki, name, signer=None, certificates=(), responder=None, algorithm=hashes.SHA256()):
    """A good response for leaf ``name`` signed by ``signer`` (default: its issuer), ResponderID by hash."""
    leaf = pki.certs[name]
    signer = signer or leaf.issuer
    now = datetime.datetime.now(UTC).replace(tzinfo=None)
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf.cert, issuer=leaf.issuer.cert, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=now, next_update=now + datetime.timedelta(hours=1), revocation_time=None, revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, (responder or signer).cert)
    if certificates:
        builder = builder.certificates([c.cert for c in certificates])
    return builder.sign(signer.key, algorithm).public_bytes(serialization.Encoding.DER)


def judge(pki, name, der, **kwargs):
    leaf = pki.certs[name]
    return _ocsp.validate_response(der, leaf.cert, leaf.issuer.cert, **kwargs)


def test_rsa_issuer_pkcs1v15(pki):
    # Kills `rsa_padding or PKCS1v15()` -> `and` (no RSA signature would ever verify).
    result = judge(pki, "rsa_leaf", response(pki, "rsa_leaf"))
    assert result["valid"] and result["authentic"] and result["signer"] == "issuer", result


def test_rsa_delegate(pki):
    der = response(pki, "rsa_leaf", signer=pki.rsa_delegate, certificates=[pki.rsa_delegate])
    result = judge(pki, "rsa_leaf", der)
    assert result["valid"] and result["signer"] == "delegated", result


def test_rsa_pss_signed_response(pki):
    der = odd_response(response(pki, "rsa_leaf"), "rsa_pss", pki.rsa_intermediate.key)
    result = judge(pki, "rsa_leaf", der)
    assert result["valid"] and result["signer"] == "issuer", result
    # The same PSS response signed by another RSA key: refused.
    forged = odd_response(response(pki, "rsa_leaf"), "rsa_pss", pki.rsa_delegate.key)
    result = judge(pki, "rsa_leaf", forged)
    assert codes(result) == ["signature_invalid"] and not result["authentic"], result


def test_rsa_signature_that_does_not_verify_fails(pki):
    der = response(pki, "rsa_leaf")  # no certificates: the signature BIT STRING ends the DER
    der = der[:-1] + bytes([der[-1] ^ 1])
    result = judge(pki, "rsa_leaf", der)
    assert codes(result) == ["signature_invalid"] and not result["authentic"] and result["signer"] is None


def test_delegate_without_any_eku_extension_is_not_authorized(pki):
    # Kills `_has_ocsp_signing` answering True on ExtensionNotFound: any certificate the CA issued (any
    # server's key) could then sign responses.
    delegate = pki.certs["delegate_without_eku"]
    der = response(pki, "good", signer=delegate, certificates=[delegate])
    result = judge(pki, "good", der)
    assert codes(result) == ["signer_not_authorized"] and not result["authentic"] and result["signer"] is None
    assert "lacks id-kp-OCSPSigning" in result["errors"][0]["msg"]


def test_authentic_is_false_on_every_early_return(pki):
    garbage = judge(pki, "good", b"\x30\x03\x02\x01\x01")
    assert codes(garbage) == ["not_ocsp"] and garbage["authentic"] is False and garbage["valid"] is False
    unsuccessful = judge(pki, "good", ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(serialization.Encoding.DER))
    assert codes(unsuccessful) == ["unsuccessful"] and unsuccessful["authentic"] is False
    assert unsuccessful["response_status"] == "try_later"


@pytest.mark.parametrize("kind, code, oid", [
    ("unknown_certid_hash", "unsupported_algorithm", "1.3.14.3.2.26.17"),
    ("unknown_signature_algorithm", "unsupported_algorithm", "1.2.3.4.5.6"),
    ("critical_unknown_extension", "unsupported_critical_extension", "1.2.3.4.5.7"),
])
def test_odd_responses_are_refused_with_their_code(pki, kind, code, oid):
    base = response(pki, "good")
    result = judge(pki, "good", odd_response(base, kind, pki.intermediate.key))
    assert code in codes(result) and not result["valid"] and not result["authentic"], result
    assert oid in [e for e in result["errors"] if e["code"] == code][0]["msg"]


def test_a_response_for_two_certificates_is_judged_on_ours(pki):
    # RFC 6960 allows several SingleResponses: ours (the second) is found and judged.
    both = odd_response(response(pki, "good"), "two_certificates", pki.intermediate.key)
    assert judge(pki, "good", both)["valid"]
    # For the leaf of the first one (serial + 7): not ours.
    assert "wrong_certificate" in codes(judge(pki, "must_staple", both))


def test_no_bytes_ever_raise(pki):
    good = build_response(pki, ocsp.OCSPRequestBuilder().add_certificate(
        pki.certs["good"].cert, pki.intermediate.cert, hashes.SHA1()).build().public_bytes(
        serialization.Encoding.DER), "good")
    rng = random.Random(18)
    variants = [good[:n] for n in range(0, len(good), 7)]
    for _variant in range(300):
        data = bytearray(good)
        for _flip in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= rng.randrange(1, 256)  # a flip always changes the byte
        variants.append(bytes(data))
    for data in variants:
        result = judge(pki, "good", data)
        assert result["errors"] and all(e["code"] for e in result["errors"])
        if not result["authentic"]:
            assert not result["valid"]
    assert sum(judge(pki, "good", v)["valid"] for v in variants) == 0


def test_a_noncritical_unknown_extension_is_ignored(pki):
    # Kills `ext.critical and ...` -> `or` (every unknown extension refused).
    der = odd_response(response(pki, "good"), "noncritical_unknown_extension", pki.intermediate.key)
    assert judge(pki, "good", der)["valid"]


def test_responder_id_naming_no_one(pki):
    # Kills `return None, None` -> `return None` in _find_signer (then a TypeError, reported as malformed).
    der = response(pki, "good")
    key_hash = _ocsp._key_hash(pki.intermediate.cert)
    assert der.count(key_hash) == 2  # the ResponderID and the CertID's issuerKeyHash: change the first only
    der = der.replace(key_hash, b"\x00" * len(key_hash), 1)
    result = judge(pki, "good", der)
    assert codes(result) == ["signer_not_authorized"] and result["signer_subject"] is None, result


def test_an_exception_inside_the_judge_is_a_refusal(pki, monkeypatch):
    # Kills `valid = authentic = False` -> True in the catch-all.
    def boom(response):
        raise ValueError("odd inner structure")
    monkeypatch.setattr(_ocsp, "_single_responses", boom)
    result = judge(pki, "good", response(pki, "good"))
    assert result["valid"] is False and result["authentic"] is False
    assert codes(result) == ["malformed"] and "odd inner structure" in result["errors"][0]["msg"]


def _parse(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_time_window_boundaries_are_inclusive(pki):
    # Kills `>` -> `>=` and `<` -> `<=` on thisUpdate, nextUpdate and max_age, and the default skew 300 -> 301.
    der = build_response(pki, ocsp.OCSPRequestBuilder().add_certificate(
        pki.certs["good"].cert, pki.intermediate.cert, hashes.SHA1()).build().public_bytes(
        serialization.Encoding.DER), "good")
    first = judge(pki, "good", der)
    this_update, next_update = _parse(first["this_update"]), _parse(first["next_update"])
    skew = datetime.timedelta(seconds=300)
    # producedAt (issue 24) has its own boundary; the response built above was produced a minute after thisUpdate
    produced_at = _parse(first["produced_at"])
    assert judge(pki, "good", der, now=produced_at - skew)["valid"]
    assert codes(judge(pki, "good", der, now=produced_at - skew - datetime.timedelta(seconds=1))) == ["not_yet_valid"]
    # thisUpdate's boundary, on the same response produced an hour before its thisUpdate
    der = odd_response(der, "produced_in_future", pki.intermediate.key, produced_at=this_update - datetime.timedelta(
        hours=1))
    assert judge(pki, "good", der, now=this_update - skew)["valid"]
    assert codes(judge(pki, "good", der, now=this_update - skew - datetime.timedelta(seconds=1))) == ["not_yet_valid"]
    assert judge(pki, "good", der, now=next_update + skew)["valid"]
    assert codes(judge(pki, "good", der, now=next_update + skew + datetime.timedelta(seconds=1))) == ["expired"]
    at = this_update + datetime.timedelta(seconds=100)
    assert judge(pki, "good", der, now=at, max_age=100)["valid"]
    assert codes(judge(pki, "good", der, now=at, max_age=99)) == ["too_old"]


def test_guards_answer_false_not_just_falsy(pki):
    from ansible_collections.ocsp.stapling.plugins.module_utils import _x509
    assert _ocsp._has_ocsp_signing(pki.certs["delegate_without_eku"].cert) is False
    assert _ocsp._has_ocsp_signing(pki.delegate_no_eku.cert) is False
    assert _ocsp._has_ocsp_signing(pki.delegate.cert) is True
    key = pki.intermediate.cert.public_key()
    assert _x509.verify_signature(key, b"\x30\x00", b"data", hashes.SHA256()) is False
    cert = pki.certs["good"].cert
    assert _x509.verify_signature(key, cert.signature, cert.tbs_certificate_bytes, hashes.SHA256()) is True
