# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: reading deployed certificates (AIA, must-staple, issuer by signature).

Pure Python over ``cryptography`` (>= 3.4, what Debian 11 / RHEL 9 ship), no AnsibleModule.
Private keys found in a PEM bundle are skipped and never echoed.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import AuthorityInformationAccessOID
except ImportError:  # reported by _deps.require_cryptography() in the module
    pass
else:
    _DER = Encoding.DER

MAX_FILE_SIZE = 1024 * 1024  # a certificate bundle larger than this is not what Apache serves
# Per-process caches (one module run): a chain certificate parsed once however many files repeat it, and
# its public key decoded once however many leaves it is checked against. Keyed by content, never by path.
_PARSED = {}
_PUBLIC_KEYS = {}

_PEM_LABEL = re.compile(rb"[A-Z0-9 ]+\Z")
_CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE")


def _pem_label(data, start):
    """The label of the ``-----BEGIN LABEL-----`` / ``-----END LABEL-----`` line part at data[start:] (start just after
    the space), and where its closing dashes end; (None, start) when what follows is no label and five dashes."""
    close = data.find(b"-----", start)
    if close < 0 or data.find(b"\n", start, close) >= 0:
        return None, start
    label = data[start:close]
    if not _PEM_LABEL.match(label):
        return None, start
    return label, close + 5


def _pem_blocks(data):
    """(label, block, body, end_label) of each PEM block, in one pass over data (linear in its size).

    A block runs from a BEGIN line to the next END line, as OpenSSL's PEM_read_bio reads it: another BEGIN line on
    the way is part of the body (OpenSSL then refuses the block, and so does the DER check after us), and an END
    line whose label differs is returned as found (OpenSSL: "bad end line"). A BEGIN without any END after it ends
    the search: no later block can be complete either. (A lazy regular expression that looked, from every BEGIN,
    for its matching END took 357 s on 1 MiB of BEGIN lines; issue 24.)"""
    pos = 0
    while True:
        begin = data.find(b"-----BEGIN ", pos)
        if begin < 0:
            return
        label, body_start = _pem_label(data, begin + 11)
        if label is None:
            pos = begin + 11
            continue
        end = data.find(b"-----END ", body_start)
        if end < 0:
            return
        end_label, stop = _pem_label(data, end + 9)
        if end_label is None:
            # "-----END " not followed by a label: OpenSSL's bad end line as well; report it as found
            end_label, stop = data[end + 9:end + 9 + 40].split(b"\n")[0], end + 9
        yield label, data[begin:stop], data[body_start:end], end_label
        pos = stop


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


class UnreadableCertificate(StaplingError):
    """A certificate block cryptography cannot load. ``der`` keeps its bytes for the fallback reader."""

    def __init__(self, msg, der=None, index=0, reason=None):
        super(UnreadableCertificate, self).__init__(msg)
        self.der = der
        self.index = index
        self.reason = reason


def _describe(exc):
    """'ClassName: message' of an exception raised while reading a certificate or response."""
    text = str(exc) or repr(exc)
    return "{0}: {1}".format(type(exc).__name__, text[:300])


def _load_one(der_or_pem, is_pem):
    # Every exception of cryptography's loader is that certificate's: ValueError, x509.InvalidVersion (not a
    # ValueError), and whatever a future release raises. Reported with the certificate, never a traceback.
    try:
        if is_pem:
            return x509.load_pem_x509_certificate(der_or_pem), None
        return x509.load_der_x509_certificate(der_or_pem), None
    except Exception as exc:  # noqa: BLE001 -- reported as the certificate's error, see docstring
        return None, exc


def load_der_certificate(der, source="certificate"):
    """One DER certificate, or UnreadableCertificate (with its DER for ``fallback_summary``)."""
    cert, exc = _load_one(der, False)
    if cert is None:
        raise UnreadableCertificate(_unreadable_msg(source, 1, exc), der=der, index=0, reason=_describe(exc))
    return cert


def _unreadable_msg(source, number, exc):
    return ("{0}: certificate {1} cannot be read by the cryptography library ({2}). OpenSSL, and so Apache, may still "
            "accept it; what stapling needs is read from its DER instead where possible".format(
                source, number, _describe(exc)))


