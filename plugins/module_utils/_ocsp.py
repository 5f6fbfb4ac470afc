# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: OCSP requests, responder endpoints, the one response validator, the probe.

``validate_response`` is the collection's only judge of an OCSP response, used for what a
responder answers (``ocsp_responder_info`` probe) and for what Apache staples
(``ocsp_staple_info``). Apache itself checks neither the signature nor (with mod_md) the
expiry, so this code must.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import socket
import time

from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit

from ansible.module_utils.urls import Request

from ansible_collections.ocsp.stapling.plugins.module_utils._x509 import (
    _der_children, _der_oid, _der_tlv, _describe, _utc, iso, is_issued_by, serial_hex, verify_signature,
)

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import ExtendedKeyUsageOID
except ImportError:  # reported by _deps.require_cryptography() in the module
    pass

DEFAULT_PORTS = {"http": 80, "https": 443, "ldap": 389}

_RESPONSE_STATUS = {
    "SUCCESSFUL": "successful",
    "MALFORMED_REQUEST": "malformed_request",
    "INTERNAL_ERROR": "internal_error",
    "TRY_LATER": "try_later",
    "SIG_REQUIRED": "sig_required",
    "UNAUTHORIZED": "unauthorized",
}


# --------------------------------------------------------------------------------------------
# Responder endpoints
# --------------------------------------------------------------------------------------------

def parse_endpoint(uri):
    """Scheme, host, port (scheme default) and path of an AIA OCSP URI, with ``error`` when
    mod_ssl cannot use it (only plain http:// works; userinfo is refused)."""
    out = {"uri": uri, "scheme": None, "host": None, "port": None, "path": None, "error": None}
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        out["error"] = "malformed URI ({0})".format(exc)
        return out
    scheme = (parts.scheme or "").lower()
    out["scheme"] = scheme or None
    out["host"] = parts.hostname
    out["port"] = port if port is not None else DEFAULT_PORTS.get(scheme)
    out["path"] = parts.path or "/"
    if not scheme or not parts.hostname:
        out["error"] = "not an absolute URI with a host"
    elif parts.username is not None or parts.password is not None:
        out["error"] = "the URI carries userinfo (user:password@), which an OCSP responder URI must not"
    elif scheme != "http":
        out["error"] = "scheme {0}:// is not supported by mod_ssl stapling (only http://)".format(scheme)
    return out


def resolve(host, port):
    """IPv4 and IPv6 addresses of host for TCP to port, sorted (getaddrinfo on this host)."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    v4 = sorted(set(i[4][0] for i in infos if i[0] == socket.AF_INET))
    v6 = sorted(set(i[4][0] for i in infos if i[0] == socket.AF_INET6))
    return v4 + v6


# --------------------------------------------------------------------------------------------
# Requests and the validator
# --------------------------------------------------------------------------------------------

def _hash(name):
    return {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[name]()


def build_request(cert, issuer, hash_algorithm="sha1"):
    """DER OCSP request for cert (no nonce: responders and mod_ssl's cache ignore it)."""
    from cryptography.hazmat.primitives import serialization
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, _hash(hash_algorithm))
    return builder.build().public_bytes(serialization.Encoding.DER)


def _cert_id(cert, issuer, algorithm):
    """(issuer_name_hash, issuer_key_hash, serial) as RFC 6960 defines them, for algorithm."""
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()
    return req.issuer_name_hash, req.issuer_key_hash, req.serial_number


def _key_hash(cert):
    """SHA-1 of cert's subjectPublicKey BIT STRING (ResponderID byKey)."""
    return _cert_id(cert, cert, hashes.SHA1())[1]


def _single_responses(response):
    responses = getattr(response, "responses", None)  # cryptography >= 37
    if responses is not None:
        return list(responses)
    return [response]  # older: the response exposes its only single response


def _error(errors, code, msg):
    errors.append({"code": code, "msg": msg})


def _find_signer(response, issuer):
    """(kind, certificate) of who signed the response: ('issuer', issuer), ('delegated', cert),
    or (None, candidate-or-None) when no authorized signer matches the ResponderID."""
    def matches(cert):
        if response.responder_key_hash is not None:
            return _key_hash(cert) == response.responder_key_hash
        return response.responder_name == cert.subject

    if matches(issuer):
        return "issuer", issuer
    for cert in response.certificates:
        if matches(cert):
            return "candidate", cert
    return None, None


_OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
_OID_MGF1 = "1.2.840.113549.1.1.8"
_OID_NONCE = "1.3.6.1.5.5.7.48.1.2"
_HASH_OIDS = {"1.3.14.3.2.26": "SHA1", "2.16.840.1.101.3.4.2.1": "SHA256", "2.16.840.1.101.3.4.2.2": "SHA384",
              "2.16.840.1.101.3.4.2.3": "SHA512", "2.16.840.1.101.3.4.2.4": "SHA224"}


def _hash_of(der, start, end):
    """The hash class named by the AlgorithmIdentifier at der[start:end]; ValueError when unknown."""
    _tag, content, stop = _der_tlv(der, start, end)
    oid_tag, _s, oid_content, oid_end = _der_children(der, content, stop)[0]
    oid = _der_oid(der[oid_content:oid_end])
    if oid not in _HASH_OIDS:
        raise ValueError(oid)
    return getattr(hashes, _HASH_OIDS[oid])()


def _pss_parameters(der):
    """(hash algorithm, PSS padding) from an RSASSA-PSS BasicOCSPResponse's signatureAlgorithm (RFC 4055),
    which cryptography's OCSP reader does not expose. ValueError (naming the OID) when it names what we lack."""
    _t, content, end = _der_tlv(der, 0, len(der))
    outer = _der_children(der, content, end)
    _t, rb_content, rb_end = _der_tlv(der, outer[1][2], outer[1][3])           # [0] EXPLICIT ResponseBytes
    octets = _der_children(der, rb_content, rb_end)[1]                          # OCTET STRING
    _t, basic_content, basic_end = _der_tlv(der, octets[2], octets[3])          # BasicOCSPResponse
    alg = _der_children(der, basic_content, basic_end)[1]
    parts = _der_children(der, alg[2], alg[3])
    hash_algorithm, mgf_hash, salt = hashes.SHA1(), hashes.SHA1(), 20
    if len(parts) > 1:
        for tag, _s, c, e in _der_children(der, parts[1][2], parts[1][3]):
            if tag == b"\xa0":
                hash_algorithm = _hash_of(der, c, e)
            elif tag == b"\xa1":
                mgf = _der_children(der, c, e)[0]
                mgf_parts = _der_children(der, mgf[2], mgf[3])
                mgf_oid = _der_oid(der[mgf_parts[0][2]:mgf_parts[0][3]])
                if mgf_oid != _OID_MGF1:
                    raise ValueError(mgf_oid)
                mgf_hash = _hash_of(der, mgf_parts[1][1], mgf_parts[1][3])
            elif tag == b"\xa2":
                integer = _der_children(der, c, e)[0]
                salt = int(binascii.hexlify(der[integer[2]:integer[3]]) or b"0", 16)
    return hash_algorithm, padding.PSS(mgf=padding.MGF1(mgf_hash), salt_length=salt)


def _signature_algorithm(response, der):
    """(hash algorithm, rsa_padding or None) of the response signature; UnsupportedAlgorithm-free: raises
    ValueError with the OID of what this validator cannot check."""
    oid = response.signature_algorithm_oid.dotted_string
    if oid == _OID_RSASSA_PSS:
        try:
            return _pss_parameters(der)
        except (ValueError, IndexError) as exc:
            raise ValueError("RSASSA-PSS ({0}) with parameters naming {1}".format(oid, exc))
    try:
        return response.signature_hash_algorithm, None
    except UnsupportedAlgorithm:
        raise ValueError(oid)


def _has_ocsp_signing(cert):
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in eku


