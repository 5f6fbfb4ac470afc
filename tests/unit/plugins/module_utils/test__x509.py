"""Reading deployed certificates: formats, bad input, AIA, must-staple, issuer by signature."""

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.ocsp.stapling.plugins.module_utils import _x509
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from lab.pki import PKI


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI.create(str(tmp_path_factory.mktemp("pki")), "http://127.0.0.1:1/ocsp")


def pem(issued):
    return issued.cert.public_bytes(serialization.Encoding.PEM)


def test_pem_bundle_with_key_returns_certs_only(pki):
    leaf = pki.certs["good"]
    key = open(leaf.key_path, "rb").read()
    certs = _x509.load_pem_or_der_certificates(key + pem(leaf) + pem(pki.intermediate), "bundle.pem")
    assert [c.serial_number for c in certs] == [leaf.serial, pki.intermediate.serial]


def test_der_certificate(pki):
    der = pki.certs["good"].cert.public_bytes(serialization.Encoding.DER)
    assert _x509.load_pem_or_der_certificates(der, "x.der")[0].serial_number == pki.certs["good"].serial


def test_key_only_file_is_refused_without_echoing_the_key(pki):
    key = open(pki.certs["good"].key_path, "rb").read()
    with pytest.raises(StaplingError) as err:
        _x509.load_pem_or_der_certificates(key, "/etc/ssl/private/good.key")
    assert "holds no certificate (found: PRIVATE KEY)" in err.value.msg
    body = key.decode().splitlines()[1]
    assert body[:20] not in err.value.msg


@pytest.mark.parametrize("data", [b"garbage", b"\x30\x03\x02\x01\x01", b""])
def test_garbage_is_named(data):
    with pytest.raises(StaplingError) as err:
        _x509.load_pem_or_der_certificates(data, "/srv/bad.crt")
    assert "/srv/bad.crt is neither a PEM certificate nor a DER certificate" in err.value.msg


def test_broken_pem_block(pki):
    text = pem(pki.certs["good"]).replace(b"MII", b"XXX", 1)
    with pytest.raises(StaplingError) as err:
        _x509.load_pem_or_der_certificates(text, "broken.pem")
    assert "broken.pem: certificate block 1 is not a valid certificate" in err.value.msg


def test_huge_and_missing_files(tmp_path):
    big = tmp_path / "big.pem"
    big.write_bytes(b"A" * (_x509.MAX_FILE_SIZE + 10))
    with pytest.raises(StaplingError, match="larger than"):
        _x509.read_file(str(big))
    with pytest.raises(StaplingError, match="cannot read certificate file .*/missing.pem: No such file"):
        _x509.read_file(str(tmp_path / "missing.pem"))


def test_summary_of_leaves(pki):
    good = _x509.certificate_summary(pki.certs["good"].cert)
    assert good["ocsp_uris"] == ["http://127.0.0.1:1/ocsp"] and good["has_ocsp_uri"]
    assert good["ca_issuers_uris"] == ["http://ca.lab.test/intermediate.crt"]
    assert good["sans"] == ["good.lab.test"] and not good["must_staple"] and not good["expired"]
    assert good["serial"] == "%X" % pki.certs["good"].serial or good["serial"] == "0%X" % pki.certs["good"].serial
    assert len(good["fingerprint_sha256"].split(":")) == 32
    assert _x509.certificate_summary(pki.certs["no_uri"].cert)["has_ocsp_uri"] is False
    assert _x509.certificate_summary(pki.certs["must_staple"].cert)["must_staple"] is True
    assert _x509.certificate_summary(pki.certs["expired"].cert)["expired"] is True


def test_issuer_is_matched_by_signature_not_name(pki):
    leaf = pki.certs["good"].cert
    assert pki.rogue.cert.subject == pki.intermediate.cert.subject
    assert _x509.find_issuer(leaf, [pki.rogue.cert]) is None
    assert _x509.find_issuer(leaf, [pki.rogue.cert, pki.intermediate2.cert, pki.intermediate.cert]) is pki.intermediate.cert
    assert _x509.find_issuer(pki.certs["second_issuer"].cert, [pki.intermediate.cert]) is None


def test_pem_reader_is_linear_in_unterminated_begin_lines():
    """Issue 24 #6: a 1 MiB file (the cap) of BEGIN lines without END took 357 s (a lazy regex looked for the END
    from every BEGIN). Now one pass; the file holds no complete block, which is the answer."""
    from lab.guard import bounded
    line = b"-----BEGIN CERTIFICATE-----\n"
    data = line * (_x509.MAX_FILE_SIZE // len(line))
    with bounded(30, "reading 1 MiB of BEGIN lines"):
        with pytest.raises(StaplingError, match="holds no certificate"):
            _x509.load_pem_or_der_certificates(data, "begins.pem")


def test_pem_reader_is_linear_in_begin_lines_before_a_mismatched_end():
    from lab.guard import bounded
    line = b"-----BEGIN CERTIFICATE-----\n"
    data = line * (_x509.MAX_FILE_SIZE // len(line) - 2) + b"-----END X509 CRL-----\n"
    with bounded(30, "reading 1 MiB of BEGIN lines and one END"):
        with pytest.raises(StaplingError):
            _x509.load_pem_or_der_certificates(data, "begins.pem")


@pytest.mark.parametrize("text, found", [
    # what OpenSSL's PEM_read_bio (mod_ssl's reader) makes of the same bytes, checked with pyOpenSSL
    (b"-----BEGIN CERTIFICATE-----\n", "no certificate"),          # a stray BEGIN before a block: refused
    (b"noise\n-----BEGIN CERTIFICATE----\n", None),                # not a BEGIN line (four dashes): ignored
    (b"-----BEGIN lower-----\n", None),                             # not a PEM label: ignored
])
def test_pem_reader_odd_lines_before_a_certificate(pki, text, found):
    data = text + pem(pki.certs["good"])
    if found is None:
        assert _x509.load_pem_or_der_certificates(data, "odd.pem")[0].serial_number == pki.certs["good"].serial
    else:
        with pytest.raises(StaplingError, match="odd.pem"):
            _x509.load_pem_or_der_certificates(data, "odd.pem")


def test_pem_block_with_a_mismatched_end_line_is_refused_like_openssl(pki):
    good = pem(pki.certs["good"])
    data = good.replace(b"-----END CERTIFICATE-----", b"-----END X509 CRL-----") + pem(pki.intermediate)
    with pytest.raises(StaplingError, match="mism.pem: certificate block 1 ends with -----END X509 CRL-----"):
        _x509.load_pem_or_der_certificates(data, "mism.pem")
    # a non-certificate block (a key) with a bad end is skipped as keys are, never decoded
    key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"
    assert len(_x509.load_pem_or_der_certificates(key + good, "k.pem")) == 1