def load_pem_or_der_certificates(data, source, unreadable=None):
    """Every certificate in data (PEM bundle or one DER certificate), in file order.

    PEM blocks that are not certificates (private keys, parameters) are skipped without
    being decoded or echoed. Raises StaplingError naming ``source`` when there is none.
    A certificate cryptography cannot load raises UnreadableCertificate; when ``unreadable``
    is a list, such certificates are appended to it instead and skipped.
    """
    if b"-----BEGIN" in data:
        certs, other, index = [], [], 0
        for raw_label, block, body, end_label in _pem_blocks(data):
            label = raw_label.decode("ascii", "replace")
            if raw_label not in _CERT_LABELS:
                other.append(label)
                continue
            index += 1
            if end_label != raw_label:
                raise StaplingError("{0}: certificate block {1} ends with -----END {2}----- instead of -----END {3}----- "
                                    "(OpenSSL, and so Apache, refuses it: bad end line). Replace the file with the PEM "
                                    "certificate Apache serves.".format(source, index, end_label.decode("ascii", "replace"),
                                                                        label))
            cert = _PARSED.get(block)
            if cert is None:
                try:
                    der = base64.b64decode(body, validate=False)
                except (binascii.Error, ValueError) as exc:
                    raise StaplingError("{0}: certificate block {1} is not valid base64 ({2}). Replace the file with "
                                        "the PEM certificate Apache serves.".format(source, index, exc))
                if not der or der[:1] != b"\x30":
                    raise StaplingError("{0}: certificate block {1} is not a valid certificate (no DER inside). "
                                        "Replace the file with the PEM certificate Apache serves.".format(source, index))
                cert, exc = _load_one(block.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE"), True)
                if cert is None:
                    problem = UnreadableCertificate(_unreadable_msg(source, index, exc), der=der, index=index - 1,
                                                    reason=_describe(exc))
                    if unreadable is None:
                        raise problem
                    unreadable.append(problem)
                    continue
                if index > 1:  # chain certificates repeat across files (every leaf's intermediate): parse once
                    _PARSED[block] = cert
            certs.append(cert)
        if not certs and not (unreadable and index):
            kinds = ", ".join(sorted(set(other))) or "no complete PEM block"
            raise StaplingError("{0} holds no certificate (found: {1}). Point to the certificate file, "
                                "not the key.".format(source, kinds))
        return certs
    if data[:1] == b"\x30":
        try:
            _der_tlv(data, 0, len(data))
        except ValueError:
            pass
        else:
            cert, exc = _load_one(data, False)
            if cert is not None:
                return [cert]
            if _looks_like_certificate(data):
                problem = UnreadableCertificate(_unreadable_msg(source, 1, exc), der=data, index=0,
                                                reason=_describe(exc))
                if unreadable is None:
                    raise problem
                unreadable.append(problem)
                return []
    raise StaplingError("{0} is neither a PEM certificate nor a DER certificate. Point to the certificate "
                        "file Apache serves (SSLCertificateFile).".format(source))


def _utc(cert_or_response, name):
    """An aware UTC datetime from cryptography's ``<name>_utc`` (>= 42) or naive ``<name>``."""
    try:
        return getattr(cert_or_response, name + "_utc")  # None when absent (a response without nextUpdate)
    except AttributeError:
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


# --------------------------------------------------------------------------------------------
# A small DER reader: what OpenSSL reads when cryptography's view of a certificate fails
# --------------------------------------------------------------------------------------------

_OID_AIA = "1.3.6.1.5.5.7.1.1"
_OID_TLS_FEATURE = "1.3.6.1.5.5.7.1.24"
_OID_SAN = "2.5.29.17"
_OID_OCSP = "1.3.6.1.5.5.7.48.1"
_OID_CA_ISSUERS = "1.3.6.1.5.5.7.48.2"
_STATUS_REQUEST = 5  # TLS Feature value of status_request (RFC 7633)
_EXTENSION_NAMES = {
    _OID_AIA: "authorityInfoAccess", _OID_TLS_FEATURE: "tlsfeature", _OID_SAN: "subjectAltName",
    "2.5.29.19": "basicConstraints", "2.5.29.15": "keyUsage", "2.5.29.37": "extendedKeyUsage",
    "2.5.29.32": "certificatePolicies", "2.5.29.30": "nameConstraints", "2.5.29.18": "issuerAltName",
    "2.5.29.14": "subjectKeyIdentifier", "2.5.29.35": "authorityKeyIdentifier", "2.5.29.31": "cRLDistributionPoints",
    "1.3.6.1.4.1.11129.2.4.2": "signedCertificateTimestampList", "1.3.6.1.4.1.11129.2.4.3": "ctPrecertificatePoison",
}


def _der_tlv(data, pos, limit):
    """(tag_bytes, content_start, end) of the DER element at pos, which must end by limit; ValueError otherwise."""
    start = pos
    if pos >= limit:
        raise ValueError("DER element expected at offset {0}".format(pos))
    pos += 1
    if data[start] & 0x1F == 0x1F:  # high tag number form
        while pos < limit and data[pos] & 0x80:
            pos += 1
        pos += 1
    tag = bytes(data[start:pos])
    if pos >= limit:
        raise ValueError("truncated DER header at offset {0}".format(start))
    length = data[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > limit:
            raise ValueError("bad DER length at offset {0}".format(start))
        length = int(binascii.hexlify(bytes(data[pos:pos + count])), 16)
        pos += count
    if pos + length > limit:
        raise ValueError("DER element at offset {0} runs past its container".format(start))
    return tag, pos, pos + length


def _der_children(data, start, end):
    """[(tag_bytes, element_start, content_start, end)] of the elements between start and end."""
    out, pos = [], start
    while pos < end:
        tag, content, stop = _der_tlv(data, pos, end)
        out.append((tag, pos, content, stop))
        pos = stop
    return out


def _der_oid(content):
    arcs, value = [], 0
    for byte in bytearray(content):
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise ValueError("empty OBJECT IDENTIFIER")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])


