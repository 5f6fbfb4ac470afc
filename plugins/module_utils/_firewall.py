# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: egress rules to OCSP responders on nftables, iptables, ufw and firewalld.

Our rules live in a chain of our own and are marked with the comment ``ocsp.stapling``;
the chain is reached by a jump at the top of the host's own output chain(s), because an
accept in a separate nftables base chain does not override a drop in another one on the
same hook (ufw and firewalld: their own rule objects, see those classes). Only accepts are
added; no policy is ever changed. Commands run through a
``run(argv, data=None) -> (rc, out, err)`` callable; changes are applied atomically
(``nft -f -``, ``iptables-restore --noflush``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._ocsp import destination_problem, parse_networks

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

    A destination that can never be a responder (``_ocsp.destination_problem``: link-local, unspecified, multicast,
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


# ------------------------------------------------------------------------------------------
# nftables
# ------------------------------------------------------------------------------------------

class Nftables(object):
    name = "nftables"

    def __init__(self, run, nft):
        self.run, self.nft = run, nft

    def ruleset(self):
        rc, out, err = self.run([self.nft, "-j", "list", "ruleset"])
        if rc != 0:
            raise StaplingError("nft list ruleset failed: {0}".format(err.strip()))
        items = json.loads(out).get("nftables", [])
        tables, chains, rules = [], [], []
        for item in items:
            if "table" in item:
                tables.append(item["table"])
            elif "chain" in item:
                chains.append(item["chain"])
            elif "rule" in item:
                rules.append(item["rule"])
        return tables, chains, rules

    @staticmethod
    def output_chains(chains):
        """Foreign base chains on the output hook of tables of family inet/ip/ip6."""
        return [c for c in chains if c.get("hook") == "output" and c.get("type") == "filter"
                and c.get("family") in ("inet", "ip", "ip6") and c.get("name") != NFT_CHAIN]

    def state(self):
        """(ours: {key: (family, table, handle)}, jumps: [(family, table, chain, handle)], output chains, our chains)."""
        tables, chains, rules = self.ruleset()
        ours, jumps = {}, []
        our_chains = set((c["family"], c["table"]) for c in chains if c.get("name") == NFT_CHAIN)
        for r in rules:
            comment = r.get("comment") or ""
            if not comment.startswith(MARK):
                continue
            if r.get("chain") == NFT_CHAIN:
                ours.setdefault(comment[len(MARK) + 1:], []).append((r["family"], r["table"], r["handle"]))
            elif comment == MARK + " jump":
                jumps.append((r["family"], r["table"], r["chain"], r["handle"]))
        return ours, jumps, self.output_chains(chains), our_chains

    def plan(self, rules, state="present", purge=False):
        """(script lines, added keys, removed keys, rules after)."""
        ours, jumps, outputs, our_chains = self.state()
        lines, added, removed = [], [], []
        targets = sorted(set((c["family"], c["table"]) for c in outputs))
        if state == "absent":
            for family, table, chain, handle in jumps:
                lines.append("delete rule {0} {1} {2} handle {3}".format(family, table, chain, handle))
            for family, table in sorted(our_chains):
                lines.append("flush chain {0} {1} {2}".format(family, table, NFT_CHAIN))
                lines.append("delete chain {0} {1} {2}".format(family, table, NFT_CHAIN))
            removed = sorted(ours)
            return lines, added, removed, []
        jumped = set((f, t, c) for f, t, c, _h in jumps)
        self.targets = targets
        self.target_chains = dict(((f, t), sorted(c["name"] for c in outputs if (c["family"], c["table"]) == (f, t)))
                                  for f, t in targets)
        for family, table in targets:
            if (family, table) not in our_chains:
                lines.append("add chain {0} {1} {2}".format(family, table, NFT_CHAIN))
            for chain in sorted(c["name"] for c in outputs if (c["family"], c["table"]) == (family, table)):
                if (family, table, chain) not in jumped:
                    lines.append('insert rule {0} {1} {2} jump {3} comment "{4} jump"'.format(
                        family, table, chain, NFT_CHAIN, MARK))
            for key, rule in sorted(rules.items()):
                if family != "inet" and family != rule.family:
                    continue
                present = [h for f, t, h in ours.get(key, []) if (f, t) == (family, table)]
                if not present:
                    lines.append('add rule {0} {1} {2} {3} comment "{4} {5}"'.format(
                        family, table, NFT_CHAIN, self._match(rule), MARK, key))
                    if key not in added:
                        added.append(key)
        if purge:
            for key, places in sorted(ours.items()):
                if key in rules:
                    continue
                for family, table, handle in places:
                    lines.append("delete rule {0} {1} {2} handle {3}".format(family, table, NFT_CHAIN, handle))
                removed.append(key)
        after = sorted(set(rules) | (set() if purge else set(ours))) if targets else sorted(ours)
        return lines, added, removed, after

    @staticmethod
    def _match(rule):
        match = "{0} daddr {1} tcp dport {2}".format(rule.family, rule.address, rule.port)
        if rule.uid is not None:
            match = "meta skuid {0} ".format(rule.uid) + match
        return match + " accept"

    def apply(self, lines):
        script = "\n".join(lines) + "\n"
        rc, out, err = self.run([self.nft, "-f", "-"], data=script)
        if rc != 0:
            raise StaplingError("nft refused the change (nothing was applied, nft -f is atomic): {0}".format(err.strip()))

    def listing(self):
        rc, out, err = self.run([self.nft, "list", "ruleset"])
        return "\n".join(line for line in out.splitlines() if MARK in line or NFT_CHAIN in line) + "\n"


# ------------------------------------------------------------------------------------------
# iptables (nf_tables or legacy variant: whichever the host's iptables is)
# ------------------------------------------------------------------------------------------

class Iptables(object):
    name = "iptables"

    def __init__(self, run, binaries):
        self.run = run
        self.bin = binaries  # {"ip": (iptables, iptables-save, iptables-restore), "ip6": (...)}

    def _save(self, family):
        rc, out, err = self.run([self.bin[family][1], "-t", "filter"])
        if rc != 0:
            raise StaplingError("{0} failed: {1}".format(self.bin[family][1], err.strip()))
        return out

    def state(self):
        ours, jumps, chain_exists = {}, {}, {}
        for family in self.bin:
            text = self._save(family)
            chain_exists[family] = ":{0} ".format(IPT_CHAIN) in text
            # A count, not a flag: a saved-and-restored ruleset (netfilter-persistent save, then our boot unit)
            # can hold our jump twice, and the chain cannot be deleted while any jump is left.
            jumps[family] = sum(1 for line in text.splitlines()
                                if line.startswith("-A OUTPUT ") and "-j {0}".format(IPT_CHAIN) in line)
            for line in text.splitlines():
                if line.startswith("-A {0} ".format(IPT_CHAIN)) and MARK in line:
                    key = line.split('--comment "{0} '.format(MARK), 1)[-1].split('"', 1)[0]
                    ours[key] = family
        return ours, jumps, chain_exists

    def plan(self, rules, state="present", purge=False):
        if any(r.family not in self.bin for r in rules.values()):
            raise StaplingError("IPv6 rules need ip6tables, ip6tables-save and ip6tables-restore, which this host "
                                "lacks; install them or give only IPv4 responder addresses")
        ours, jumps, chain_exists = self.state()
        if state == "absent":
            wanted = {}
        elif purge:
            wanted = dict(rules)
        else:
            wanted = dict(rules)
            for key in ours:
                wanted.setdefault(key, Rule.from_key(key))
        added = sorted(k for k in wanted if k not in ours)
        removed = sorted(k for k in ours if k not in wanted)
        scripts = {}
        for family in self.bin:
            fam_wanted = sorted(k for k, r in wanted.items() if r.family == family)
            fam_ours = sorted(k for k, f in ours.items() if f == family)
            need_chain = state == "present"
            changed = fam_wanted != fam_ours or need_chain != chain_exists[family] or need_chain != bool(jumps[family])
            if not changed:
                continue
            if need_chain:
                lines = self.restore_lines([wanted[k] for k in fam_wanted], jump=not jumps[family])
            else:
                lines = ["*filter"]
                for _jump in range(jumps[family]):
                    lines.append('-D OUTPUT -m comment --comment "{0} jump" -j {1}'.format(MARK, IPT_CHAIN))
                if chain_exists[family]:
                    lines.append("-F {0}".format(IPT_CHAIN))
                    lines.append("-X {0}".format(IPT_CHAIN))
                lines.append("COMMIT")
            scripts[family] = lines
        return scripts, added, removed, sorted(wanted)

    @staticmethod
    def restore_lines(rules, jump=True):
        """An iptables-restore --noflush script that (re)fills our chain with rules, and jumps to it first."""
        lines = ["*filter", ":{0} - [0:0]".format(IPT_CHAIN)]  # with --noflush: created or emptied, then refilled
        if jump:
            lines.append('-I OUTPUT 1 -m comment --comment "{0} jump" -j {1}'.format(MARK, IPT_CHAIN))
        for rule in rules:
            owner = "-m owner --uid-owner {0} ".format(rule.uid) if rule.uid is not None else ""
            lines.append('-A {0} -d {1} -p tcp -m tcp --dport {2} {3}-m comment --comment "{4} {5}" -j ACCEPT'
                         .format(IPT_CHAIN, rule.address, rule.port, owner, MARK, rule.key))
        lines.append("COMMIT")
        return lines

    def apply(self, scripts):
        for family, lines in sorted(scripts.items()):
            rc, out, err = self.run([self.bin[family][2], "--noflush"], data="\n".join(lines) + "\n")
            if rc != 0:
                raise StaplingError("{0} refused the change for {1}: {2}".format(self.bin[family][2], family, err.strip()))

    def listing(self):
        text = ""
        for family in sorted(self.bin):
            text += "".join(line + "\n" for line in self._save(family).splitlines()
                            if IPT_CHAIN in line)
        return text


# ------------------------------------------------------------------------------------------
# ufw (its own rules, persisted by ufw itself)
# ------------------------------------------------------------------------------------------

class Ufw(object):
    """Rules as ``ufw allow out proto tcp to ADDR port PORT comment "ocsp.stapling KEY"``.

    ufw applies one rule per command (not atomic): every input is validated and resolved first,
    and a failing command stops the run with the rules applied so far reported. ufw persists its
    rules itself. It has no owner match.
    """

    name = "ufw"

    def __init__(self, run, ufw):
        self.run, self.ufw = run, ufw

    def state(self):
        rc, out, err = self.run([self.ufw, "status"])
        if rc != 0:
            raise StaplingError("ufw status failed: {0}".format((err or out).strip()))
        if "Status: active" not in out:
            raise StaplingError("ufw is not active on this host; enable it or choose another backend")
        ours = []
        for line in out.splitlines():
            if "# {0} ".format(MARK) in line and "ALLOW OUT" in line:
                ours.append(line.split("# {0} ".format(MARK), 1)[1].strip())
        return ours

    def plan(self, rules, state="present", purge=False):
        if any(r.uid is not None for r in rules.values()):
            raise StaplingError("ufw has no owner match; drop owner or use the nftables or iptables backend")
        ours = self.state()
        if state == "absent":
            wanted = {}
        else:
            wanted = dict(rules)
            if not purge:
                for key in ours:
                    wanted.setdefault(key, Rule.from_key(key))
        added = sorted(k for k in wanted if k not in ours)
        removed = sorted(k for k in ours if k not in wanted)
        commands = []
        for key in added:
            rule = wanted[key]
            commands.append([self.ufw, "allow", "out", "proto", "tcp", "to", rule.address, "port", str(rule.port),
                             "comment", "{0} {1}".format(MARK, key)])
        for key in removed:
            rule = Rule.from_key(key)
            commands.append([self.ufw, "delete", "allow", "out", "proto", "tcp", "to", rule.address, "port",
                             str(rule.port)])
        return commands, added, removed, sorted(wanted)

    def apply(self, commands):
        for argv in commands:
            rc, out, err = self.run(argv)
            if rc != 0:
                raise StaplingError("{0} failed: {1}".format(" ".join(argv), (err or out).strip()))

    def listing(self):
        rc, out, err = self.run([self.ufw, "status"])
        return "".join(line + "\n" for line in out.splitlines() if MARK in line)


# ------------------------------------------------------------------------------------------
# Persistence for nftables and iptables: a rules file of ours and a oneshot unit that loads it
# after the host's own firewall at boot
# ------------------------------------------------------------------------------------------

UNIT_NAME = "ocsp-stapling-egress.service"
UNIT_PATH = "/etc/systemd/system/" + UNIT_NAME
PERSIST_DIR = "/etc/ocsp-stapling"
_HEADER = ("# Written by the ocsp.stapling.ocsp_egress Ansible module; the next run rewrites it.\n"
           "# Loaded at boot by {0}, after the host's own firewall.\n").format(UNIT_NAME)


class BootPersistence(object):
    """Our rules survive a reboot without touching the host's own firewall configuration: a file of ours
    under /etc/ocsp-stapling/ and a oneshot systemd unit ordered after nftables.service /
    netfilter-persistent.service (PartOf them, so their restart or reload re-adds ours). When the host's
    table or chain is gone at boot only our unit fails; the host's firewall loads as before.
    """

    def __init__(self, run, which, exists=None, read=None):
        self.run, self.which = run, which
        self.exists = exists or os.path.exists
        self.read = read or _read

    def wanted_files(self, fw, keys, rules):
        """{path: content} for the rules after the run; {} when there is nothing to keep."""
        objs = [rules.get(k) or Rule.from_key(k) for k in keys]
        if not objs or (fw.name == "nftables" and not fw.targets):
            return {}
        self._systemctl()
        if fw.name == "nftables":
            path = PERSIST_DIR + "/egress.nft"
            lines = [_HEADER.rstrip("\n")]
            for family, table in fw.targets:
                lines += ["add chain {0} {1} {2}".format(family, table, NFT_CHAIN),
                          "flush chain {0} {1} {2}".format(family, table, NFT_CHAIN)]
                for rule in objs:
                    if family == "inet" or family == rule.family:
                        lines.append('add rule {0} {1} {2} {3} comment "{4} {5}"'.format(
                            family, table, NFT_CHAIN, Nftables._match(rule), MARK, rule.key))
                for chain in fw.target_chains[(family, table)]:
                    lines.append('insert rule {0} {1} {2} jump {3} comment "{4} jump"'.format(
                        family, table, chain, NFT_CHAIN, MARK))
            files = {path: "\n".join(lines) + "\n"}
            loads = [[fw.nft, "-f", path]]
            owner = "nftables.service"
        else:
            files, loads = {}, []
            for family in sorted(fw.bin):  # every family the live rules cover, as the module keeps them
                fam = [r for r in objs if r.family == family]
                path = "{0}/egress-{1}.rules".format(PERSIST_DIR, "ipv6" if family == "ip6" else "ipv4")
                files[path] = _HEADER + "\n".join(Iptables.restore_lines(fam)) + "\n"
                loads.append([fw.bin[family][2], "--noflush", path])
            owner = "netfilter-persistent.service"
        files[UNIT_PATH] = unit_text(loads, owner)
        return files

    def plan(self, files):
        """(writes {path: (old, new)}, removals {path: old}, unit enable: True/False/None)."""
        names = ("egress.nft", "egress-ipv4.rules", "egress-ipv6.rules")
        ours = [UNIT_PATH] + [PERSIST_DIR + "/" + n for n in names]
        writes, removals = {}, {}
        for path in ours:
            old = self.read(path) if self.exists(path) else None
            new = files.get(path)
            if new is None and old is not None:
                removals[path] = old
            elif new is not None and new != old:
                writes[path] = (old, new)
        enabled = self._enabled()
        enable = None
        if files and not enabled:
            enable = True
        elif not files and enabled:
            enable = False
        return writes, removals, enable

    def _systemctl(self):
        path = self.which("systemctl")
        if not path:
            raise StaplingError("persist: true needs systemd (systemctl) to load the rules at boot; this host has "
                                "none, so persist the rules with the host's own firewall configuration")
        return path

    def _enabled(self):
        systemctl = self.which("systemctl")
        if not systemctl or not self.exists(UNIT_PATH):
            return False  # without systemd nothing is enabled; a left-over file is still removed
        rc, out, err = self.run([systemctl, "is-enabled", UNIT_NAME])
        return out.strip() == "enabled"

    def apply(self, writes, removals, enable):
        systemctl = self.which("systemctl")
        if enable is False and systemctl:
            self._check(self.run([systemctl, "disable", UNIT_NAME]), "systemctl disable")
        try:
            for path in sorted(removals):
                os.remove(path)
            for path, (old, new) in sorted(writes.items()):
                directory = os.path.dirname(path)
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o755)
                tmp = path + ".ocsp-stapling.tmp"
                with open(tmp, "w") as f:
                    f.write(new)
                os.chmod(tmp, 0o644)
                os.rename(tmp, path)  # atomic: the unit never sees half a file
        except (IOError, OSError) as exc:
            raise StaplingError("cannot write the boot-time copy of the rules ({0}); the running rules are in place, "
                                "persist: true needs a writable /etc".format(exc))
        if PERSIST_DIR + "/" in "".join(removals):
            try:
                os.rmdir(PERSIST_DIR)  # only when empty; a directory somebody else uses or mounts stays
            except OSError:
                pass
        if systemctl and os.path.isdir("/run/systemd/system"):  # systemd is running: let it see the unit change
            self._check(self.run([systemctl, "daemon-reload"]), "systemctl daemon-reload")
        if enable:
            self._check(self.run([self._systemctl(), "enable", UNIT_NAME]), "systemctl enable")

    @staticmethod
    def _check(result, what):
        rc, out, err = result
        if rc != 0:
            raise StaplingError("{0} {1} failed: {2}".format(what, UNIT_NAME, (err or out).strip()))


def unit_text(loads, owner):
    commands = "".join("ExecStart={0}\n".format(" ".join(argv)) for argv in loads)
    return (
        "# Written by the ocsp.stapling.ocsp_egress Ansible module; the next run rewrites it.\n"
        "[Unit]\n"
        "Description=ocsp.stapling: firewall egress to OCSP responders\n"
        "DefaultDependencies=no\n"
        "After={0}\n"
        "PartOf={0}\n"
        "ReloadPropagatedFrom={0}\n"
        "Wants=network-pre.target\n"
        "Before=network-pre.target shutdown.target\n"
        "Conflicts=shutdown.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        "{1}"
        "{2}"
        "\n"
        "[Install]\n"
        "WantedBy=sysinit.target\n"
    ).format(owner, commands, commands.replace("ExecStart=", "ExecReload="))


def _read(path):
    with open(path) as f:
        return f.read()


# ------------------------------------------------------------------------------------------
# firewalld (a policy of our own, runtime and permanent)
# ------------------------------------------------------------------------------------------

FWD_POLICY = "ocsp-stapling"
FWD_PRIORITY = -32768  # the lowest number: evaluated before the host's own policies and zones
_RICH = re.compile(r'^rule family="(ipv4|ipv6)" destination address="([^"]+)" port port="(\d+)" protocol="tcp" accept$')


class Firewalld(object):
    """Rich rules ``rule family=... destination address=... port ... accept`` in a firewalld policy of our own
    (ingress zone HOST, egress zone ANY, priority -32768, so it is evaluated before the host's own policies and
    zones, which is where firewalld filters egress). firewalld creates policies only in its permanent
    configuration, so the policy and its rules are kept in both: runtime and permanent; creating the policy
    needs one ``firewall-cmd --reload`` (reported, because a reload replaces runtime-only changes made by others
    with the permanent configuration). firewalld has no owner match.
    """

    name = "firewalld"

    def __init__(self, run, cmd):
        self.run, self.cmd = run, cmd
        self.notes = []

    def _query(self, *args):
        rc, out, err = self.run([self.cmd] + list(args))
        if rc != 0:
            raise StaplingError("firewall-cmd {0} failed: {1}".format(" ".join(args), (err or out).strip()))
        return out

    @staticmethod
    def rich(rule):
        return 'rule family="{0}" destination address="{1}" port port="{2}" protocol="tcp" accept'.format(
            "ipv6" if rule.family == "ip6" else "ipv4", rule.address, rule.port)

    @staticmethod
    def parse(text):
        """{key: rich rule} for the rich rules in our format; others in our policy are left alone."""
        ours = {}
        for line in text.splitlines():
            m = _RICH.match(line.strip())
            if m:
                family = "ip6" if m.group(1) == "ipv6" else "ip"
                ours[Rule(family, str(ipaddress.ip_address(m.group(2))), int(m.group(3))).key] = line.strip()
        return ours

    def state(self):
        """(runtime rules or None without our policy, permanent rules or None)."""
        rc, out, err = self.run([self.cmd, "--state"])
        if rc != 0 or "running" not in out:
            raise StaplingError("firewalld is not running on this host ({0}); start it or choose another "
                                "backend".format((out or err).strip()))
        found = []
        for scope in ([], ["--permanent"]):
            if FWD_POLICY in self._query(*(scope + ["--get-policies"])).split():
                found.append(self.parse(self._query(*(scope + ["--policy", FWD_POLICY, "--list-rich-rules"]))))
            else:
                found.append(None)
        return found[0], found[1]

    def plan(self, rules, state="present", purge=False):
        if any(r.uid is not None for r in rules.values()):
            raise StaplingError("firewalld has no owner match; drop owner or use the nftables or iptables backend")
        runtime, permanent = self.state()
        ours = dict(permanent or {})
        ours.update(runtime or {})
        if state == "absent":
            wanted = {}
        else:
            wanted = dict((k, self.rich(r)) for k, r in rules.items())
            if not purge:
                for key, text in ours.items():
                    wanted.setdefault(key, text)
        commands, policy = [], ["--policy", FWD_POLICY]
        perm = ["--permanent"] + policy
        if permanent is None and wanted:
            commands += [[self.cmd, "--permanent", "--new-policy", FWD_POLICY],
                         [self.cmd] + perm + ["--add-ingress-zone", "HOST"],
                         [self.cmd] + perm + ["--add-egress-zone", "ANY"],
                         [self.cmd] + perm + ["--set-priority={0}".format(FWD_PRIORITY)]]
        if state == "absent" and permanent is not None:
            commands.append([self.cmd, "--permanent", "--delete-policy", FWD_POLICY])  # with its rules
        else:
            commands += self._edits(perm, permanent or {}, wanted)
        if runtime is None and wanted:
            commands.append([self.cmd, "--reload"])
            self.notes.append("this run reloads firewalld (in check mode: would reload) to bring its new policy {0} "
                              "into the running firewall (firewalld creates policies only in its permanent "
                              "configuration); a reload replaces runtime-only changes with the permanent "
                              "configuration".format(FWD_POLICY))
        elif runtime is not None:
            commands += self._edits(policy, runtime, wanted)
        current = runtime or {}
        added = sorted(k for k in wanted if k not in current)
        removed = sorted(k for k in ours if k not in wanted)
        return commands, added, removed, sorted(wanted)

    def _edits(self, scope, have, wanted):
        commands = []
        remove = ["--remove-rich-rule={0}".format(have[k]) for k in sorted(have) if k not in wanted]
        add = ["--add-rich-rule={0}".format(wanted[k]) for k in sorted(wanted) if k not in have]
        for edits in (remove, add):
            if edits:
                commands.append([self.cmd] + scope + edits)
        return commands

    def apply(self, commands):
        for argv in commands:
            rc, out, err = self.run(argv)
            if rc != 0:
                raise StaplingError("{0} failed: {1}".format(" ".join(argv[1:]), (err or out).strip()))

    def listing(self):
        text = ""
        for scope, label in (([], "runtime"), (["--permanent"], "permanent")):
            if FWD_POLICY in self._query(*(scope + ["--get-policies"])).split():
                rules = self._query(*(scope + ["--policy", FWD_POLICY, "--list-rich-rules"]))
                text += "".join("{0}: {1}\n".format(label, line) for line in rules.splitlines() if line.strip())
        return text


# ------------------------------------------------------------------------------------------
# Which firewall does the host use?
# ------------------------------------------------------------------------------------------

IPTABLES_NFT_CHAINS = ("INPUT", "OUTPUT", "FORWARD")


def detect(run, which):
    """(backend, details): the one firewall active on this host; StaplingError when more than one is."""
    active, details = [], {}
    fc = which("firewall-cmd")
    if fc:
        rc, out, err = run([fc, "--state"])
        details["firewalld"] = out.strip() or err.strip()
        if rc == 0 and "running" in out:
            active.append("firewalld")
    ufw = which("ufw")
    if ufw:
        rc, out, err = run([ufw, "status"])
        details["ufw"] = out.splitlines()[0] if out else err.strip()
        if rc == 0 and "Status: active" in out:
            active.append("ufw")
    if not active:
        nft = which("nft")
        if nft:
            tables, chains, rules = Nftables(run, nft).ruleset()
            outputs = Nftables.output_chains(chains)
            native = [c for c in outputs if c["name"] not in IPTABLES_NFT_CHAINS]
            xt = [c for c in outputs if c["name"] in IPTABLES_NFT_CHAINS]
            details["nftables_output_chains"] = ["{family} {table} {name}".format(**c) for c in outputs]
            if native:
                active.append("nftables")
            if xt and (any(c.get("policy") == "drop" for c in xt) or
                       any(r.get("chain") in IPTABLES_NFT_CHAINS for r in rules)):
                active.append("iptables")
        legacy = which("iptables-legacy-save")
        if legacy:
            rc, out, err = run([legacy, "-t", "filter"])
            lines = [line for line in out.splitlines() if line.startswith("-A ") or
                     (line.startswith(":") and " ACCEPT " not in line and not line.startswith(":" + IPT_CHAIN))]
            if rc == 0 and lines:
                details["iptables_legacy"] = True
                if "iptables" not in active:
                    active.append("iptables")
    if len(active) > 1:
        raise StaplingError("more than one firewall is active ({0}); set backend to the one that filters this "
                            "host's egress".format(", ".join(active)))
    return (active[0] if active else "none"), details


def iptables_binaries(which, legacy=False):
    suffix = "-legacy" if legacy else ""
    out = {}
    for family, base in (("ip", "iptables"), ("ip6", "ip6tables")):
        paths = [which(base + suffix), which(base + suffix + "-save"), which(base + suffix + "-restore")]
        if all(paths):
            out[family] = tuple(paths)
    if "ip" not in out:
        raise StaplingError("backend iptables needs iptables, iptables-save and iptables-restore; install the "
                            "iptables package or choose another backend")
    return out


def make_backend(name, run, which, legacy=False):
    """The backend object for name (nftables, iptables, firewalld, ufw); StaplingError when its tools are missing."""
    if name == "iptables":
        return Iptables(run, iptables_binaries(which, legacy))
    classes = {"nftables": (Nftables, "nft", "nftables"), "ufw": (Ufw, "ufw", "ufw"),
               "firewalld": (Firewalld, "firewall-cmd", "firewalld")}
    if name not in classes:
        raise StaplingError("backend {0} is not supported by ocsp_egress".format(name))
    cls, command, package = classes[name]
    path = which(command)
    if not path:
        raise StaplingError("backend {0} needs the {1} command; install {2} or choose another backend".format(
            name, command, package))
    return cls(run, path)
