# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: the work behind ocsp_responder_info (inputs, per-certificate facts, endpoints)."""

from __future__ import annotations

import ipaddress
import socket

from ansible_collections.ocsp.stapling.plugins.module_utils._endpoints import forced_url, merge_endpoint  # noqa: F401
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._ocsp import (
    destination_problem, parse_endpoint, parse_networks, probe as ocsp_probe, resolve as dns_resolve,
)
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
        force_url = forced_url(vhost)
        key = (vhost["certificate_file"], vhost.get("certificate_chain_file"), vhost.get("ca_certificate_file"),
               force_url)
        if key not in by_path:
            by_path[key] = {"path": key[0], "chain_path": key[1], "ca_path": key[2], "vhosts": []}
            if force_url:
                by_path[key]["force_url"] = force_url
            out.append(by_path[key])
        by_path[key]["vhosts"].append({"server_name": vhost.get("server_name"), "file": vhost.get("file"),
                                       "line": vhost.get("line"), "index": index})
    return out


def _stapling_verdict(summary, endpoints, issuer_found, forced=None):
    if summary["expired"]:
        return "the certificate expired on {0}; renew it".format(summary["not_after"])
    if forced is not None:
        if forced["error"]:
            return "SSLStaplingForceURL {0} is what mod_ssl asks, and {1}".format(forced["uri"], forced["error"])
        if forced["refused"]:
            return "SSLStaplingForceURL {0} is what mod_ssl asks, and it is refused: {1}".format(
                forced["uri"], forced["refused"])
    elif not summary["has_ocsp_uri"]:
        return "the certificate has no OCSP URI (normal for Let's Encrypt since May 2025): nothing to staple"
    else:
        first = endpoints[0]
        if first["error"]:
            return "mod_ssl asks the first OCSP URI, {0}, and {1}".format(first["uri"], first["error"])
        if first["refused"]:
            return ("mod_ssl asks the first OCSP URI, {0}, and it is refused: {1}. The certificate decides where the web "
                    "server connects; egress and the probe go nowhere else".format(first["uri"], first["refused"]))
    if not issuer_found:
        return ("the issuer certificate is in none of the certificate file, chain file or CA file: mod_ssl logs "
                "AH02217 and staples nothing; serve the full chain (SSLCertificateChainFile or a full-chain "
                "SSLCertificateFile)")
    return None


def _endpoints(uris, resolver, networks, asked_first=True):
    """Each URI parsed; only the one mod_ssl asks (the first: ``X509_get1_ocsp``'s first entry, whatever the
    others) is resolved and judged by the egress policy (``refused``: why no egress and no probe go there)."""
    endpoints = []
    for index, uri in enumerate(uris):
        endpoint = parse_endpoint(uri)
        endpoint["asked"] = asked_first and index == 0
        endpoint["addresses"], endpoint["resolve_error"], endpoint["refused"] = [], None, None
        if endpoint["asked"] and not endpoint["error"]:
            endpoint["refused"] = _refusal([endpoint["host"]], networks)
            if endpoint["refused"] is None:
                endpoint["addresses"], endpoint["resolve_error"] = resolver(endpoint["host"], endpoint["port"])
                endpoint["refused"] = _refusal(endpoint["addresses"], networks)
        endpoints.append(endpoint)
    return endpoints


def _refusal(addresses, networks):
    """Why the first refused of addresses may not be a destination, or None (names that are no address pass)."""
    for address in addresses:
        try:
            ipaddress.ip_address(str(address).split("%", 1)[0])
        except ValueError:
            continue
        problem = destination_problem(address, networks)
        if problem:
            return "{0} is {1}".format(address, problem)
    return None