def _tbs_fields(der):
    """The TBSCertificate's top-level elements (version [0] first when present) of a Certificate's DER."""
    _tag, content, end = _der_tlv(der, 0, len(der))
    tbs_tag, tbs_start, tbs_content, tbs_end = _der_children(der, content, end)[0]
    if tbs_tag != b"\x30":
        raise ValueError("no TBSCertificate SEQUENCE")
    return _der_children(der, tbs_content, tbs_end)


def _looks_like_certificate(der):
    try:
        fields = _tbs_fields(der)
    except (ValueError, IndexError):
        return False
    return len(fields) >= 6


def raw_extensions(der):
    """[(oid, critical, value_bytes)] of a certificate's extensions, from its DER, in order."""
    out = []
    for tag, _start, content, end in _tbs_fields(der):
        if tag != b"\xa3":
            continue
        seq_tag, seq_content, seq_end = _der_tlv(der, content, end)
        for _t, _s, ext_content, ext_end in _der_children(der, seq_content, seq_end):
            parts = _der_children(der, ext_content, ext_end)
            if len(parts) not in (2, 3) or parts[0][0] != b"\x06" or parts[-1][0] != b"\x04":
                raise ValueError("malformed Extension at offset {0}".format(_s))
            critical = len(parts) == 3 and der[parts[1][2]:parts[1][3]] not in (b"", b"\x00")
            out.append((_der_oid(der[parts[0][2]:parts[0][3]]), critical, bytes(der[parts[-1][2]:parts[-1][3]])))
    return out


def raw_name(der, which):
    """The DER of a certificate's issuer or subject Name, as it is encoded (OpenSSL compares canonical forms)."""
    fields = _tbs_fields(der)
    offset = 1 if fields and fields[0][0] == b"\xa0" else 0
    index = offset + (2 if which == "issuer" else 4)
    _tag, start, _content, end = fields[index]
    return bytes(der[start:end])


def _raw_one(extensions, oid):
    """The value of the one extension with oid; None when absent; ValueError when it appears twice
    (OpenSSL's X509_get_ext_d2i then returns nothing either)."""
    found = [e for e in extensions if e[0] == oid]
    if len(found) > 1:
        raise ValueError("extension {0} appears {1} times".format(oid, len(found)))
    return found[0] if found else None


def _raw_aia(value):
    ocsp_uris, issuers = [], []
    _tag, content, end = _der_tlv(value, 0, len(value))
    for _t, _s, desc_content, desc_end in _der_children(value, content, end):
        method, location = _der_children(value, desc_content, desc_end)[:2]
        if location[0] != b"\x86":  # only uniformResourceIdentifier [6] IA5String
            continue
        uri = bytes(value[location[2]:location[3]]).decode("ascii")
        kind = _der_oid(value[method[2]:method[3]])
        if kind == _OID_OCSP:
            ocsp_uris.append(uri)
        elif kind == _OID_CA_ISSUERS:
            issuers.append(uri)
    return ocsp_uris, issuers


def _raw_tls_features(value):
    _tag, content, end = _der_tlv(value, 0, len(value))
    return [int(binascii.hexlify(bytes(value[c:e])) or b"0", 16)
            for t, _s, c, e in _der_children(value, content, end) if t == b"\x02"]


