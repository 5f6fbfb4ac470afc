# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: the work behind ocsp_responder_info (inputs, per-certificate facts, endpoints)."""

from __future__ import annotations

import socket

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._ocsp import parse_endpoint, probe as ocsp_probe, resolve as dns_resolve
from ansible_collections.ocsp.stapling.plugins.module_utils._x509 import (
    certificate_summary, fallback_summary, find_issuer, load_pem_or_der_certificates, openssl_says, read_file,
)


def normalize_inputs(certificates, vhosts):
    """[{path, chain_path, ca_path, vhosts}] from the module's certificates or vhosts option."""
    out = []
    if certificates is not None:
        for index, item in enumerate(certificates):
            if isinstance(item, str):
                item = {"path": item}
            if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
                raise StaplingError("certificates[{0}] must be a file path or a dictionary with a 'path' key "
                                    "(optionally 'chain_path' and 'ca_path'); got {1!r}".format(index, item))
            unknown = set(item) - {"path", "chain_path", "ca_path"}
            if unknown:
                raise StaplingError("certificates[{0}] has unknown keys {1}; use path, chain_path, ca_path".format(
                    index, ", ".join(sorted(unknown))))
            out.append({"path": item["path"], "chain_path": item.get("chain_path"), "ca_path": item.get("ca_path"),
                        "vhosts": None})
        return out
    by_path = {}
    for index, vhost in enumerate(vhosts or []):
        if not vhost.get("tls", True) or not vhost.get("certificate_file"):
            continue
        key = (vhost["certificate_file"], vhost.get("certificate_chain_file"), vhost.get("ca_certificate_file"))
        if key not in by_path:
            by_path[key] = {"path": key[0], "chain_path": key[1], "ca_path": key[2], "vhosts": []}
            out.append(by_path[key])
        by_path[key]["vhosts"].append({"server_name": vhost.get("server_name"), "file": vhost.get("file"),
                                       "line": vhost.get("line"), "index": index})
    return out


def _stapling_verdict(summary, endpoints, issuer_found):
    if summary["expired"]:
        return "the certificate expired on {0}; renew it".format(summary["not_after"])
    if not summary["has_ocsp_uri"]:
        return "the certificate has no OCSP URI (normal for Let's Encrypt since May 2025): nothing to staple"
    first = endpoints[0]
    if first["error"]:
        return "mod_ssl asks the first OCSP URI, {0}, and {1}".format(first["uri"], first["error"])
    if not issuer_found:
        return ("the issuer certificate is in none of the certificate file, chain file or CA file: mod_ssl logs "
                "AH02217 and staples nothing; serve the full chain (SSLCertificateChainFile or a full-chain "
                "SSLCertificateFile)")
    return None


def _endpoints(uris, resolver):
    endpoints = []
    for uri in uris:
        endpoint = parse_endpoint(uri)
        endpoint["addresses"], endpoint["resolve_error"] = [], None
        if not endpoint["error"]:
            endpoint["addresses"], endpoint["resolve_error"] = resolver(endpoint["host"], endpoint["port"])
        endpoints.append(endpoint)
    return endpoints


def _unreadable_leaf(entry, problem, resolver):
    """The entry of a certificate cryptography cannot load: what its DER says, and why there is no verdict."""
    entry.update(fallback_summary(problem.der, problem.reason))
    facts = "read from its DER: OCSP URIs {0}, must-staple {1}".format(
        ", ".join(entry["ocsp_uris"]) or "none", "yes" if entry["must_staple"] else "no")
    entry["error"] = "{0}; {1}".format(problem.msg, facts)
    entry["issuer_found"] = None
    entry["issuer_source"] = None
    entry["endpoints"] = _endpoints(entry["ocsp_uris"], resolver)
    entry["stapleable"] = False
    entry["reason"] = ("unknown: this collection cannot parse the certificate, so it can neither match its issuer "
                       "nor check a response for it; {0}".format(openssl_says(entry["openssl_loads"])))
    return entry


