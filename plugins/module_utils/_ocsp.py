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
import ipaddress
import re
import socket
import time

from urllib.parse import quote, urlsplit

from ansible_collections.ocsp.stapling.plugins.module_utils._endpoints import (  # noqa: F401 (the egress policy)
    destination_problem, parse_networks,
)
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
# A response without nextUpdate says newer information is available at any time (RFC 6960 4.2.2.1); mod_ssl then
# staples it for ever (no SSLStaplingResponseMaxAge by default), mod_md treats it as valid for 12 hours. Without an
# explicit max_age, the validator judges such a response by mod_md's 12 hours: the same verdict the proactive engine
# acts on, and the longest a "no promise" answer is believed.
DEFAULT_MAX_AGE_WITHOUT_NEXT_UPDATE = 12 * 3600

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
            problem = _validity_problem(signer, now, skew)
            if problem:
                _error(errors, "signer_not_authorized", "signed by delegate {0}, which {1}".format(
                    _subject(signer), problem))
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
    produced_at = _utc(response, "produced_at")
    result["produced_at"] = iso(produced_at)
    if produced_at > now + datetime.timedelta(seconds=skew):
        _error(errors, "not_yet_valid", "producedAt {0} is in the future".format(iso(produced_at)))
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
        if next_update is not None and next_update < this_update:
            _error(errors, "malformed", "nextUpdate {0} is before thisUpdate {1}: no validity window; refused".format(
                iso(next_update), iso(this_update)))
        if this_update > now + slack:
            _error(errors, "not_yet_valid", "thisUpdate {0} is in the future".format(iso(this_update)))
        if next_update is not None and next_update < now - slack:
            _error(errors, "expired", "nextUpdate {0} has passed".format(iso(next_update)))
        if max_age is not None and result["age"] > max_age:
            _error(errors, "too_old", "thisUpdate is {0} s old, more than max_age {1} s".format(result["age"], max_age))
        elif max_age is None and next_update is None and result["age"] > DEFAULT_MAX_AGE_WITHOUT_NEXT_UPDATE:
            _error(errors, "too_old", "the response has no nextUpdate and thisUpdate is {0} s old, more than the 12 h "
                                      "such a response is believed (as mod_md does; set max_age to "
                                      "decide otherwise)".format(result["age"]))
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


def _validity_problem(cert, now, skew):
    """Why a delegated signer's own validity does not cover now (with skew), in words; None when it does."""
    slack = datetime.timedelta(seconds=skew)
    not_before, not_after = _utc(cert, "not_valid_before"), _utc(cert, "not_valid_after")
    if not_after < now - slack:
        return "expired on {0}".format(iso(not_after))
    if not_before > now + slack:
        return "is not valid before {0}".format(iso(not_before))
    return None


def _subject(cert):
    try:
        return cert.subject.rfc4514_string()
    except Exception:  # noqa: BLE001 -- a name cryptography cannot decode is still a signer to name
        return "a certificate whose subject cannot be decoded"


# --------------------------------------------------------------------------------------------
# The probe: a real request from this host
# --------------------------------------------------------------------------------------------

# OCSP responses are kilobytes (mod_ssl caches at most 10 KiB of one, MAX_STAPLING_DER, and reads at most 2 MiB,
# MAX_CONTENT in ssl_util_ocsp.c): a larger body is refused, never read whole.
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
_STATUS_LINE = re.compile(br"HTTP/[0-9]\.[0-9] ([0-9]{3})(?:[ \t][^\r\n]*)?\r?\Z")


class ProbeError(Exception):
    """A transport failure of the probe: that certificate's error, with a code (never a traceback)."""

    def __init__(self, code, msg, http_status=None):
        super(ProbeError, self).__init__(msg)
        self.code, self.msg, self.http_status = code, msg, http_status


def _excerpt(data, limit=60):
    """What a peer sent, shown safely: repr of its first bytes, cut."""
    text = repr(bytes(data[:limit]))
    return text + ("..." if len(data) > limit else "")


