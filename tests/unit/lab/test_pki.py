"""The lab's PKI: the relations the tests rely on hold, and it round-trips through disk."""

import os
import stat

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from lab.pki import PKI
from lab.responders import _bit_string_value


def ocsp_uris(cert):
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]


def test_pki_relations_and_files(tmp_path):
    pki = PKI.create(str(tmp_path / "pki"), "http://127.0.0.1:1/", second_ocsp_url="http://127.0.0.1:2/")
    assert ocsp_uris(pki.certs["good"].cert) == ["http://127.0.0.1:1/"]
    assert ocsp_uris(pki.certs["second_issuer"].cert) == ["http://127.0.0.1:2/"]
    assert ocsp_uris(pki.certs["no_uri"].cert) == []
    assert pki.certs["second_issuer"].issuer is pki.intermediate2
    pki.certs["good"].cert.verify_directly_issued_by(pki.intermediate.cert)
    tls = pki.certs["must_staple"].cert.extensions.get_extension_for_class(x509.TLSFeature).value
    assert list(tls) == [x509.TLSFeatureType.status_request]
    eku = pki.delegate.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.OCSP_SIGNING in eku
    assert pki.rogue.cert.subject == pki.intermediate.cert.subject
    assert pki.rogue.cert.public_key().public_numbers() != pki.intermediate.cert.public_key().public_numbers()
    assert stat.S_IMODE(os.stat(pki.certs["good"].key_path).st_mode) == 0o600
    index = open(pki.index_path).read().splitlines()
    revoked = [line for line in index if line.startswith("R\t")]
    assert len(revoked) == 1 and "revoked.lab.test" in revoked[0]


def test_pki_loads_back(tmp_path):
    made = PKI.create(str(tmp_path / "pki"), "http://127.0.0.1:1/")
    loaded = PKI.load(made.directory)
    assert loaded.certs["good"].serial == made.certs["good"].serial
    assert loaded.certs["second_issuer"].issuer.name == "intermediate2"
    assert set(loaded.revoked) == {made.certs["revoked"].serial}
    assert loaded.find_by_serial(made.certs["expired"].serial).name == "expired"


def test_issuer_key_hash_input_is_the_bit_string(tmp_path):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp
    pki = PKI.create(str(tmp_path / "pki"), "http://127.0.0.1:1/")
    leaf = pki.certs["good"]
    req = ocsp.OCSPRequestBuilder().add_certificate(leaf.cert, pki.intermediate.cert, hashes.SHA1()).build()
    spki = pki.intermediate.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA1())
    digest.update(_bit_string_value(spki))
    assert digest.finalize() == req.issuer_key_hash