class _Resolver(object):
    def __init__(self, enabled):
        self.enabled = enabled
        self.cache = {}

    def __call__(self, host, port):
        if not self.enabled:
            return [], None
        if (host, port) not in self.cache:
            try:
                self.cache[(host, port)] = (dns_resolve(host, port), None)
            except (socket.gaierror, socket.herror, UnicodeError) as exc:
                self.cache[(host, port)] = ([], "cannot resolve {0}: {1}".format(host, exc))
        return self.cache[(host, port)]


def inspect_one(item, resolver, probe=False, timeout=5.0, proxy=None, skew=300, max_age=None):
    entry = {"path": item["path"], "error": None, "warnings": []}
    if item.get("vhosts") is not None:
        entry["vhosts"] = [dict((k, v) for k, v in vh.items() if k != "index") for vh in item["vhosts"]]
    unreadable = []
    try:
        data = read_file(item["path"])
        certs = load_pem_or_der_certificates(data, item["path"], unreadable=unreadable)
        entry["private_key_in_file"] = b"PRIVATE KEY-----" in data
        if unreadable and unreadable[0].index == 0:
            return _unreadable_leaf(entry, unreadable[0], resolver), None, None
        leaf = certs[0]
        summary = certificate_summary(leaf)
        entry.update(summary)
        if summary["error"]:
            entry["error"] = "{0}: {1}".format(item["path"], summary["error"])
        candidates = [("certificate_file", c) for c in certs[1:]]
        for key in ("chain_path", "ca_path"):
            if item.get(key):
                found = load_pem_or_der_certificates(read_file(item[key], key.replace("_", " ")), item[key],
                                                     unreadable=unreadable)
                candidates += [(key, c) for c in found]
    except StaplingError as exc:
        entry["error"] = exc.msg
        return entry, None, None
    for problem in unreadable:  # an odd certificate in a chain or CA file: skipped as an issuer candidate
        entry["warnings"].append({"oid": None, "what": "issuer candidate", "msg": problem.msg})
    issuer = find_issuer(leaf, [c for _source, c in candidates])
    entry["issuer_found"] = issuer is not None
    entry["issuer_source"] = next((s for s, c in candidates if c is issuer), None) if issuer is not None else None
    endpoints = _endpoints(entry["ocsp_uris"], resolver)
    entry["endpoints"] = endpoints
    entry["reason"] = _stapling_verdict(entry, endpoints, issuer is not None)
    if entry["error"]:
        entry["reason"] = entry["error"]
    entry["stapleable"] = entry["reason"] is None
    if probe and entry["error"]:
        entry["probe"] = {"ok": False, "uri": (entry["ocsp_uris"] or [None])[0],
                          "error": {"code": "unreadable_certificate", "msg": entry["error"]}}
    elif probe:
        if not entry["ocsp_uris"]:
            entry["probe"] = {"ok": False, "uri": None, "error": {"code": "unsupported_uri", "msg": "no OCSP URI"}}
        elif issuer is None:
            entry["probe"] = {"ok": False, "uri": entry["ocsp_uris"][0],
                              "error": {"code": "no_issuer", "msg": "issuer certificate not found: cannot build a request"}}
        else:
            entry["probe"] = ocsp_probe(leaf, issuer, entry["ocsp_uris"][0], timeout=timeout, proxy=proxy,
                                        skew=skew, max_age=max_age)
    return entry, leaf, issuer


def inspect_all(inputs, probe=False, timeout=5.0, proxy=None, resolve=True, skew=300, max_age=None):
    """(certificates, endpoints) as ocsp_responder_info returns them."""
    resolver = _Resolver(resolve)
    certificates = []
    merged = {}
    for item in inputs:
        entry = inspect_one(item, resolver, probe=probe, timeout=timeout, proxy=proxy, skew=skew, max_age=max_age)[0]
        certificates.append(entry)
        for endpoint in entry.get("endpoints") or []:
            if endpoint["error"]:
                continue
            key = (endpoint["host"], endpoint["port"])
            if key not in merged:
                merged[key] = {"host": endpoint["host"], "port": endpoint["port"], "protocol": "tcp", "uris": [],
                               "addresses": endpoint["addresses"], "resolve_error": endpoint["resolve_error"]}
            if endpoint["uri"] not in merged[key]["uris"]:
                merged[key]["uris"].append(endpoint["uri"])
    return certificates, list(merged.values())
