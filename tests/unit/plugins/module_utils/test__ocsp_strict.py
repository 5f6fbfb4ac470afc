"""The validator's stricter checks of issue 24 #4: each response below was answered ``valid: true`` before.

A delegated signer judged at ``now`` (its own validity, with the skew), a window whose nextUpdate comes before its
thisUpdate, a producedAt in the future, and a response without nextUpdate (judged against a default maximum age,
as mod_md does)."""

import datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.ocsp.stapling.plugins.module_utils import _ocsp
from lab.pki import PKI, _key
from lab.responders import build_response, odd_response

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI.create(str(tmp_path_factory.mktemp("pki")), "http://127.0.0.1:1/")


def codes(result):
    return [e["code"] for e in result["errors"]]


def _now():
    return datetime.datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def response(pki, signer=None, this_update=None, next_update="default", certificates=()):
    leaf = pki.certs["good"]
    signer = signer or leaf.issuer
    this_update = this_update or _now() - datetime.timedelta(minutes=1)
    if next_update == "default":
        next_update = this_update + datetime.timedelta(hours=1)
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf.cert, issuer=leaf.issuer.cert, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=this_update, next_update=next_update, revocation_time=None, revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
    if certificates:
        builder = builder.certificates([c.cert for c in certificates])
    return builder.sign(signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def judge(pki, der, **kwargs):
    leaf = pki.certs["good"]
    return _ocsp.validate_response(der, leaf.cert, leaf.issuer.cert, **kwargs)


def _delegate(pki, name, not_before, not_after):
    return pki._sign(name, "Lab OCSP Responder " + name, _key(), pki.intermediate,
                     eku=[ExtendedKeyUsageOID.OCSP_SIGNING], not_before=not_before, not_after=not_after)


@pytest.mark.parametrize("name, before, after, word", [
    ("expired_delegate", -400, -300, "expired"),
    ("future_delegate", 300, 400, "is not valid before"),
])
def test_delegate_is_judged_at_now(pki, name, before, after, word):
    now = _now()
    delegate = _delegate(pki, name, now + datetime.timedelta(days=before), now + datetime.timedelta(days=after))
    result = judge(pki, response(pki, signer=delegate, certificates=[delegate]))
    assert not result["valid"] and not result["authentic"], result
    assert codes(result) == ["signer_not_authorized"], result
    assert word in result["errors"][0]["msg"] and result["signer"] is None


def test_delegate_validity_honours_the_skew(pki):
    now = _now()
    delegate = _delegate(pki, "just_expired_delegate", now - datetime.timedelta(days=30),
                         now - datetime.timedelta(seconds=60))
    der = response(pki, signer=delegate, certificates=[delegate])
    assert judge(pki, der, skew=300)["valid"]
    assert codes(judge(pki, der, skew=0)) == ["signer_not_authorized"]


def test_next_update_before_this_update_is_malformed(pki):
    this_update = _now() - datetime.timedelta(minutes=1)
    der = response(pki, this_update=this_update, next_update=this_update - datetime.timedelta(hours=2))
    result = judge(pki, der, skew=86400)  # whatever the skew: such a window is no window
    assert "malformed" in codes(result) and not result["valid"] and not result["authentic"], result


def test_produced_at_in_the_future_is_not_yet_valid(pki):
    der = odd_response(build_response(pki, _ocsp.build_request(pki.certs["good"].cert, pki.intermediate.cert),
                                      "good"), "produced_in_future", pki.intermediate.key)
    result = judge(pki, der)
    assert codes(result) == ["not_yet_valid"] and result["produced_at"].startswith("2035"), result
    # within the skew it is only a clock difference
    ahead = datetime.datetime(2035, 1, 1, tzinfo=UTC) - datetime.timedelta(seconds=100)
    assert "not_yet_valid" not in codes(judge(pki, der, now=ahead, skew=300))


def test_without_next_update_a_default_maximum_age_applies(pki):
    old = response(pki, this_update=_now() - datetime.timedelta(days=3 * 365), next_update=None)
    result = judge(pki, old)
    assert codes(result) == ["too_old"] and "12 h" in result["errors"][0]["msg"], result
    fresh = response(pki, this_update=_now() - datetime.timedelta(hours=1), next_update=None)
    assert judge(pki, fresh)["valid"]
    thirteen = response(pki, this_update=_now() - datetime.timedelta(hours=13), next_update=None)
    assert codes(judge(pki, thirteen)) == ["too_old"]
    # an explicit max_age is the operator's and wins
    assert judge(pki, thirteen, max_age=86400)["valid"]
    assert _ocsp.DEFAULT_MAX_AGE_WITHOUT_NEXT_UPDATE == 12 * 3600


def _utc_of(cert, name):
    return getattr(cert, name + "_utc", None) or getattr(cert, name).replace(tzinfo=UTC)


def test_delegate_validity_boundaries_are_inclusive(pki):
    """Kills < -> <= and > -> >= on the delegate's notAfter and notBefore (benchmarks/mutation)."""
    now, hour, second = _now(), datetime.timedelta(hours=1), datetime.timedelta(seconds=1)
    for name, before, after, edge in (("edge_expired", now - 30 * 24 * hour, now - hour, "not_valid_after"),
                                      ("edge_future", now + hour, now + 30 * 24 * hour, "not_valid_before")):
        delegate = _delegate(pki, name, before, after)
        der = response(pki, signer=delegate, certificates=[delegate], this_update=now - 2 * hour,
                       next_update=now + 3 * hour)
        at = _utc_of(delegate.cert, edge) + (hour if edge == "not_valid_after" else -hour)
        outside = at + (second if edge == "not_valid_after" else -second)
        assert judge(pki, der, now=at, skew=3600)["valid"], name
        assert codes(judge(pki, der, now=outside, skew=3600)) == ["signer_not_authorized"], name


def test_window_and_default_age_boundaries_are_inclusive(pki):
    """Kills < -> <= on nextUpdate-before-thisUpdate and > -> >= on the default maximum age."""
    this_update = _now() - datetime.timedelta(minutes=1)  # producedAt (now) stays within the default skew
    same = response(pki, this_update=this_update, next_update=this_update)
    assert judge(pki, same, now=this_update.replace(tzinfo=UTC))["valid"]
    no_next = response(pki, this_update=this_update, next_update=None)
    at = this_update.replace(tzinfo=UTC) + datetime.timedelta(seconds=_ocsp.DEFAULT_MAX_AGE_WITHOUT_NEXT_UPDATE)
    assert judge(pki, no_next, now=at, skew=86400)["valid"]
    assert codes(judge(pki, no_next, now=at + datetime.timedelta(seconds=1), skew=86400)) == ["too_old"]
