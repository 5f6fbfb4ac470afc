# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: where egress may go, and the responder endpoints it goes to, merged per host and port.

The one egress policy (``destination_problem``) and the one endpoint merge, shared by the modules on the managed
host (ocsp_responder_info, ocsp_egress) and the plan filter on the controller. Standard library only: the controller
imports it in every worker that plans, so it must not pull in cryptography.
"""

from __future__ import annotations

import ipaddress
import re

_UNSPECIFIED_V4 = ipaddress.ip_network("0.0.0.0/8")
_BROADCAST_V4 = ipaddress.ip_address("255.255.255.255")
_HTTP_URL = re.compile(r"^http://(\[[^\]]+\]|[^/:]+)(?::(\d+))?(/.*)?$", re.IGNORECASE)


def parse_networks(values, what="allowed_networks"):
    """The CIDRs of ``values`` (None or [] = no restriction) as ip_network objects; StaplingError-free: ValueError
    naming the value and the fix."""
    networks = []
    for value in values or []:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=True))
        except ValueError as exc:
            raise ValueError("{0}: {1!r} is not a network in CIDR notation ({2}); write it as 192.0.2.0/24 or "
                             "2001:db8::/32 (an address alone is one host)".format(what, value, exc))
    return networks


def destination_problem(address, networks=None):
    """Why egress (and the probe) must not go to ``address``, in words, or None.

    The certificate decides where mod_ssl connects, so a certificate alone must not open the way to what can never
    be a responder: link-local addresses (169.254.0.0/16, fe80::/10, where cloud metadata services answer), the
    unspecified address (0.0.0.0/8, ::), multicast and the IPv4 broadcast. Private and loopback addresses stay
    allowed: a private CA's responder on a private address is the usual enterprise case. ``networks`` (from
    ``parse_networks``), when not empty, is the operator's list of networks egress may go to: any other address is
    refused. IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry."""
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or (ip.version == 4 and ip in _UNSPECIFIED_V4):
        return "an unspecified address, never a responder"
    if ip.is_link_local:
        return "a link-local address (169.254.0.0/16, fe80::/10: where cloud metadata services answer), never a responder"
    if ip.is_multicast:
        return "a multicast address, never a responder"
    if ip == _BROADCAST_V4:
        return "the broadcast address, never a responder"
    if networks and not any(ip.version == n.version and ip in n for n in networks):
        return "outside the networks egress is allowed to ({0})".format(", ".join(str(n) for n in networks))
    return None


def is_address(text):
    """Whether ``text`` is an IP address literal (a zone index allowed)."""
    try:
        ipaddress.ip_address(str(text).split("%", 1)[0])
    except ValueError:
        return False
    return True


def forced_url(vhost):
    """The SSLStaplingForceURL in force for an apache_info vhost (its own or the global one), or None: mod_ssl then
    asks that URL and never the certificate's."""
    directives = (vhost.get("stapling") or {}).get("directives") or {}
    for name, value in directives.items():
        if name.lower() == "sslstaplingforceurl" and value:
            return value.strip().strip("\"'")
    return None


def endpoint_from_url(url):
    """{host, port, protocol, addresses, resolve_error, uris} of an http:// responder URL, not resolved (ocsp_egress
    resolves it on the host); None when it is not an http://HOST[:PORT]/ URL."""
    m = _HTTP_URL.match(url or "")
    if not m:
        return None
    return {"host": m.group(1).strip("[]"), "port": int(m.group(2) or 80), "protocol": "tcp", "addresses": [],
            "resolve_error": None, "uris": [url]}


def merge_endpoint(merged, endpoint):
    """Add one endpoint ({host, port, addresses, resolve_error, uri or uris}) to ``merged`` ({(host, port): entry}):
    one entry per responder host and port, with every address and URI seen for it, in order. The input of
    ocsp_egress is the merged entries."""
    key = (endpoint["host"], endpoint["port"])
    if key not in merged:
        merged[key] = {"host": endpoint["host"], "port": endpoint["port"], "protocol": endpoint.get("protocol") or "tcp",
                       "addresses": [], "resolve_error": endpoint.get("resolve_error"), "uris": []}
    entry = merged[key]
    for address in endpoint.get("addresses") or []:
        if address not in entry["addresses"]:
            entry["addresses"].append(address)
    for uri in endpoint.get("uris") or ([endpoint["uri"]] if endpoint.get("uri") else []):
        if uri not in entry["uris"]:
            entry["uris"].append(uri)
    return entry


def merged_list(merged):
    """The merged entries in a stable order (host, then port)."""
    return [merged[k] for k in sorted(merged, key=lambda k: (str(k[0]), k[1]))]