def probe(cert, issuer, uri, timeout=5.0, proxy=None, method="auto", skew=300, max_age=None, addresses=None,
          allowed_networks=None):
    """Ask the responder at uri about cert; return the validated verdict plus transport facts.

    method: ``post``, ``get`` (RFC 6960 A.1, only when the encoded request is under 255 bytes),
    or ``auto`` (GET when small enough, else POST). ``proxy`` is an http://host:port proxy, as
    Apache's SSLOCSPProxyURL; without it, no proxy is used (environment variables are ignored,
    as Apache ignores them).

    Bounded as mod_ssl's own request is: one HTTP/1.0 exchange under one deadline of ``timeout`` seconds for
    connecting, sending and reading (not per read), a body of at most MAX_RESPONSE_BYTES, no redirect followed
    (with or without a proxy). Every transport failure is ``error`` with a code. ``addresses``: the responder's
    addresses already resolved (and judged) by the caller; otherwise the host is resolved here. Each address is
    judged by ``destination_problem`` (with ``allowed_networks``) before any connection.
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
    out["method"] = "GET" if use_get else "POST"
    started = time.monotonic()
    deadline = started + timeout
    try:
        try:
            networks = parse_networks(allowed_networks)
        except ValueError as exc:
            raise ProbeError("bad_allowed_networks", str(exc))
        if proxy:
            proxy_host, proxy_port = _proxy_endpoint(proxy)
            _judge_addresses(uri, addresses or _literal(endpoint["host"]), networks)
            candidates = _sockaddrs(proxy_host, proxy_port, "proxy {0}".format(proxy))
        else:
            if addresses is None:
                addresses = [sockaddr[0] for _family, sockaddr in _sockaddrs(endpoint["host"], endpoint["port"], uri)]
            _judge_addresses(uri, addresses, networks)
            candidates = [_numeric(a, endpoint["port"]) for a in addresses]
        request = _request_bytes(uri, der, encoded, use_get, bool(proxy))
        status, body = _exchange(candidates, request, deadline, timeout, uri)
        out["http_status"] = status
    except ProbeError as exc:
        out["error"] = {"code": exc.code, "msg": exc.msg}
        out["http_status"] = exc.http_status
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


def _literal(host):
    """[host] when host is an IP address literal, else [] (a name the proxy resolves)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return []


def _judge_addresses(uri, addresses, networks):
    for address in addresses:
        problem = destination_problem(address, networks)
        if problem:
            raise ProbeError("refused_destination", "{0} resolves to {1}, {2}: not asked".format(uri, address, problem))


def _proxy_endpoint(proxy):
    parts = parse_endpoint(proxy)
    if parts["error"]:
        raise ProbeError("bad_proxy", "proxy {0!r}: {1}; give http://HOST:PORT as SSLOCSPProxyURL takes it".format(
            proxy, parts["error"]))
    return parts["host"], parts["port"]


