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
        return {n: c for n, c in self.certs.items() if not c.cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca and n not in ("delegate", "delegate_no_eku")}

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
        for attr in ("root", "intermediate", "intermediate2", "delegate", "delegate_no_eku", "rogue"):
            setattr(pki, attr, pki.certs.get(attr))
        return pki