def _raw_sans(value):
    import ipaddress
    _tag, content, end = _der_tlv(value, 0, len(value))
    out = []
    for tag, _s, c, e in _der_children(value, content, end):
        if tag == b"\x82":
            out.append(bytes(value[c:e]).decode("ascii", "replace"))
        elif tag == b"\x87" and e - c in (4, 16):
            out.append(str(ipaddress.ip_address(bytes(value[c:e]))))
    return out


def fallback_facts(der):
    """What stapling needs, read from a certificate's DER alone: ocsp_uris, ca_issuers_uris, must_staple,
    must_staple_critical, sans, serial, and warnings. ValueError when not even the extension list reads."""
    extensions = raw_extensions(der)
    facts = {"ocsp_uris": [], "ca_issuers_uris": [], "must_staple": False, "must_staple_critical": False,
             "sans": [], "serial": None, "warnings": []}
    fields = _tbs_fields(der)
    offset = 1 if fields and fields[0][0] == b"\xa0" else 0
    if fields[offset][0] == b"\x02":
        facts["serial"] = serial_hex(int(binascii.hexlify(bytes(der[fields[offset][2]:fields[offset][3]])) or b"0", 16))
    for oid, reader, keys in ((_OID_AIA, _raw_aia, ("ocsp_uris", "ca_issuers_uris")),
                              (_OID_TLS_FEATURE, _raw_tls_features, ("tls_features",)),
                              (_OID_SAN, _raw_sans, ("sans",))):
        try:
            found = _raw_one(extensions, oid)
            if found is None:
                continue
            values = reader(found[2])
        except (ValueError, IndexError, UnicodeError) as exc:
            facts["warnings"].append(_warning(oid, "cannot be decoded, so it is not used (as OpenSSL does not): "
                                                   "{0}".format(exc)))
            continue
        if oid == _OID_AIA:
            facts["ocsp_uris"], facts["ca_issuers_uris"] = values
        elif oid == _OID_TLS_FEATURE:
            facts["must_staple"] = _STATUS_REQUEST in values
            facts["must_staple_critical"] = facts["must_staple"] and found[1]
        else:
            facts["sans"] = values
    return facts


def _warning(oid, msg):
    name = _EXTENSION_NAMES.get(oid)
    what = "extension {0} ({1})".format(oid, name) if name else "extension {0}".format(oid)
    return {"oid": oid, "what": what, "msg": msg}


def _isolate_broken_extensions(cert, der, exc):
    """Warnings naming each extension cryptography cannot decode: every extension is tried on its own, in a
    copy of the certificate that carries only it (signature not checked when loading)."""
    if isinstance(exc, getattr(x509, "DuplicateExtension", ())) and getattr(exc, "oid", None) is not None:
        oid = exc.oid.dotted_string
        return [_warning(oid, "appears more than once ({0}); certificates must not repeat an extension".format(
            _describe(exc)))]
    warnings = []
    try:
        _tag, content, end = _der_tlv(der, 0, len(der))
        tbs, alg, sig = [der[s:e] for _t, s, _c, e in _der_children(der, content, end)[:3]]
        tbs_tag, tbs_content, tbs_end = _der_tlv(tbs, 0, len(tbs))
        fields = _der_children(tbs, tbs_content, tbs_end)
        keep = b"".join(tbs[s:e] for t, s, _c, e in fields if t != b"\xa3")
        ext_field = [f for f in fields if f[0] == b"\xa3"][0]
        seq_tag, seq_content, seq_end = _der_tlv(tbs, ext_field[2], ext_field[3])
        for _t, s, c, e in _der_children(tbs, seq_content, seq_end):
            one = _der_encode(b"\xa3", _der_encode(b"\x30", tbs[s:e]))
            copy = _der_encode(b"\x30", _der_encode(b"\x30", keep + one) + alg + sig)
            oid = _der_oid(tbs[_der_children(tbs, c, e)[0][2]:_der_children(tbs, c, e)[0][3]])
            try:
                x509.load_der_x509_certificate(copy).extensions
            except Exception as one_exc:  # noqa: BLE001 -- the point: which extension fails, and how
                use = ("read from the DER instead, as OpenSSL reads it" if oid in (_OID_AIA, _OID_TLS_FEATURE)
                       else "ignored: stapling does not depend on it")
                warnings.append(_warning(oid, "cannot be decoded by cryptography ({0}); {1}".format(
                    _describe(one_exc), use)))
    except (ValueError, IndexError):
        pass
    if not warnings:
        warnings.append({"oid": None, "what": "extensions",
                         "msg": "cryptography cannot decode the extensions ({0}); the stapling extensions were read "
                                "from the DER".format(_describe(exc))})
    return warnings