def _unreadable_leaf(entry, problem, resolver, networks):
    """The entry of a certificate cryptography cannot load: what its DER says, and why there is no verdict."""
    entry.update(fallback_summary(problem.der, problem.reason))
    facts = "read from its DER: OCSP URIs {0}, must-staple {1}".format(
        ", ".join(entry["ocsp_uris"]) or "none", "yes" if entry["must_staple"] else "no")
    entry["error"] = "{0}; {1}".format(problem.msg, facts)
    entry["issuer_found"] = None
    entry["issuer_source"] = None
    entry["endpoints"] = _endpoints(entry["ocsp_uris"], resolver, networks)
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


def inspect_one(item, resolver, probe=False, timeout=5.0, proxy=None, skew=300, max_age=None, networks=None):
    entry = {"path": item["path"], "error": None, "warnings": []}
    if item.get("force_url"):
        entry["force_url"] = item["force_url"]
    if item.get("vhosts") is not None:
        entry["vhosts"] = [dict((k, v) for k, v in vh.items() if k != "index") for vh in item["vhosts"]]
    unreadable = []
    try:
        data = read_file(item["path"])
        certs = load_pem_or_der_certificates(data, item["path"], unreadable=unreadable)
        entry["private_key_in_file"] = b"PRIVATE KEY-----" in data
        if unreadable and unreadable[0].index == 0:
            return _unreadable_leaf(entry, unreadable[0], resolver, networks), None, None
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
    forced = _endpoints([item["force_url"]], resolver, networks)[0] if item.get("force_url") else None
    endpoints = _endpoints(entry["ocsp_uris"], resolver, networks, asked_first=forced is None)
    entry["endpoints"] = endpoints
    if forced is not None:
        entry["force_endpoint"] = forced
    entry["reason"] = _stapling_verdict(entry, endpoints, issuer is not None, forced)
    if entry["error"]:
        entry["reason"] = entry["error"]
    entry["stapleable"] = entry["reason"] is None
    asked = forced if forced is not None else (endpoints[0] if endpoints else None)
    if probe and entry["error"]:
        entry["probe"] = {"ok": False, "uri": asked["uri"] if asked else None,
                          "error": {"code": "unreadable_certificate", "msg": entry["error"]}}
    elif probe:
        if asked is None:
            entry["probe"] = {"ok": False, "uri": None, "error": {"code": "unsupported_uri", "msg": "no OCSP URI"}}
        elif asked["refused"]:
            entry["probe"] = {"ok": False, "uri": asked["uri"], "error": {
                "code": "refused_destination", "msg": "{0}: {1}; not asked".format(asked["uri"], asked["refused"])}}
        elif issuer is None:
            entry["probe"] = {"ok": False, "uri": asked["uri"],
                              "error": {"code": "no_issuer", "msg": "issuer certificate not found: cannot build a request"}}
        else:
            entry["probe"] = ocsp_probe(leaf, issuer, asked["uri"], timeout=timeout, proxy=proxy, skew=skew,
                                        max_age=max_age, addresses=asked["addresses"] or None,
                                        allowed_networks=networks)
    return entry, leaf, issuer


def inspect_all(inputs, probe=False, timeout=5.0, proxy=None, resolve=True, skew=300, max_age=None,
                allowed_networks=None):
    """(certificates, endpoints) as ocsp_responder_info returns them. ``endpoints``: only where mod_ssl goes (each
    certificate's first OCSP URI, or the SSLStaplingForceURL in force), and only destinations not refused."""
    try:
        networks = parse_networks(allowed_networks)
    except ValueError as exc:
        raise StaplingError(str(exc))
    resolver = _Resolver(resolve)
    certificates = []
    merged = {}
    for item in inputs:
        entry = inspect_one(item, resolver, probe=probe, timeout=timeout, proxy=proxy, skew=skew, max_age=max_age,
                            networks=networks)[0]
        certificates.append(entry)
        asked = [entry["force_endpoint"]] if "force_endpoint" in entry else (entry.get("endpoints") or [])[:1]
        for endpoint in asked:
            if not (endpoint["error"] or endpoint["refused"]):
                merge_endpoint(merged, endpoint)
    return certificates, list(merged.values())
