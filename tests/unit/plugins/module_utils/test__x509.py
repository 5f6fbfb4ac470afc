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


# --- the DER and PEM readers' edges, element by element (X.690's DER rules; OpenSSL's PEM lines) ---------------
@pytest.mark.parametrize("data, limit, found", [
    (b"\x30\x03abc", 5, (b"\x30", 2, 5)),                          # short form, exactly filling its container
    (b"\x30\x03abcdef", 8, (b"\x30", 2, 5)),                       # the container goes on after it
    (b"\x04\x81\x03abc", 6, (b"\x04", 3, 6)),                      # long form, one length byte
    (b"\x04\x84\x00\x00\x00\x01x", 7, (b"\x04", 6, 7)),            # long form, four length bytes (the most we take)
    (b"\x1f\x81\x01\x00", 4, (b"\x1f\x81\x01", 4, 4)),             # high tag number form: the tag runs on while bit 8 is set
    (b"\x9f\x22\x01x", 4, (b"\x9f\x22", 3, 4)),                     # context-specific, high tag number, one byte
    (b"\x30\x81\x00", 3, (b"\x30", 3, 3)),                          # long form ending the container: empty content
])
def test_der_element_header(data, limit, found):
    assert _x509._der_tlv(data, 0, limit) == found


@pytest.mark.parametrize("data, limit, message", [
    (b"", 0, "expected at offset 0"),                                 # nothing where an element must be
    (b"\x30\x00", 0, "expected at offset 0"),                         # the container ended before it
    (b"\x30", 1, "truncated DER header"),                             # no length byte
    (b"\x1f\x81", 2, "truncated DER header"),                         # the high tag number runs to the end
    (b"\x30\x80\x00\x00", 4, "bad DER length"),                       # indefinite length: BER, never DER
    (b"\x30\x85\x00\x00\x00\x00\x01x", 8, "bad DER length"),          # five length bytes: more than any file we read
    (b"\x30\x82\x01", 3, "bad DER length"),                           # the length bytes run past the container
    (b"\x30\x05abc", 5, "runs past its container"),                   # the content runs past the data
    (b"\x30\x03abcdef", 4, "runs past its container"),                # ... or past a container shorter than the data
    (b"\x30\x81\x04abcd", 6, "runs past its container"),              # long form too
])
def test_der_element_header_refused(data, limit, message):
    with pytest.raises(ValueError, match=message):
        _x509._der_tlv(data, 0, limit)


def test_der_element_at_an_offset_names_that_offset():
    data = b"\x30\x02\x04\x05"
    assert _x509._der_tlv(data, 0, 4) == (b"\x30", 2, 4)
    with pytest.raises(ValueError, match="offset 2 runs past"):
        _x509._der_tlv(data, 2, 4)


@pytest.mark.parametrize("data, start, found", [
    (b"CERTIFICATE-----\n", 0, (b"CERTIFICATE", 16)),
    (b"-----BEGIN X509 CRL-----", 11, (b"X509 CRL", 24)),
    (b"CERTIFICATE\n", 0, (None, 0)),                       # no closing dashes at all
    (b"CERTIFICATE", 0, (None, 0)),                         # ... not even a line break
    (b"CERT\nIFICATE-----", 0, (None, 0)),                  # the dashes are on another line
    (b"xx certificate-----", 3, (None, 3)),                 # not a PEM label (lower case)
])
def test_pem_label(data, start, found):
    assert _x509._pem_label(data, start) == found


def test_pem_blocks_are_found_exactly():
    one = b"-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----"
    two = b"-----BEGIN X509 CRL-----\nREVG\n-----END X509 CRL-----"
    data = b"noise\n" + one + b"\n" + b"-----BEGIN lower-----\n" + two + b"\ntrailer\n"
    assert list(_x509._pem_blocks(data)) == [
        (b"CERTIFICATE", one, b"\nQUJD\n", b"CERTIFICATE"),
        (b"X509 CRL", two, b"\nREVG\n", b"X509 CRL"),
    ]


def test_pem_block_with_a_bad_end_line_reports_what_the_end_line_says():
    """OpenSSL: "bad end line". The END line's text is reported as found (its first 40 characters, to the line's
    end) and the block ends where the END marker's label would start."""
    body = b"\nQUJD\n"
    data = b"-----BEGIN CERTIFICATE-----" + body + b"-----END certificate-----\nrest"
    assert list(_x509._pem_blocks(data)) == [
        (b"CERTIFICATE", b"-----BEGIN CERTIFICATE-----" + body + b"-----END ", body, b"certificate-----")]
    long_label = b"x" * 50
    data = b"-----BEGIN CERTIFICATE-----" + body + b"-----END " + long_label
    assert list(_x509._pem_blocks(data))[0][3] == b"x" * 40


def test_pem_block_right_after_a_begin_without_a_label():
    block = b"-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----"
    assert list(_x509._pem_blocks(b"-----BEGIN " + block)) == [(b"CERTIFICATE", block, b"\nQUJD\n", b"CERTIFICATE")]


def test_pem_blocks_stop_at_a_begin_without_end():
    data = b"-----BEGIN CERTIFICATE-----\nQUJD\n"
    assert list(_x509._pem_blocks(data)) == []