def _der_encode(tag, content):
    length = len(content)
    if length < 0x80:
        return tag + bytes(bytearray([length])) + content
    octets = binascii.unhexlify("%0*x" % (((length.bit_length() + 7) // 8) * 2, length))
    return tag + bytes(bytearray([0x80 | len(octets)])) + octets + content


def _extension(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def aia_uris(cert):
    """(ocsp_uris, ca_issuers_uris) in AIA order; URIs of other kinds are left out.

    Read from cryptography's view of the extension when it decodes, else from the DER, as OpenSSL's
    X509_get1_ocsp finds them whatever else in the certificate is odd.
    """
    try:
        ext = _extension(cert, x509.AuthorityInformationAccess)
    except Exception:  # noqa: BLE001 -- cryptography decodes all extensions at once; read ours from the DER
        facts = fallback_facts(cert.public_bytes(_DER))
        return facts["ocsp_uris"], facts["ca_issuers_uris"]
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
    try:
        ext = _extension(cert, x509.TLSFeature)
    except Exception:  # noqa: BLE001 -- as in aia_uris: read the TLS Feature from the DER
        facts = fallback_facts(cert.public_bytes(_DER))
        return facts["must_staple"], facts["must_staple_critical"]
    if ext is None:
        return False, False
    wanted = x509.TLSFeatureType.status_request in list(ext.value)
    return wanted, bool(ext.critical) and wanted


def _name_text(name):
    return name.rfc4514_string()


def certificate_summary(cert, now=None):
    """The facts about one certificate that stapling depends on (see RETURN of ocsp_responder_info).

    Never raises: cryptography decodes names and extensions lazily, and each can fail on its own.
    The stapling facts (AIA, TLS Feature) come from cryptography's view or, when that fails, from the
    DER; anything else that fails is a ``warnings`` entry; ``error`` is set only when the stapling
    facts themselves cannot be read.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    summary = {"subject": None, "issuer": None, "sans": [], "serial": None, "fingerprint_sha256": None,
               "not_before": None, "not_after": None, "expired": None, "ocsp_uris": [], "has_ocsp_uri": False,
               "ca_issuers_uris": [], "must_staple": False, "must_staple_critical": False, "warnings": [],
               "error": None}
    warnings = summary["warnings"]

    def read(field, fn):
        # The one place where whatever cryptography raises for one field of one certificate becomes a report.
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 -- reported as a warning naming the field
            warnings.append({"oid": None, "what": field, "msg": "cannot be read ({0})".format(_describe(exc))})
            return None

    der = read("DER encoding", lambda: cert.public_bytes(_DER))
    summary["serial"] = read("serial", lambda: serial_hex(cert.serial_number))
    summary["fingerprint_sha256"] = read("fingerprint", lambda: fingerprint_sha256(cert))
    summary["subject"] = read("subject", lambda: _name_text(cert.subject))
    summary["issuer"] = read("issuer", lambda: _name_text(cert.issuer))
    not_before = read("notBefore", lambda: _utc(cert, "not_valid_before"))
    not_after = read("notAfter", lambda: _utc(cert, "not_valid_after"))
    # OpenSSL decodes these when it loads a certificate and refuses it when they do not decode: not a warning.
    essential = [w for w in warnings if w["what"] in ("DER encoding", "serial", "subject", "issuer", "notBefore",
                                                      "notAfter")]
    if essential:
        loads = openssl_loads(der) if der is not None else None
        summary["error"] = "the certificate's {0} cannot be read ({1}); {2}. Reissue it.".format(
            " and ".join(w["what"] for w in essential), essential[0]["msg"], openssl_says(loads))
        for w in essential:
            warnings.remove(w)
        if der is None:
            return summary
    summary["not_before"], summary["not_after"] = iso(not_before), iso(not_after)
    summary["expired"] = not_after < now if not_after is not None else None
    try:
        extensions_error = None
        ext = _extension(cert, x509.SubjectAlternativeName)
        if ext is not None:
            summary["sans"] = [str(v) for v in ext.value.get_values_for_type(x509.DNSName)]
            summary["sans"] += [str(v) for v in ext.value.get_values_for_type(x509.IPAddress)]
        summary["ocsp_uris"], summary["ca_issuers_uris"] = aia_uris(cert)
        summary["must_staple"], summary["must_staple_critical"] = must_staple(cert)
    except Exception as exc:  # noqa: BLE001 -- cryptography's extension view failed: the DER reader takes over
        extensions_error = exc
    if extensions_error is not None:
        try:
            facts = fallback_facts(der)
        except (ValueError, IndexError, TypeError) as exc:
            summary["error"] = ("the certificate's extensions cannot be read, neither by cryptography ({0}) nor from "
                                "its DER ({1}): its OCSP URIs and must-staple are unknown. Reissue it.".format(
                                    _describe(extensions_error), exc))
            return summary
        for key in ("sans", "ocsp_uris", "ca_issuers_uris", "must_staple", "must_staple_critical"):
            summary[key] = facts[key]
        warnings.extend(_isolate_broken_extensions(cert, der, extensions_error))
        warnings.extend(facts["warnings"])
    summary["has_ocsp_uri"] = bool(summary["ocsp_uris"])
    return summary


def fallback_summary(der, reason, source=None):
    """certificate_summary's keys for a certificate cryptography cannot load (UnreadableCertificate),
    from its DER; ``openssl_loads`` says whether the OpenSSL pyOpenSSL links (Apache's kind) loads it."""
    summary = {"subject": None, "issuer": None, "sans": [], "serial": None, "fingerprint_sha256": None,
               "not_before": None, "not_after": None, "expired": None, "ocsp_uris": [], "has_ocsp_uri": False,
               "ca_issuers_uris": [], "must_staple": False, "must_staple_critical": False, "warnings": [],
               "error": None, "openssl_loads": openssl_loads(der)}
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    summary["fingerprint_sha256"] = ":".join("%02X" % b for b in bytearray(digest.finalize()))
    try:
        facts = fallback_facts(der)
    except (ValueError, IndexError, TypeError) as exc:
        summary["warnings"].append({"oid": None, "what": "extensions", "msg": "cannot be read from the DER either "
                                    "({0})".format(exc)})
    else:
        for key in ("sans", "ocsp_uris", "ca_issuers_uris", "must_staple", "must_staple_critical", "serial"):
            summary[key] = facts[key]
        summary["warnings"].extend(facts["warnings"])
    summary["has_ocsp_uri"] = bool(summary["ocsp_uris"])
    return summary


def openssl_says(loads):
    """What openssl_loads() found, in words that do not claim more than was tested."""
    if loads is None:
        return "OpenSSL, and so Apache, may still accept it (pyOpenSSL is not installed here to ask)"
    try:
        from OpenSSL import SSL
        version = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode("ascii", "replace")
    except (ImportError, AttributeError):
        version = "OpenSSL"
    if loads:
        return ("{0} (the build pyOpenSSL uses here) loads it, so Apache may serve it, but this collection cannot "
                "check its stapling".format(version))
    return ("{0} (the build pyOpenSSL uses here) refuses it too; Apache's OpenSSL may differ, check with "
            "'openssl x509 -noout -in FILE' on the web server".format(version))


def openssl_loads(der):
    """True/False: whether OpenSSL (through pyOpenSSL) loads the DER certificate; None without pyOpenSSL."""
    try:
        from OpenSSL import crypto
    except ImportError:
        return None
    try:
        crypto.load_certificate(crypto.FILETYPE_ASN1, der)
    except Exception:  # noqa: BLE001 -- any refusal by OpenSSL is the answer "no"
        return False
    return True


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


def _names_chain(cert, candidate):
    try:
        return cert.issuer == candidate.subject
    except Exception:  # noqa: BLE001 -- a name cryptography cannot decode: compare the encodings, as OpenSSL does
        try:
            return raw_name(cert.public_bytes(_DER), "issuer") == raw_name(candidate.public_bytes(_DER), "subject")
        except (ValueError, IndexError):
            return False


def is_issued_by(cert, candidate):
    """Whether candidate issued cert: names chain AND the signature verifies with candidate's key."""
    if not _names_chain(cert, candidate):
        return False
    try:
        params = getattr(cert, "signature_algorithm_parameters", None)  # cryptography >= 41
        hash_algorithm = cert.signature_hash_algorithm
        key = _public_key(candidate)
    except Exception:  # noqa: BLE001 -- an algorithm or key cryptography does not know: not proven to be the issuer
        return False
    return verify_signature(key, cert.signature, cert.tbs_certificate_bytes, hash_algorithm,
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
