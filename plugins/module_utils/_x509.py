# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: reading deployed certificates (AIA, must-staple, issuer by signature).

Pure Python over ``cryptography`` (>= 3.4, what Debian 11 / RHEL 9 ship), no AnsibleModule.
Private keys found in a PEM bundle are skipped and never echoed.
"""

from __future__ import annotations

import binascii
import datetime
import re

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import AuthorityInformationAccessOID
except ImportError:  # reported by _deps.require_cryptography() in the module
    pass

MAX_FILE_SIZE = 1024 * 1024  # a certificate bundle larger than this is not what Apache serves
# Per-process caches (one module run): a chain certificate parsed once however many files repeat it, and
# its public key decoded once however many leaves it is checked against. Keyed by content, never by path.
_PARSED = {}
_PUBLIC_KEYS = {}

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)-----END \1-----", re.S)


def read_file(path, what="certificate file"):
    """Bytes of path, refusing huge files; StaplingError naming the path otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)
    except (IOError, OSError) as exc:
        raise StaplingError("cannot read {0} {1}: {2}. Check the path and that the task may read it "
                            "(become: true for files readable by root only).".format(what, path, exc.strerror or exc))
    if len(data) > MAX_FILE_SIZE:
        raise StaplingError("{0} {1} is larger than {2} bytes: not a certificate bundle. Point to the PEM "
                            "certificate file Apache serves.".format(what, path, MAX_FILE_SIZE))
    return data


def load_pem_or_der_certificates(data, source):
    """Every certificate in data (PEM bundle or one DER certificate), in file order.

    PEM blocks that are not certificates (private keys, parameters) are skipped without
    being decoded or echoed. Raises StaplingError naming ``source`` when there is none.
    """
    if b"-----BEGIN" in data:
        certs, other = [], []
        for match in _PEM_BLOCK.finditer(data):
            label = match.group(1).decode("ascii", "replace")
            if label not in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
                other.append(label)
                continue
            block = match.group(0)
            try:
                cert = _PARSED.get(block)
                if cert is None:
                    cert = x509.load_pem_x509_certificate(block.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE"))
                    if len(certs):  # chain certificates repeat across files (every leaf's intermediate): parse once
                        _PARSED[block] = cert
                certs.append(cert)
            except ValueError as exc:
                raise StaplingError("{0}: certificate block {1} is not a valid certificate ({2}). Replace the file "
                                    "with the PEM certificate Apache serves.".format(source, len(certs) + 1, exc))
        if not certs:
            kinds = ", ".join(sorted(set(other))) or "no complete PEM block"
            raise StaplingError("{0} holds no certificate (found: {1}). Point to the certificate file, "
                                "not the key.".format(source, kinds))
        return certs
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise StaplingError("{0} is neither a PEM certificate nor a DER certificate. Point to the certificate "
                            "file Apache serves (SSLCertificateFile).".format(source))


def _utc(cert_or_response, name):
    """An aware UTC datetime from cryptography's ``<name>_utc`` (>= 42) or naive ``<name>``."""
    value = getattr(cert_or_response, name + "_utc", None)
    if value is None:
        value = getattr(cert_or_response, name)
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def iso(value):
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def serial_hex(serial):
    text = "%X" % serial
    return "0" + text if len(text) % 2 else text


def fingerprint_sha256(cert):
    digest = cert.fingerprint(hashes.SHA256())
    return ":".join("%02X" % b for b in bytearray(digest))


def _extension(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def aia_uris(cert):
    """(ocsp_uris, ca_issuers_uris) in AIA order; URIs of other kinds are left out."""
    ext = _extension(cert, x509.AuthorityInformationAccess)
    ocsp_uris, issuers = [], []
    if ext is None:
        return ocsp_uris, issuers
    for desc in ext.value:
        if not isinstance(desc.access_location, x509.UniformResourceIdentifier):
            continue
        if desc.access_method == AuthorityInformationAccessOID.OCSP:
            ocsp_uris.append(desc.access_location.value)
        elif desc.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
            issuers.append(desc.access_location.value)
    return ocsp_uris, issuers


def must_staple(cert):
    """(must_staple, critical): TLS Feature extension (RFC 7633) asking for status_request."""
    ext = _extension(cert, x509.TLSFeature)
    if ext is None:
        return False, False
    wanted = x509.TLSFeatureType.status_request in list(ext.value)
    return wanted, bool(ext.critical) and wanted


def certificate_summary(cert, now=None):
    """The facts about one certificate that stapling depends on (see RETURN of ocsp_responder_info)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        # Parsing every extension up front turns a malformed one into one clear error.
        extensions = cert.extensions
    except ValueError as exc:
        raise StaplingError("certificate {0} has a malformed extension ({1}). Reissue it.".format(
            serial_hex(cert.serial_number), exc))
    del extensions
    sans = []
    ext = _extension(cert, x509.SubjectAlternativeName)
    if ext is not None:
        sans = [str(v) for v in ext.value.get_values_for_type(x509.DNSName)]
        sans += [str(v) for v in ext.value.get_values_for_type(x509.IPAddress)]
    ocsp_uris, issuers = aia_uris(cert)
    staple, critical = must_staple(cert)
    not_before, not_after = _utc(cert, "not_valid_before"), _utc(cert, "not_valid_after")
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": sans,
        "serial": serial_hex(cert.serial_number),
        "fingerprint_sha256": fingerprint_sha256(cert),
        "not_before": iso(not_before),
        "not_after": iso(not_after),
        "expired": not_after < now,
        "ocsp_uris": ocsp_uris,
        "has_ocsp_uri": bool(ocsp_uris),
        "ca_issuers_uris": issuers,
        "must_staple": staple,
        "must_staple_critical": critical,
    }


def verify_signature(public_key, signature, data, hash_algorithm, rsa_padding=None):
    """True when signature over data verifies with public_key (RSA, ECDSA, EdDSA, DSA).

    RSA uses PKCS#1 v1.5 unless ``rsa_padding`` (e.g. a certificate's PSS parameters) is given.
    """
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, rsa_padding or padding.PKCS1v15(), hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            public_key.verify(signature, data)
        elif isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(signature, data, hash_algorithm)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _public_key(cert):
    key = _PUBLIC_KEYS.get(cert)
    if key is None:
        key = _PUBLIC_KEYS[cert] = cert.public_key()
    return key


def is_issued_by(cert, candidate):
    """Whether candidate issued cert: names chain AND the signature verifies with candidate's key."""
    if cert.issuer != candidate.subject:
        return False
    params = getattr(cert, "signature_algorithm_parameters", None)  # cryptography >= 41
    return verify_signature(_public_key(candidate), cert.signature, cert.tbs_certificate_bytes,
                            cert.signature_hash_algorithm,
                            rsa_padding=params if isinstance(params, padding.PSS) else None)


def find_issuer(cert, candidates):
    """The first candidate that really signed cert (matched by signature, not by name alone), or None."""
    for candidate in candidates:
        if candidate is cert:
            continue
        if is_issued_by(cert, candidate):
            return candidate
    return None


def hex_id(data):
    return binascii.hexlify(data).decode("ascii").upper()
