# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: what every firewall backend shares - a rule and its identity (its key, stored as the rule's
comment after ``ocsp.stapling``, so the state read back is exactly ours), the rules wanted for a list of endpoints
(validated and resolved before any change), and the one shape of a backend's plan."""

from __future__ import annotations

import ipaddress
import socket

from ansible_collections.ocsp.stapling.plugins.module_utils._endpoints import destination_problem, parse_networks
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

MARK = "ocsp.stapling"
NFT_CHAIN = "ocsp_stapling_egress"
IPT_CHAIN = "OCSP-STAPLING"


class Rule(object):
    """One allowed destination: address family, address, TCP port, optional owner uid."""

    __slots__ = ("family", "address", "port", "uid")

    def __init__(self, family, address, port, uid=None):
        self.family, self.address, self.port, self.uid = family, address, int(port), uid

    @property
    def key(self):
        owner = " uid={0}".format(self.uid) if self.uid is not None else ""
        return "{0} {1} tcp/{2}{3}".format(self.family, self.address, self.port, owner)

    @classmethod
    def from_key(cls, key):
        parts = key.split()
        uid = None
        if len(parts) == 4 and parts[3].startswith("uid="):
            uid = int(parts[3][4:])
        return cls(parts[0], parts[1], int(parts[2].split("/")[1]), uid)

    @classmethod
    def from_dict(cls, d):
        """A rule as ocsp_egress returns it (its ``rules``): the controller names rules by the same key."""
        return cls(d.get("family"), d.get("address"), d.get("port"), d.get("uid"))

    def as_dict(self):
        return {"family": self.family, "address": self.address, "port": self.port, "protocol": "tcp", "uid": self.uid}


def host_families(proc="/proc"):
    """The address families this host (its network namespace) can use: ip always, ip6 unless disabled."""
    families = set(["ip"])
    try:
        with open(proc + "/sys/net/ipv6/conf/all/disable_ipv6") as f:
            if f.read().strip() == "0":
                families.add("ip6")
    except (IOError, OSError):
        pass  # a kernel without IPv6
    return families


def desired_rules(endpoints, owner_uid=None, resolver=None, families=None, allowed_networks=None):
    """Rules for every resolved address of every endpoint; StaplingError before any change on bad input.

    A destination that can never be a responder (``_endpoints.destination_problem``: link-local, unspecified, multicast,
    broadcast) or outside ``allowed_networks`` (CIDRs; empty = no restriction) is refused, naming the endpoint:
    certificates decide these destinations, so a certificate alone must not open the way to them."""
    resolver = resolver or _resolve
    families = host_families() if families is None else families
    try:
        networks = parse_networks(allowed_networks)
    except ValueError as exc:
        raise StaplingError(str(exc))
    rules, resolved = {}, []
    for index, ep in enumerate(endpoints):
        host = ep.get("host")
        port = ep.get("port", 80)
        protocol = (ep.get("protocol") or "tcp").lower()
        if not host:
            raise StaplingError("endpoints[{0}] has no host; give host (name or address) and port".format(index))
        if protocol != "tcp":
            raise StaplingError("endpoints[{0}] ({1}) uses protocol {2}; OCSP over http:// is TCP only".format(
                index, host, protocol))
        uris = [u for u in [ep.get("uri")] + list(ep.get("uris") or []) if u]
        scheme = ep.get("scheme")
        for uri in uris + (["{0}://".format(scheme)] if scheme else []):
            if not str(uri).lower().startswith("http://"):
                raise StaplingError("endpoints[{0}] ({1}) is for {2}: mod_ssl fetches OCSP over http:// only, so "
                                    "there is nothing to open; drop it (or fix the certificate's AIA)".format(
                                        index, host, uri))
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise StaplingError("endpoints[{0}] ({1}) has port {2!r}, not a number".format(index, host, port))
        if not 0 < port < 65536:
            raise StaplingError("endpoints[{0}] ({1}) has port {2}, outside 1-65535".format(index, host, port))
        addresses = resolver(host, port)
        if not addresses:
            raise StaplingError("endpoints[{0}]: {1} resolves to no address on this host; fix DNS or give the "
                                "responder's address".format(index, host))
        for address in addresses:
            problem = destination_problem(address, networks)
            if problem:
                raise StaplingError("endpoints[{0}]: {1} port {2} resolves to {3}, {4}: no egress is opened there. "
                                    "The certificate's OCSP URI (or SSLStaplingForceURL) names it; drop the endpoint, "
                                    "or allow its network (allowed_networks)".format(index, host, port, address, problem))
        usable = [a for a in addresses if _family(a) in families]
        if not usable:
            raise StaplingError("endpoints[{0}]: {1} is only reachable over IPv6 ({2}), but IPv6 is disabled on this "
                                "host; give the responder's IPv4 address or enable IPv6".format(
                                    index, host, ", ".join(addresses)))
        entry = {"host": host, "port": port, "addresses": usable}
        if len(usable) < len(addresses):
            entry["skipped"] = [a for a in addresses if a not in usable]  # IPv6 disabled here
        resolved.append(entry)
        for address in usable:
            rule = Rule(_family(address), address, port, owner_uid)
            rules[rule.key] = rule
    return rules, resolved


def _family(address):
    return "ip6" if ipaddress.ip_address(address).version == 6 else "ip"


def _resolve(host, port):
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise StaplingError("cannot resolve OCSP responder host {0} on this host: {1}".format(host, exc))
    return sorted(set(str(ipaddress.ip_address(i[4][0])) for i in infos))


class Plan(object):
    """What a backend would do, in one shape whatever the backend: ``change`` (what its ``apply()`` takes: nft script
    lines, iptables-restore scripts per family, ufw or firewall-cmd command lines), ``lines`` (the same as text, one
    line each, for a diff), ``added`` and ``removed`` (rule keys), ``after`` (the keys of our rules once applied)."""

    __slots__ = ("change", "lines", "added", "removed", "after")

    def __init__(self, change, lines, added, removed, after):
        self.change, self.lines, self.added, self.removed, self.after = change, lines, added, removed, after

    def __bool__(self):
        return bool(self.lines)

    __nonzero__ = __bool__


class Backend(object):
    """A firewall of the host. ``plan(rules, state, purge)`` reads its state and returns a Plan (nothing changed);
    ``apply(plan)`` makes it so; ``listing()`` is the text of our rules now (for a diff); ``notes`` what the module
    should warn about. Subclasses implement ``_plan()`` (change, added, removed, after), ``_describe(change)``
    (text lines) and ``_apply(change)``."""

    name = None

    def __init__(self, run):
        self.run = run
        self.notes = []

    def plan(self, rules, state="present", purge=False):
        change, added, removed, after = self._plan(rules, state, purge)
        return Plan(change, self._describe(change), added, removed, after)

    def apply(self, plan):
        if plan.lines:
            self._apply(plan.change)

    def listing(self):
        raise NotImplementedError

    def _plan(self, rules, state, purge):
        raise NotImplementedError

    def _describe(self, change):
        return [" ".join(item) if isinstance(item, list) else item for item in change]

    def _apply(self, change):
        raise NotImplementedError
