"""Odd certificates (made here by the builder and DER surgery): reported, never a traceback; the
stapling facts read as OpenSSL reads them (the differential test against openssl itself is in
tests/integration/test_odd_certificates.py)."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from ansible_collections.ocsp.stapling.plugins.module_utils import _responder_info, _x509
from lab.pki import ODD_CERTIFICATES, PKI, issue_odd_certificates

URI = "http://127.0.0.1:1/ocsp"
UNLOADABLE = {"odd_bad_utctime", "odd_critical_false", "odd_invalid_version", "odd_null_sig_params"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = PKI.create(str(tmp_path_factory.mktemp("pki")), URI)
    pki.odd = issue_odd_certificates(pki)
    return pki


def der(issued):
    return issued.cert.public_bytes(serialization.Encoding.DER)


def test_the_der_reader_agrees_with_cryptography_on_normal_certificates(pki):
    for name in ("good", "must_staple", "no_uri", "intermediate", "delegate"):
        cert = pki.certs[name].cert
        raw = _x509.raw_extensions(der(pki.certs[name]))
        assert [(o, c) for o, c, _v in raw] == [(e.oid.dotted_string, e.critical) for e in cert.extensions]
        facts = _x509.fallback_facts(der(pki.certs[name]))
        assert (facts["ocsp_uris"], facts["ca_issuers_uris"]) == _x509.aia_uris(cert)
        assert (facts["must_staple"], facts["must_staple_critical"]) == _x509.must_staple(cert)
        assert facts["serial"] == _x509.serial_hex(cert.serial_number)
        assert _x509.raw_name(der(pki.certs[name]), "subject") == cert.subject.public_bytes()
        assert _x509.raw_name(der(pki.certs[name]), "issuer") == cert.issuer.public_bytes()


def test_no_extension_means_no_must_staple_and_no_uri(pki):
    cert = pki.certs["no_uri"].cert
    assert _x509.must_staple(cert) == (False, False)
    assert _x509.aia_uris(cert)[0] == []
    assert _x509.must_staple(pki.certs["must_staple"].cert) == (True, False)
    assert _x509.must_staple(pki.root.cert) == (False, False)  # no TLS Feature extension at all
    assert _x509.aia_uris(pki.root.cert) == ([], [])  # no AIA at all


@pytest.mark.parametrize("name", sorted(set(ODD_CERTIFICATES) - UNLOADABLE))
def test_loadable_odd_certificates_never_raise(pki, name):
    cert = x509.load_der_x509_certificate(pki.odd[name].odd_der)
    summary = _x509.certificate_summary(cert)
    if name == "odd_dup_aia":  # OpenSSL's X509_get_ext_d2i refuses a repeated extension: no URI there either
        assert summary["ocsp_uris"] == [] and summary["warnings"][0]["oid"] == "1.3.6.1.5.5.7.1.1"
    elif name == "odd_bad_utf8_cn":
        assert "subject cannot be read" in summary["error"] and summary["ocsp_uris"] == [URI]
    else:
        assert summary["error"] is None, summary
        assert summary["ocsp_uris"] == [URI] and summary["has_ocsp_uri"]
        assert summary["must_staple"] is (name == "odd_dup_bc_must_staple")
        if name != "odd_x400_in_aia":  # its AIA, rebuilt, holds the x400Address and the OCSP URI only
            assert summary["ca_issuers_uris"] == ["http://ca.lab.test/intermediate.crt"]
        assert summary["warnings"], summary
    assert _x509.aia_uris(cert)[0] == summary["ocsp_uris"]


@pytest.mark.parametrize("name, oid, fragment", [
    ("odd_dup_basic_constraints", "2.5.29.19", "appears more than once"),
    ("odd_x400_san", "2.5.29.17", "UnsupportedGeneralNameType"),
    ("odd_sct_unknown_alg", "1.3.6.1.4.1.11129.2.4.2", "ignored: stapling does not depend on it"),
    ("odd_empty_eku", "2.5.29.37", "cannot be decoded by cryptography"),
    ("odd_x400_in_aia", "1.3.6.1.5.5.7.1.1", "read from the DER instead"),
])
def test_the_broken_extension_is_named_and_only_it(pki, name, oid, fragment):
    summary = _x509.certificate_summary(x509.load_der_x509_certificate(pki.odd[name].odd_der))
    assert [w["oid"] for w in summary["warnings"]] == [oid], summary["warnings"]
    assert fragment in summary["warnings"][0]["msg"]


@pytest.mark.parametrize("name", sorted(UNLOADABLE))
def test_unloadable_certificates_say_what_is_true(pki, name):
    data = open(pki.odd[name].fullchain_path, "rb").read()
    with pytest.raises(_x509.UnreadableCertificate) as err:
        _x509.load_pem_or_der_certificates(data, "/srv/odd.pem")
    assert "cannot be read by the cryptography library" in err.value.msg and "Replace the file" not in err.value.msg
    assert err.value.der == pki.odd[name].odd_der and err.value.index == 0
    skipped = []
    assert len(_x509.load_pem_or_der_certificates(data, "/srv/odd.pem", unreadable=skipped)) == 1  # the issuer
    assert len(skipped) == 1
    summary = _x509.fallback_summary(err.value.der, err.value.reason)
    assert summary["ocsp_uris"] == [URI] and summary["serial"] == _x509.serial_hex(pki.odd[name].serial)
    assert summary["openssl_loads"] in (True, False)
    with pytest.raises(_x509.UnreadableCertificate):
        _x509.load_pem_or_der_certificates(pki.odd[name].odd_der, "/srv/odd.der")


def test_one_task_over_all_odd_certificates_reports_each(pki):
    inputs = [{"path": i.fullchain_path, "chain_path": None, "ca_path": None, "vhosts": None}
              for i in pki.odd.values()]
    inputs.insert(3, {"path": pki.certs["good"].fullchain_path, "chain_path": None, "ca_path": None, "vhosts": None})
    certs, endpoints = _responder_info.inspect_all(inputs, resolve=False)
    assert [c["path"] for c in certs] == [i["path"] for i in inputs]
    by = {c["path"].rsplit("/", 1)[-1].split(".")[0]: c for c in certs}
    assert by["good"]["stapleable"] and by["good"]["error"] is None and by["good"]["warnings"] == []
    for name in UNLOADABLE:
        entry = by[name]
        assert not entry["stapleable"] and entry["reason"].startswith("unknown:")
        assert "read from its DER: OCSP URIs " + URI in entry["error"] and "Replace the file" not in entry["error"]
    assert by["odd_dup_bc_must_staple"]["stapleable"] and by["odd_dup_bc_must_staple"]["must_staple"]
    assert by["odd_dup_bc_must_staple"]["issuer_found"]
    assert by["odd_bad_utf8_cn"]["error"] and not by["odd_bad_utf8_cn"]["stapleable"]
    assert endpoints == [{"host": "127.0.0.1", "port": 1, "protocol": "tcp", "uris": [URI], "addresses": [],
                          "resolve_error": None}]


def test_odd_chain_certificate_is_only_skipped(pki, tmp_path):
    odd = open(pki.odd["odd_critical_false"].cert_path, "rb").read()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(open(pki.certs["good"].fullchain_path, "rb").read() + odd)
    entry = _responder_info.inspect_all([{"path": str(bundle), "chain_path": None, "ca_path": None,
                                          "vhosts": None}], resolve=False)[0][0]
    assert entry["stapleable"] and entry["issuer_found"], entry
    assert [w["what"] for w in entry["warnings"]] == ["issuer candidate"]


def test_issuer_match_survives_an_undecodable_name(pki):
    cert = x509.load_der_x509_certificate(pki.odd["odd_bad_utf8_cn"].odd_der)
    assert _x509.find_issuer(cert, [pki.rogue.cert, pki.intermediate.cert]) is pki.intermediate.cert
    assert _x509.find_issuer(pki.certs["good"].cert, [cert]) is None


def test_unknown_key_type_never_verifies():
    key = x25519.X25519PrivateKey.generate().public_key()
    assert _x509.verify_signature(key, b"sig", b"data", None) is False
    assert _x509.verify_signature(object(), b"sig", b"data", None) is False


@pytest.mark.parametrize("data", [b"\x30\x82\xff\xff", b"\x30\x03\x02\x01", b"\x30\x00", b"\x30\x80\x00\x00"])
def test_truncated_der_is_named_not_raised(data):
    with pytest.raises(_x509.StaplingError) as err:
        _x509.load_pem_or_der_certificates(data, "/srv/bad.der")
    assert "/srv/bad.der" in err.value.msg


def test_must_staple_and_aia_read_from_the_der_directly(pki):
    # The helpers themselves (not only certificate_summary's fallback) answer from the DER.
    cert = x509.load_der_x509_certificate(pki.odd["odd_dup_bc_must_staple"].odd_der)
    assert _x509.must_staple(cert) == (True, False)
    assert _x509.aia_uris(cert) == ([URI], ["http://ca.lab.test/intermediate.crt"])
    plain = x509.load_der_x509_certificate(pki.odd["odd_dup_basic_constraints"].odd_der)
    assert _x509.must_staple(plain) == (False, False)