def _sockaddrs(host, port, what):
    """[(family, sockaddr)] for TCP to host:port; ProbeError when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except (socket.gaierror, socket.herror, UnicodeError, ValueError) as exc:
        raise ProbeError("connection_failed", "cannot resolve {0}: {1}".format(what, exc))
    return [(info[0], info[4]) for info in infos]


def _numeric(address, port):
    info = socket.getaddrinfo(address, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP, socket.AI_NUMERICHOST)[0]
    return info[0], info[4]


def _request_bytes(uri, der, encoded, use_get, absolute):
    """The request as mod_ssl writes its own (ssl_util_ocsp.c serialize_request): HTTP/1.0, Host, Connection:
    close; through a proxy the target is the absolute URI."""
    parts = urlsplit(uri)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if use_get:
        target = (target if target.endswith("/") else target + "/") + encoded
    if absolute:
        target = "http://" + parts.netloc + target
    lines = ["{0} {1} HTTP/1.0".format("GET" if use_get else "POST", target), "Host: " + parts.netloc,
             "User-Agent: ocsp.stapling probe", "Connection: close"]
    if not use_get:
        lines += ["Content-Type: application/ocsp-request", "Content-Length: {0}".format(len(der))]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head if use_get else head + der


def _exchange(candidates, request, deadline, timeout, uri):
    """(status, body) of one exchange with the first candidate that accepts, all before deadline."""
    def remaining():
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProbeError("timeout", "no complete answer from {0} within {1} s".format(uri, timeout))
        return left

    sock, failure = None, None
    for family, sockaddr in candidates:
        candidate = socket.socket(family, socket.SOCK_STREAM)
        try:
            candidate.settimeout(remaining())
            candidate.connect(sockaddr)
            sock = candidate
            break
        except ProbeError:
            candidate.close()
            raise
        except socket.timeout:
            candidate.close()
            raise ProbeError("timeout", "no connection to {0} within {1} s".format(uri, timeout))
        except ConnectionRefusedError:
            candidate.close()
            failure = ProbeError("connection_refused", "connection to {0} refused".format(uri))
        except OSError as exc:
            candidate.close()
            failure = ProbeError("connection_failed", "cannot reach {0}: {1}".format(uri, exc))
    if sock is None:
        raise failure or ProbeError("connection_failed", "{0} resolves to no address".format(uri))
    try:
        sock.settimeout(remaining())
        sock.sendall(request)
        return _read_response(sock, remaining, uri)
    except socket.timeout:
        raise ProbeError("timeout", "no complete answer from {0} within {1} s".format(uri, timeout))
    except OSError as exc:
        raise ProbeError("connection_failed", "the connection to {0} failed: {1}".format(uri, exc))
    finally:
        sock.close()


def _read_response(sock, remaining, uri):
    data = bytearray()
    head_end = None
    status = length = None
    while True:
        if head_end is None:
            if len(data) >= 5 and not data.startswith(b"HTTP/"):
                raise ProbeError("not_http", "{0} did not answer HTTP: it sent {1}".format(uri, _excerpt(data)))
            first_line_end = data.find(b"\n")
            if first_line_end >= 0 and status is None:
                match = _STATUS_LINE.match(bytes(data[:first_line_end]))
                if not match:
                    raise ProbeError("not_http", "{0} answered no HTTP status line: {1}".format(
                        uri, _excerpt(data[:first_line_end])))
                status = int(match.group(1))
            found = data.find(b"\r\n\r\n")
            if found >= 0:
                head_end = found + 4
            elif data.find(b"\n\n") >= 0:
                head_end = data.find(b"\n\n") + 2
            if head_end is not None:
                length = _content_length(bytes(data[:head_end]), uri, status)
                _check_status(bytes(data[:head_end]), status, uri)
            elif len(data) > MAX_HEADER_BYTES:
                raise ProbeError("response_too_large", "{0} sent more than {1} bytes of HTTP headers; refused".format(
                    uri, MAX_HEADER_BYTES), status)
        if head_end is not None:
            body = len(data) - head_end
            if body > MAX_RESPONSE_BYTES:
                raise ProbeError("response_too_large", "{0} sent a body of more than {1} bytes; an OCSP response is "
                                                       "kilobytes, refused".format(uri, MAX_RESPONSE_BYTES), status)
            if length is not None and body >= length:
                return status, bytes(data[head_end:head_end + length])
        sock.settimeout(remaining())
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if head_end is None:
        if not data:
            raise ProbeError("connection_failed", "{0} closed the connection without an answer".format(uri))
        raise ProbeError("not_http", "{0} closed the connection before the end of its HTTP headers: {1}".format(
            uri, _excerpt(data)), status)
    if length is not None:
        raise ProbeError("incomplete_response", "{0} promised {1} bytes and closed the connection after {2}".format(
            uri, length, len(data) - head_end), status)
    return status, bytes(data[head_end:])


def _content_length(head, uri, status):
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise ProbeError("not_http", "{0} sent Content-Length {1}".format(uri, _excerpt(value.strip())), status)
            if length < 0:
                raise ProbeError("not_http", "{0} sent Content-Length {1}".format(uri, length), status)
            if length > MAX_RESPONSE_BYTES:
                raise ProbeError("response_too_large", "{0} announced a body of {1} bytes; an OCSP response is "
                                                       "kilobytes, refused (at most {2})".format(
                                                           uri, length, MAX_RESPONSE_BYTES), status)
            return length
    return None


def _check_status(head, status, uri):
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        location = None
        for line in head.split(b"\n")[1:]:
            name, colon, value = line.partition(b":")
            if colon and name.strip().lower() == b"location":
                location = _excerpt(value.strip(), 200)
        raise ProbeError("redirect", "HTTP {0} from {1} (Location {2}): not followed, as mod_ssl follows no "
                                     "redirect".format(status, uri, location), status)
    raise ProbeError("http_status", "HTTP {0} from {1}".format(status, uri), status)
