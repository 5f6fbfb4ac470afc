"""A throwaway PKI for the lab, built with ``cryptography``.

root CA -> intermediate CA -> leaves (good, revoked, no_uri, must_staple, expired),
root CA -> second intermediate -> leaf second_issuer, a delegated OCSP signer issued by
the intermediate (id-kp-OCSPSigning), one without that EKU, and a self-signed rogue.
EC P-256 keys (fast); the ``good`` leaf is RSA 2048 for variety.

``PKI.create(directory, ocsp_url)`` writes everything below ``directory`` and returns
the object; ``PKI.load(directory)`` reads it back (another process: CLI ``down``,
the fault responder).
"""

import datetime
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

UTC = datetime.timezone.utc


def _now():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocsp.stapling lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key(kind="ec"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Issued(object):
    """A certificate of the lab with its key and files."""

    def __init__(self, name, cert, key, directory, issuer=None):
        self.name = name
        self.cert = cert
        self.key = key
        self.issuer = issuer
        self.cert_path = os.path.join(directory, name + ".crt")
        self.key_path = os.path.join(directory, name + ".key")
        self.chain_path = os.path.join(directory, name + ".chain.pem")
        self.fullchain_path = os.path.join(directory, name + ".fullchain.pem")

    @property
    def serial(self):
        return self.cert.serial_number

    @property
    def dns_names(self):
        try:
            ext = self.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return []
        return ext.value.get_values_for_type(x509.DNSName)

    @property
    def server_name(self):
        names = self.dns_names
        return names[0] if names else self.name + ".lab.test"

    def chain(self):
        """Issuing certificates up to, not including, the root."""
        out, issuer = [], self.issuer
        while issuer is not None and issuer.issuer is not None:
            out.append(issuer)
            issuer = issuer.issuer
        return out

    def write(self):
        with open(self.cert_path, "wb") as f:
            f.write(_pem(self.cert))
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(_key_pem(self.key))
        chain = b"".join(_pem(c.cert) for c in self.chain())
        with open(self.chain_path, "wb") as f:
            f.write(chain)
        with open(self.fullchain_path, "wb") as f:
            f.write(_pem(self.cert) + chain)


class PKI(object):
    """The lab's certificate authority: see the module docstring."""

    LEAVES = ("good", "revoked", "no_uri", "must_staple", "expired", "second_issuer")

    def __init__(self, directory, ocsp_url):
        self.directory = directory
        self.ocsp_url = ocsp_url
        self.certs = {}
        self.revoked = {}  # serial -> revocation time (ISO)

    # --- building -------------------------------------------------------------------
    def _sign(self, name, subject_cn, key, issuer, ca=False, path_length=None, sans=None, ocsp_uris=None,
              ca_issuers=True, must_staple=False, eku=None, not_before=None, not_after=None):
        now = _now()
        not_before = not_before or now - datetime.timedelta(days=1)
        not_after = not_after or now + datetime.timedelta(days=90)
        issuer_key = issuer.key if issuer else key
        issuer_name = issuer.cert.subject if issuer else _name(subject_cn)
        builder = (x509.CertificateBuilder()
                   .subject_name(_name(subject_cn))
                   .issuer_name(issuer_name)
                   .public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before)
                   .not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
                critical=True)
        else:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey), data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
                critical=True)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]),
                                            critical=False)
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        access = []
        for uri in ocsp_uris or []:
            access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                                 x509.UniformResourceIdentifier(uri)))
        if issuer and ca_issuers:
            access.append(x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier("http://ca.lab.test/" + issuer.name + ".crt")))
        if access:
            builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
        if must_staple:
            builder = builder.add_extension(x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False)
        cert = builder.sign(issuer_key, hashes.SHA256())
        issued = Issued(name, cert, key, self.directory, issuer)
        self.certs[name] = issued
        return issued

    @classmethod
    def create(cls, directory, ocsp_url, second_ocsp_url=None):
        """Build the lab PKI. Leaves of the intermediate name ``ocsp_url`` in their AIA;
        ``second_issuer`` names ``second_ocsp_url`` (default: the same)."""
        os.makedirs(directory, exist_ok=True)
        pki = cls(directory, ocsp_url)
        pki.root = pki._sign("root", "Lab Root CA", _key(), None, ca=True)
        pki.intermediate = pki._sign("intermediate", "Lab Intermediate CA", _key(), pki.root, ca=True, path_length=0)
        pki.intermediate2 = pki._sign("intermediate2", "Lab Second Intermediate CA", _key(), pki.root, ca=True,
                                      path_length=0)
        pki.delegate = pki._sign("delegate", "Lab OCSP Responder", _key(), pki.intermediate,
                                 eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
        pki.delegate_no_eku = pki._sign("delegate_no_eku", "Lab OCSP Responder without EKU", _key(),
                                        pki.intermediate, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
        pki.rogue = pki._sign("rogue", "Lab Intermediate CA", _key(), None, ca=True)  # same name, other key
        pki.issue_leaf("good", key_type="rsa")
        pki.issue_leaf("revoked")
        pki.issue_leaf("no_uri", ocsp_uris=[])
        pki.issue_leaf("must_staple", must_staple=True)
        now = _now()
        pki.issue_leaf("expired", not_before=now - datetime.timedelta(days=30),
                       not_after=now - datetime.timedelta(days=1))
        pki.issue_leaf("second_issuer", issuer=pki.intermediate2, ocsp_uris=[second_ocsp_url or ocsp_url])
        pki.revoke("revoked")
        pki.save()
        return pki

    def add_rsa_chain(self):
        """An all-RSA chain beside the P-256 one, as public CAs have: ``rsa_root`` -> ``rsa_intermediate``
        -> leaf ``rsa_leaf`` (OCSP URI the lab's), a delegate ``rsa_delegate`` (id-kp-OCSPSigning), all RSA 2048
        signed PKCS#1 v1.5 SHA-256. Not built by ``create`` (RSA keys cost time); idempotent."""
        if "rsa_intermediate" in self.certs:
            return self
        self.rsa_root = self._sign("rsa_root", "Lab RSA Root CA", _key("rsa"), None, ca=True)
        self.rsa_intermediate = self._sign("rsa_intermediate", "Lab RSA Intermediate CA", _key("rsa"), self.rsa_root,
                                           ca=True, path_length=0)
        self.rsa_delegate = self._sign("rsa_delegate", "Lab RSA OCSP Responder", _key("rsa"), self.rsa_intermediate,
                                       eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
        self.issue_leaf("rsa_leaf", issuer=self.rsa_intermediate, key_type="rsa", write=False)
        self.save()
        return self

    def add_delegate_without_eku_extension(self):
        """``delegate_without_eku``: issued by the intermediate, with no extendedKeyUsage extension at all
        (``delegate_no_eku`` has one, serverAuth). Not built by ``create``; idempotent."""
        if "delegate_without_eku" not in self.certs:
            self.delegate_without_eku = self._sign("delegate_without_eku", "Lab OCSP Responder without any EKU",
                                                   _key(), self.intermediate)
            self.save()
        return self.certs["delegate_without_eku"]

    def issue_leaf(self, name, ocsp_uris=None, must_staple=False, issuer=None, key_type="ec", sans=None,
                   not_before=None, not_after=None, write=True):
        """Issue a TLS server certificate; ``ocsp_uris=None`` means the lab's default responder."""
        if ocsp_uris is None:
            ocsp_uris = [self.ocsp_url]
        sans = sans or [name.replace("_", "-") + ".lab.test"]
        leaf = self._sign(name, sans[0], _key(key_type), issuer or self.intermediate, sans=sans,
                          ocsp_uris=ocsp_uris, must_staple=must_staple, eku=[ExtendedKeyUsageOID.SERVER_AUTH],
                          not_before=not_before, not_after=not_after)
        if write:
            leaf.write()
            self.save()
        return leaf

    def revoke(self, name, when=None):
        when = when or _now() - datetime.timedelta(hours=1)
        self.revoked[self.certs[name].serial] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.save()

    # --- files ----------------------------------------------------------------------
    @property
    def root_path(self):
        return self.root.cert_path

    @property
    def ca_bundle_path(self):
        return os.path.join(self.directory, "ca-bundle.pem")

    @property
    def index_path(self):
        return os.path.join(self.directory, "index.txt")

    @property
    def leaves(self):
        delegates = ("delegate", "delegate_no_eku", "rsa_delegate", "delegate_without_eku")
        return {n: c for n, c in self.certs.items() if not c.cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca and n not in delegates}

    def find_by_serial(self, serial):
        for issued in self.certs.values():
            if issued.serial == serial:
                return issued
        return None

    def save(self):
        for issued in self.certs.values():
            if not os.path.exists(issued.cert_path):
                issued.write()
        with open(self.ca_bundle_path, "wb") as f:
            f.write(b"".join(_pem(self.certs[n].cert) for n in ("root", "intermediate", "intermediate2")
                             if n in self.certs))
        self._write_index()
        meta = {"ocsp_url": self.ocsp_url, "revoked": {str(k): v for k, v in self.revoked.items()},
                "certs": {n: (c.issuer.name if c.issuer else None) for n, c in self.certs.items()}}
        with open(os.path.join(self.directory, "pki.json"), "w") as f:
            json.dump(meta, f, indent=1)

    def _write_index(self):
        """OpenSSL CA database (index.txt) of the intermediate's leaves, for ``openssl ocsp``."""
        lines = []
        for issued in self.certs.values():
            if issued.issuer is not self.certs.get("intermediate"):
                continue
            cert = issued.cert
            exp = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
            serial = "%X" % cert.serial_number
            if len(serial) % 2:
                serial = "0" + serial
            subject = "/" + "/".join("{0}={1}".format(a.oid._name if a.oid._name != "Unknown OID" else a.oid.dotted_string,
                                                      a.value) for a in cert.subject)
            subject = subject.replace("organizationName", "O").replace("commonName", "CN")
            if cert.serial_number in self.revoked:
                rev = datetime.datetime.strptime(self.revoked[cert.serial_number], "%Y-%m-%dT%H:%M:%SZ")
                lines.append("R\t{0}\t{1}\t{2}\tunknown\t{3}".format(exp, rev.strftime("%y%m%d%H%M%SZ"), serial, subject))
            else:
                lines.append("V\t{0}\t\t{1}\tunknown\t{2}".format(exp, serial, subject))
        with open(self.index_path, "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))

    @classmethod
    def load(cls, directory):
        with open(os.path.join(directory, "pki.json")) as f:
            meta = json.load(f)
        pki = cls(directory, meta["ocsp_url"])
        pki.revoked = {int(k): v for k, v in meta["revoked"].items()}
        pending = dict(meta["certs"])
        while pending:
            for name, issuer in list(pending.items()):
                if issuer is not None and issuer not in pki.certs:
                    continue
                with open(os.path.join(directory, name + ".crt"), "rb") as f:
                    cert = x509.load_pem_x509_certificate(f.read())
                with open(os.path.join(directory, name + ".key"), "rb") as f:
                    key = serialization.load_pem_private_key(f.read(), None)
                pki.certs[name] = Issued(name, cert, key, directory, pki.certs.get(issuer) if issuer else None)
                del pending[name]
        for attr in ("root", "intermediate", "intermediate2", "delegate", "delegate_no_eku", "rogue", "rsa_root",
                     "rsa_intermediate", "rsa_delegate", "delegate_without_eku"):
            setattr(pki, attr, pki.certs.get(attr))
        return pki


# ---------------------------------------------------------------------------------------
# Odd certificates: what real CAs, conformance suites and hand-made encodings carry.
# cryptography's builder makes what it allows (raw extension values); DER surgery on the
# to-be-signed part, re-signed with the issuer's key, makes what it refuses.
# ---------------------------------------------------------------------------------------

def _der_len(n):
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def der_tlv(tag, content):
    """One DER element: tag byte(s), definite length, content."""
    return bytes(tag) + _der_len(len(content)) + content


def der_split(data):
    """[(tag, content, whole_element)] of consecutive DER elements (single-byte tags only)."""
    out, pos = [], 0
    while pos < len(data):
        tag = data[pos:pos + 1]
        length, hdr = data[pos + 1], 2
        if length & 0x80:
            count = length & 0x7F
            length, hdr = int.from_bytes(data[pos + 2:pos + 2 + count], "big"), 2 + count
        out.append((tag, data[pos + hdr:pos + hdr + length], data[pos:pos + hdr + length]))
        pos += hdr + length
    return out


def _resign(tbs_fields, issuer, signature_algorithm=None):
    """A Certificate from TBSCertificate fields (whole elements), signed ECDSA-SHA256 by issuer (EC key)."""
    from cryptography.hazmat.primitives.asymmetric import ec as _ec
    tbs = der_tlv(b"\x30", b"".join(tbs_fields))
    signature = issuer.key.sign(tbs, _ec.ECDSA(hashes.SHA256()))
    alg = signature_algorithm or der_tlv(b"\x30", der_tlv(b"\x06", bytes.fromhex("2a8648ce3d040302")))
    return der_tlv(b"\x30", tbs + alg + der_tlv(b"\x03", b"\x00" + signature))


def _tbs_of(cert):
    """TBSCertificate fields of cert, as whole DER elements."""
    return [whole for _t, _c, whole in der_split(der_split(cert.tbs_certificate_bytes)[0][1])]


def _extensions_of(fields):
    """(index of the [3] field, [whole Extension elements])."""
    index = [i for i, f in enumerate(fields) if f[:1] == b"\xa3"][0]
    inner = der_split(der_split(fields[index])[0][1])[0][1]
    return index, [whole for _t, _c, whole in der_split(inner)]


def _with_extensions(fields, index, extensions):
    out = list(fields)
    out[index] = der_tlv(b"\xa3", der_tlv(b"\x30", b"".join(extensions)))
    return out


def _sct_list_unknown_algorithms():
    """An SCT list (RFC 6962) whose one SCT names hash 0xEE and signature 0xEE: no such algorithms."""
    sct = (b"\x00" + b"\x11" * 32 + (1700000000000).to_bytes(8, "big") + b"\x00\x00" + b"\xee\xee"
           + (4).to_bytes(2, "big") + b"\x01\x02\x03\x04")
    body = len(sct).to_bytes(2, "big") + sct
    return der_tlv(b"\x04", len(body).to_bytes(2, "big") + body)


ODD_CERTIFICATES = {
    # name: what is odd (cryptography's view; OpenSSL's is the test's oracle)
    "odd_dup_basic_constraints": "basicConstraints twice (cryptography: DuplicateExtension)",
    "odd_dup_bc_must_staple": "basicConstraints twice, and must-staple",
    "odd_x400_san": "an x400Address in the SAN (cryptography: UnsupportedGeneralNameType)",
    "odd_sct_unknown_alg": "an embedded SCT with unknown hash and signature algorithms",
    "odd_empty_eku": "an empty extendedKeyUsage",
    "odd_bad_utf8_cn": "invalid UTF-8 in the subject CN",
    "odd_bad_utctime": "notAfter a UTCTime without seconds",
    "odd_critical_false": "an extension with an explicit DEFAULT critical FALSE",
    "odd_invalid_version": "version field 5",
    "odd_null_sig_params": "ecdsa-with-SHA256 with NULL parameters",
    "odd_dup_aia": "the AIA extension twice (OpenSSL then finds no OCSP URI either)",
    "odd_x400_in_aia": "an AIA with an x400Address location before the OCSP URI",
}


def issue_odd_certificates(pki, ocsp_url=None, names=None):
    """Issue the odd certificates of ODD_CERTIFICATES under the intermediate, each with an OCSP URI.

    Returns {name: Issued}, files under ``<pki>/odd/`` and not among ``pki.certs``: each ``.cert_path``
    is a PEM file of the odd DER (``.cert`` is the well-formed certificate the surgery started from),
    ``.fullchain_path`` adds the intermediate, ``.key_path`` its key. ``Issued.odd_der`` is the odd DER."""
    import base64 as _b64
    ocsp_url = ocsp_url or pki.ocsp_url
    out = {}
    for name in names or ODD_CERTIFICATES:
        extra = {}
        if name == "odd_dup_bc_must_staple":
            extra["must_staple"] = True
        base = pki._sign(name, name.replace("_", "-") + ".lab.test", _key(), pki.intermediate,
                         sans=[name.replace("_", "-") + ".lab.test"], ocsp_uris=[ocsp_url],
                         eku=[ExtendedKeyUsageOID.SERVER_AUTH], **extra)
        fields = _tbs_of(base.cert)
        index, exts = _extensions_of(fields)
        signature_algorithm = None
        if name in ("odd_dup_basic_constraints", "odd_dup_bc_must_staple"):
            bc = [e for e in exts if bytes.fromhex("0603551d13") in e][0]
            fields = _with_extensions(fields, index, exts + [bc])
        elif name == "odd_dup_aia":
            aia = [e for e in exts if bytes.fromhex("06082b06010505070101") in e][0]
            fields = _with_extensions(fields, index, exts + [aia])
        elif name in ("odd_x400_san", "odd_sct_unknown_alg", "odd_empty_eku", "odd_x400_in_aia"):
            if name == "odd_x400_san":
                raw = der_tlv(b"\x06", bytes.fromhex("551d11")) + der_tlv(b"\x04", bytes.fromhex("3004a3020500"))
                exts = [e for e in exts if bytes.fromhex("0603551d11") not in e]
            elif name == "odd_sct_unknown_alg":
                raw = (der_tlv(b"\x06", bytes.fromhex("2b06010401d679020402"))
                       + der_tlv(b"\x04", _sct_list_unknown_algorithms()))
            elif name == "odd_empty_eku":
                raw = der_tlv(b"\x06", bytes.fromhex("551d25")) + der_tlv(b"\x04", b"\x30\x00")
                exts = [e for e in exts if bytes.fromhex("0603551d25") not in e]
            else:
                x400 = der_tlv(b"\x30", der_tlv(b"\x06", bytes.fromhex("2b06010505073001")) + b"\xa3\x02\x05\x00")
                uri = der_tlv(b"\x30", der_tlv(b"\x06", bytes.fromhex("2b06010505073001"))
                              + der_tlv(b"\x86", ocsp_url.encode()))
                aia = der_tlv(b"\x30", x400 + uri)
                raw = der_tlv(b"\x06", bytes.fromhex("2b06010505070101")) + der_tlv(b"\x04", aia)
                exts = [e for e in exts if bytes.fromhex("06082b06010505070101") not in e]
            fields = _with_extensions(fields, index, exts + [der_tlv(b"\x30", raw)])
        elif name == "odd_critical_false":
            ski = [e for e in exts if bytes.fromhex("0603551d0e") in e][0]
            parts = [w for _t, _c, w in der_split(der_split(ski)[0][1])]
            odd = der_tlv(b"\x30", parts[0] + b"\x01\x01\x00" + parts[1])
            fields = _with_extensions(fields, index, [odd if e == ski else e for e in exts])
        elif name == "odd_bad_utf8_cn":
            subject = 5 if fields[0][:1] == b"\xa0" else 4
            cn = base.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.encode()
            odd_cn = b"\xff\xfe" + cn[2:]
            assert fields[subject].count(cn) == 1
            fields[subject] = _retag(fields[subject], cn, odd_cn)
        elif name == "odd_bad_utctime":
            validity = 4 if fields[0][:1] == b"\xa0" else 3
            times = [w for _t, _c, w in der_split(der_split(fields[validity])[0][1])]
            not_after = der_split(times[1])[0][1]
            if len(not_after) == 13:  # UTCTime YYMMDDHHMMSSZ -> YYMMDDHHMMZ (seconds omitted)
                times[1] = der_tlv(b"\x17", not_after[:10] + b"Z")
            fields[validity] = der_tlv(b"\x30", b"".join(times))
        elif name == "odd_invalid_version":
            fields[0] = der_tlv(b"\xa0", der_tlv(b"\x02", b"\x05"))
        elif name == "odd_null_sig_params":
            signature_algorithm = der_tlv(b"\x30", der_tlv(b"\x06", bytes.fromhex("2a8648ce3d040302")) + b"\x05\x00")
            alg_index = 2 if fields[0][:1] == b"\xa0" else 1
            fields[alg_index] = signature_algorithm
        der = _resign(fields, pki.intermediate, signature_algorithm)
        base.odd_der = der
        # Not one of the PKI's own certificates: PKI.load (the fault responder) must not meet what it cannot read.
        del pki.certs[name]
        odd_dir = os.path.join(pki.directory, "odd")
        os.makedirs(odd_dir, exist_ok=True)
        base.cert_path, base.key_path, base.chain_path, base.fullchain_path = (
            os.path.join(odd_dir, name + suffix) for suffix in (".crt", ".key", ".chain.pem", ".fullchain.pem"))
        base.write()
        pem = (b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(
            _b64.encodebytes(der).split(b"\n")) .rstrip(b"\n") + b"\n-----END CERTIFICATE-----\n")
        with open(base.cert_path, "wb") as f:
            f.write(pem)
        with open(base.fullchain_path, "wb") as f:
            f.write(pem + _pem(pki.intermediate.cert))
        out[name] = base
    return out


def _retag(element, old, new):
    """element with the bytes old replaced by new (same length: no lengths change)."""
    assert len(old) == len(new)
    return element.replace(old, new)
