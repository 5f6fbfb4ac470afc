# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: fetch the OCSP response a TLS server staples, and judge it.

A real handshake asking for ``status_request`` (pyOpenSSL: the stdlib ``ssl`` module cannot
ask for or read a staple), on TLS 1.3 and 1.2, with bounded retries for mod_ssl's lazy first
fetch, concurrently across targets. The staple is judged by ``_ocsp.validate_response``
against the certificate the server really presented and its issuer.
"""

from __future__ import annotations

import base64
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ocsp.stapling.plugins.module_utils._ocsp import validate_response
from ansible_collections.ocsp.stapling.plugins.module_utils._x509 import (
    UnreadableCertificate, certificate_summary, fallback_summary, find_issuer, load_der_certificate,
    load_pem_or_der_certificates, read_file,
)

try:
    from OpenSSL import SSL, crypto
except ImportError:  # reported by _deps.require_pyopenssl() in the module
    pass

TLS_VERSIONS = ("1.3", "1.2")


class HandshakeError(Exception):
    def __init__(self, code, msg):
        super(HandshakeError, self).__init__(msg)
        self.code = code
        self.msg = msg


def _proto(version):
    return {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}[version]


def _wait(sock, deadline, write=False):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise HandshakeError("timeout", "TLS handshake did not finish in time")
    if write:
        select.select([], [sock], [], remaining)
    else:
        select.select([sock], [], [], remaining)


def _on_ocsp(conn, ocsp_data, data):
    """OCSP client callback: keep the raw staple on the connection; we judge it after the handshake."""
    conn.set_app_data(ocsp_data or b"")
    return True


_CONTEXTS = {}


def _context(version):
    """One client context per TLS version, shared by every handshake (creating one costs more than it does)."""
    if version not in _CONTEXTS:
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.set_min_proto_version(_proto(version))
        ctx.set_max_proto_version(_proto(version))
        # No verify callback: with one (even returning True) OpenSSL walks and signature-checks the whole chain
        # through Python on every handshake; we judge the staple ourselves, against the presented chain.
        ctx.set_verify(SSL.VERIFY_NONE)
        ctx.set_ocsp_client_callback(_on_ocsp)
        _CONTEXTS[version] = ctx
    return _CONTEXTS[version]


def sni_bytes(sni):
    """The SNI host name as sent (IDNA, RFC 6066: ASCII, at most 255 bytes), or HandshakeError ``bad_sni``.

    Apache accepts ServerNames no client can ask for by SNI (``a..b.example``, a label of 64 characters): such a
    target is reported as that target's error, never a traceback that would lose every other target's verdict."""
    shown = sni if len(sni) <= 100 else sni[:100] + "..."
    try:
        encoded = sni.encode("idna")
    except UnicodeError as exc:
        raise HandshakeError("bad_sni", "{0!r} cannot be sent as a TLS server name ({1}): no client can ask for "
                                        "this vhost by SNI; give the target an sni that is a valid DNS name".format(
                                            shown, exc.__cause__ or exc))
    if len(encoded) > 255 or b"\0" in encoded:
        raise HandshakeError("bad_sni", "{0!r} cannot be sent as a TLS server name (longer than 255 bytes or a NUL): "
                                        "give the target an sni that is a valid DNS name".format(shown))
    return encoded


def handshake(host, port, sni, version, timeout):
    """One handshake asking for a staple. Returns (der_or_empty, [DER of each presented certificate], protocol)."""
    deadline = time.monotonic() + timeout
    server_name = sni_bytes(sni) if sni else None
    ctx = _context(version)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        raise HandshakeError("timeout", "no TCP connection to {0}:{1} within {2} s".format(host, port, timeout))
    except ConnectionRefusedError:
        raise HandshakeError("connection_refused", "connection to {0}:{1} refused".format(host, port))
    except (socket.error, OSError) as exc:
        raise HandshakeError("connection_failed", "cannot connect to {0}:{1}: {2}".format(host, port, exc))
    except (UnicodeError, ValueError) as exc:  # a host name IDNA (or the resolver) refuses: a..b.example, a NUL
        raise HandshakeError("connection_failed", "cannot connect to {0!r}:{1}: not a usable host name ({2})".format(
            host[:100], port, exc))
    sock.setblocking(False)
    conn = SSL.Connection(ctx, sock)
    conn.set_app_data(b"")
    try:
        if server_name:
            conn.set_tlsext_host_name(server_name)
        conn.request_ocsp()
        conn.set_connect_state()
        while True:
            try:
                conn.do_handshake()
                break
            except SSL.WantReadError:
                _wait(sock, deadline)
            except SSL.WantWriteError:
                _wait(sock, deadline, write=True)
            except SSL.ZeroReturnError:
                raise HandshakeError("tls_error", "the server closed the connection during the TLS handshake")
            except SSL.SysCallError as exc:
                raise HandshakeError("tls_error", "TLS handshake failed: {0} (is this a TLS port?)".format(exc))
            except SSL.Error as exc:
                text = str(exc)
                if "wrong version number" in text or "packet length too long" in text:
                    raise HandshakeError("not_tls", "{0}:{1} does not answer TLS ({2})".format(host, port, text))
                if "protocol version" in text or "unsupported protocol" in text or "no protocols available" in text:
                    raise HandshakeError("tls_version_unsupported",
                                         "the server does not speak TLS {0}: {1}".format(version, text))
                raise HandshakeError("tls_error", "TLS handshake failed: {0}".format(text))
        chain = conn.get_peer_cert_chain() or []
        certs = [crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in chain]
        protocol = conn.get_protocol_version_name()
    finally:
        try:
            conn.close()
        except SSL.Error:
            pass
        sock.close()
    return conn.get_app_data(), certs, protocol


def _issuer_for(leaf, presented, ca_certs):
    return find_issuer(leaf, list(presented[1:]) + list(ca_certs))


def check_version(target, version, ca_certs, attempts, delay, deadline, skew, max_age, return_der, memo=None):
    """Handshakes on one TLS version until a staple arrives or the budget is spent. ``memo`` (per target)
    keeps the judgement of a staple and chain already judged on the other TLS version."""
    memo = {} if memo is None else memo
    out = {"version": version, "supported": True, "stapled": False, "valid": False, "handshakes": 0,
           "errors": [], "verdict": None, "certificate": None}
    der = b""
    ders = []
    if target["sni"]:
        try:
            sni_bytes(target["sni"])
        except HandshakeError as exc:
            out["errors"] = [{"code": exc.code, "msg": exc.msg}]
            return out
    for attempt in range(attempts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        out["handshakes"] += 1
        try:
            der, ders, protocol = handshake(target["host"], target["port"], target["sni"], version, remaining)
        except HandshakeError as exc:
            if exc.code == "tls_version_unsupported":
                out["supported"] = False
            out["errors"] = [{"code": exc.code, "msg": exc.msg}]
            return out
        out["protocol"] = protocol
        if der:
            break
        if attempt + 1 < attempts:
            time.sleep(min(delay, max(0, deadline - time.monotonic())))
    if not ders:
        out["errors"] = [{"code": "no_certificate", "msg": "the server presented no certificate"}]
        return out
    certs = []
    for index, cert_der in enumerate(ders):
        try:
            certs.append(load_der_certificate(cert_der, "the certificate served"))
        except UnreadableCertificate as exc:
            if index == 0:  # the leaf: what its DER says, and why its staple cannot be judged here
                out["certificate"] = exc
                out["errors"] = [{"code": "unreadable_certificate", "msg": "{0}; the server's OpenSSL serves it, "
                                  "but its staple cannot be judged here".format(exc.msg)}]
                return out
            # an odd chain certificate is only not an issuer candidate
    leaf = certs[0]
    out["certificate"] = leaf
    if not der:
        out["errors"] = [{"code": "no_staple", "msg": "no OCSP response stapled after {0} handshake(s)".format(
            out["handshakes"])}]
        return out
    out["stapled"] = True
    if return_der:
        out["der"] = base64.b64encode(der).decode("ascii")
    key = (der, tuple(certs))
    if key not in memo:
        issuer = _issuer_for(leaf, certs, ca_certs)
        memo[key] = (issuer, validate_response(der, leaf, issuer, skew=skew, max_age=max_age)
                     if issuer is not None else None)
    issuer, verdict = memo[key]
    if issuer is None:
        out["errors"] = [{"code": "no_issuer", "msg": "the issuer of the served certificate is neither in the chain "
                                                      "the server presented nor in ca_file: cannot check the staple"}]
        return out
    out["verdict"] = verdict
    out["valid"] = verdict["valid"]
    out["errors"] = list(verdict["errors"])
    return out


def check_target(target, ca_certs=(), tls_versions=TLS_VERSIONS, attempts=3, delay=0.2, timeout=10.0, skew=300,
                 max_age=None, return_der=False):
    """The result for one {host, port, sni} target (see RETURN of ocsp_staple_info)."""
    deadline = time.monotonic() + timeout
    result = {"host": target["host"], "port": target["port"], "sni": target["sni"], "stapled": False, "valid": False,
              "cert_status": None, "this_update": None, "next_update": None, "age": None, "signer": None,
              "produced_at": None, "handshakes": 0, "errors": [], "must_staple": None, "certificate": None, "tls": {}}
    per_version, memo = [], {}
    for version in tls_versions:
        one = check_version(target, version, ca_certs, attempts, delay, deadline, skew, max_age, return_der, memo)
        result["handshakes"] += one["handshakes"]
        per_version.append(one)
        result["tls"][version] = {
            "supported": one["supported"], "stapled": one["stapled"], "valid": one["valid"],
            "handshakes": one["handshakes"], "errors": one["errors"],
        }
        if "der" in one:
            result["tls"][version]["der"] = one["der"]
    spoken = [v for v in per_version if v["supported"]]
    if not spoken:
        result["errors"] = [dict(e, tls=v["version"]) for v in per_version for e in v["errors"]]
        if not result["errors"]:
            result["errors"] = [{"code": "tls_error", "msg": "no TLS version to try"}]
        return result
    first = next((v for v in spoken if v["certificate"] is not None), spoken[0])
    if first["certificate"] is not None:
        served = first["certificate"]
        if isinstance(served, UnreadableCertificate):
            summary = fallback_summary(served.der, served.reason)
        else:
            summary = certificate_summary(served)
            if summary["error"]:
                result["errors"].append({"code": "unreadable_certificate", "msg": summary["error"]})
        result["must_staple"] = summary["must_staple"]
        result["certificate"] = {k: summary[k] for k in ("subject", "serial", "fingerprint_sha256", "not_after",
                                                         "ocsp_uris", "sans", "warnings")}
    verdict = next((v["verdict"] for v in spoken if v["verdict"]), None)
    if verdict:
        for key in ("cert_status", "this_update", "next_update", "age", "signer", "produced_at"):
            result[key] = verdict[key]
    result["stapled"] = any(v["stapled"] for v in spoken)
    result["valid"] = all(v["valid"] for v in spoken)
    seen = set()
    for v in spoken:
        for e in v["errors"]:
            if (e["code"], e["msg"]) not in seen:
                seen.add((e["code"], e["msg"]))
                result["errors"].append(dict(e, tls=v["version"]))
    if result["must_staple"] and not result["valid"]:
        result["errors"].append({"code": "must_staple_unsatisfied",
                                 "msg": "the certificate is must-staple and is served without a valid staple: "
                                        "clients that honour must-staple refuse this site"})
    return result


def load_ca_file(path):
    if not path:
        return []
    return load_pem_or_der_certificates(read_file(path, "CA file"), path)


def check_targets(targets, concurrency=16, **kwargs):
    """check_target over every target, at most ``concurrency`` at once, results in input order.

    Threads scale here because the handshake runs in OpenSSL without the GIL; the client context has no
    Python verify callback, which would take the GIL back for every certificate of every handshake.
    """
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets)))) as pool:
        futures = [pool.submit(check_target, target, **kwargs) for target in targets]
        return [future.result() for future in futures]