def validate_response(der, cert, issuer, now=None, skew=300, max_age=None):
    """Judge a DER OCSP response for cert issued by issuer. See the module docs for the keys.

    valid: status successful, signed by the issuer or by a delegate the issuer certified for
    id-kp-OCSPSigning, a single response whose CertID matches cert, thisUpdate not in the
    future and nextUpdate not past (both with ``skew`` seconds), not older than ``max_age``
    seconds, and cert status good. ``authentic`` is the same without the status check.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    result = {
        "valid": False, "authentic": False, "response_status": None, "cert_status": None,
        "revocation_time": None, "revocation_reason": None, "this_update": None, "next_update": None,
        "produced_at": None, "age": None, "signer": None, "signer_subject": None, "errors": [],
    }
    errors = result["errors"]
    try:
        _judge(result, der, cert, issuer, now, skew, max_age)
    except Exception as exc:  # noqa: BLE001 -- whatever the bytes, a verdict: the bytes came over plain HTTP
        result["valid"] = result["authentic"] = False
        _error(errors, "malformed", "the response cannot be read ({0}); refused".format(_describe(exc)))
    return result


def _unsupported(errors, what, oid):
    _error(errors, "unsupported_algorithm", "{0} uses algorithm {1}, which this validator cannot check; "
                                            "refused".format(what, oid))


def _judge(result, der, cert, issuer, now, skew, max_age):
    errors = result["errors"]
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        _error(errors, "not_ocsp", "not a DER OCSP response ({0})".format(exc))
        return
    status = _RESPONSE_STATUS.get(response.response_status.name, response.response_status.name.lower())
    result["response_status"] = status
    if status != "successful":
        _error(errors, "unsuccessful", "the responder answered {0} instead of a signed response".format(status))
        return

    # Who signed it, and may they?
    kind, signer = _find_signer(response, issuer)
    if kind == "candidate":
        if not is_issued_by(signer, issuer):
            _error(errors, "signer_not_authorized",
                   "signed by {0}, which the certificate's issuer did not issue".format(_subject(signer)))
        elif not _has_ocsp_signing(signer):
            _error(errors, "signer_not_authorized",
                   "signed by delegate {0}, which lacks id-kp-OCSPSigning".format(_subject(signer)))
        else:
            kind = "delegated"
    elif kind is None:
        _error(errors, "signer_not_authorized",
               "the ResponderID names neither the issuer nor a certificate included in the response")
    if signer is not None:
        result["signer_subject"] = _subject(signer)
        try:
            hash_algorithm, rsa_padding = _signature_algorithm(response, der)
        except ValueError as exc:
            _unsupported(errors, "the response signature", exc)
        else:
            if not verify_signature(signer.public_key(), response.signature, response.tbs_response_bytes,
                                    hash_algorithm, rsa_padding=rsa_padding):
                _error(errors, "signature_invalid", "the response signature does not verify with {0}'s key".format(
                    result["signer_subject"]))
            elif kind in ("issuer", "delegated"):
                result["signer"] = kind
    result["produced_at"] = iso(_utc(response, "produced_at"))
    for ext in response.extensions:
        if ext.critical and ext.oid.dotted_string != _OID_NONCE:
            _error(errors, "unsupported_critical_extension", "the response carries critical extension {0}, which "
                                                             "this validator does not process; refused".format(
                                                                 ext.oid.dotted_string))

    # Which single response is about our certificate?
    single = None
    for candidate in _single_responses(response):
        try:
            algorithm = candidate.hash_algorithm
        except UnsupportedAlgorithm as exc:
            found = re.search(r"[0-9]+(?:\.[0-9]+)+", str(exc))
            _unsupported(errors, "a CertID", found.group(0) if found else "unknown")
            continue
        expected = _cert_id(cert, issuer, algorithm)
        if (candidate.issuer_name_hash, candidate.issuer_key_hash, candidate.serial_number) == expected:
            single = candidate
            break
    if single is None:
        _error(errors, "wrong_certificate", "no response in it is for serial {0} of this issuer".format(
            serial_hex(cert.serial_number)))
    else:
        this_update = _utc(single, "this_update")
        next_update = _utc(single, "next_update")
        result["this_update"] = iso(this_update)
        result["next_update"] = iso(next_update)
        result["age"] = int((now - this_update).total_seconds())
        slack = datetime.timedelta(seconds=skew)
        if this_update > now + slack:
            _error(errors, "not_yet_valid", "thisUpdate {0} is in the future".format(iso(this_update)))
        if next_update is not None and next_update < now - slack:
            _error(errors, "expired", "nextUpdate {0} has passed".format(iso(next_update)))
        if max_age is not None and result["age"] > max_age:
            _error(errors, "too_old", "thisUpdate is {0} s old, more than max_age {1} s".format(result["age"], max_age))
        cert_status = single.certificate_status.name.lower()
        result["cert_status"] = cert_status
        if cert_status == "revoked":
            result["revocation_time"] = iso(_utc(single, "revocation_time"))
            reason = single.revocation_reason
            result["revocation_reason"] = reason.name if reason is not None else None
    result["authentic"] = not errors
    if result["cert_status"] == "revoked":
        _error(errors, "revoked", "the certificate is revoked (since {0})".format(result["revocation_time"]))
    elif result["cert_status"] == "unknown":
        _error(errors, "unknown", "the responder does not know this certificate")
    result["valid"] = not errors


def _subject(cert):
    try:
        return cert.subject.rfc4514_string()
    except Exception:  # noqa: BLE001 -- a name cryptography cannot decode is still a signer to name
        return "a certificate whose subject cannot be decoded"


# --------------------------------------------------------------------------------------------
# The probe: a real request from this host
# --------------------------------------------------------------------------------------------

def probe(cert, issuer, uri, timeout=5.0, proxy=None, method="auto", skew=300, max_age=None):
    """Ask the responder at uri about cert; return the validated verdict plus transport facts.

    method: ``post``, ``get`` (RFC 6960 A.1, only when the encoded request is under 255 bytes),
    or ``auto`` (GET when small enough, else POST). ``proxy`` is an http://host:port proxy, as
    Apache's SSLOCSPProxyURL; without it, no proxy is used (environment variables are ignored,
    as Apache ignores them).
    """
    endpoint = parse_endpoint(uri)
    out = {"uri": uri, "method": None, "http_status": None, "latency_ms": None, "ok": False, "error": None}
    if endpoint["error"]:
        out["error"] = {"code": "unsupported_uri", "msg": endpoint["error"]}
        return out
    der = build_request(cert, issuer)
    encoded = quote(base64.b64encode(der).decode("ascii"), safe="")
    use_get = method == "get" or (method == "auto" and len(encoded) < 255)
    if method == "get" and len(encoded) >= 255:
        use_get = False
    url = uri if uri.endswith("/") else uri + "/"
    request = Request(timeout=timeout, validate_certs=True, use_proxy=bool(proxy), follow_redirects="none",
                      headers={"User-Agent": "ocsp.stapling probe"})
    out["method"] = "GET" if use_get else "POST"
    started = time.monotonic()
    try:
        if proxy:
            response = _open_via_proxy(url, encoded, der, use_get, proxy, timeout)
        elif use_get:
            response = request.open("GET", url + encoded)
        else:
            response = request.open("POST", uri, data=der, headers={"Content-Type": "application/ocsp-request"})
        body = response.read()
        out["http_status"] = response.getcode()
    except HTTPError as exc:
        out["http_status"] = exc.code
        out["error"] = {"code": "http_status", "msg": "HTTP {0} from {1}".format(exc.code, uri)}
        return _latency(out, started)
    except socket.timeout:
        out["error"] = {"code": "timeout", "msg": "no answer from {0} within {1} s".format(uri, timeout)}
        return _latency(out, started)
    except URLError as exc:
        reason = exc.reason
        if isinstance(reason, socket.timeout):
            out["error"] = {"code": "timeout", "msg": "no answer from {0} within {1} s".format(uri, timeout)}
        elif isinstance(reason, ConnectionRefusedError):
            out["error"] = {"code": "connection_refused", "msg": "connection to {0} refused".format(uri)}
        else:
            out["error"] = {"code": "connection_failed", "msg": "cannot reach {0}: {1}".format(uri, reason)}
        return _latency(out, started)
    except (socket.error, OSError) as exc:
        code = "connection_refused" if isinstance(exc, ConnectionRefusedError) else "connection_failed"
        out["error"] = {"code": code, "msg": "cannot reach {0}: {1}".format(uri, exc)}
        return _latency(out, started)
    _latency(out, started)
    verdict = validate_response(body, cert, issuer, skew=skew, max_age=max_age)
    out.update(verdict)
    out["ok"] = verdict["valid"]
    if verdict["errors"]:
        first = verdict["errors"][0]
        if first["code"] == "unsuccessful":
            out["error"] = {"code": verdict["response_status"], "msg": first["msg"]}
        else:
            out["error"] = dict(first)
    return out


def _latency(out, started):
    out["latency_ms"] = int((time.monotonic() - started) * 1000)
    return out


def _open_via_proxy(url, encoded, der, use_get, proxy, timeout):
    from urllib.request import ProxyHandler, Request as UrlRequest, build_opener
    opener = build_opener(ProxyHandler({"http": proxy}))
    if use_get:
        req = UrlRequest(url + encoded, headers={"User-Agent": "ocsp.stapling probe"})
    else:
        req = UrlRequest(url, data=der, headers={"Content-Type": "application/ocsp-request",
                                                 "User-Agent": "ocsp.stapling probe"})
    return opener.open(req, timeout=timeout)
