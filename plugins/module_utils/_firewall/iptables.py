# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: egress rules on iptables (its nf_tables variant, Debian's default, or the legacy one):
a chain of ours refilled by ``iptables-restore --noflush`` per family (declaring the chain empties it), reached by a
jump inserted at OUTPUT 1."""

from __future__ import annotations

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.base import IPT_CHAIN, MARK, Backend, Rule


class Iptables(Backend):
    name = "iptables"

    def __init__(self, run, binaries):
        super(Iptables, self).__init__(run)
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

    def _plan(self, rules, state, purge):
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

    def _describe(self, change):  # {family: the lines of its iptables-restore script}
        return ["{0}: {1}".format(family, line) for family, lines in sorted(change.items()) for line in lines]

    def _apply(self, change):
        for family, lines in sorted(change.items()):
            rc, out, err = self.run([self.bin[family][2], "--noflush"], data="\n".join(lines) + "\n")
            if rc != 0:
                raise StaplingError("{0} refused the change for {1}: {2}".format(self.bin[family][2], family, err.strip()))

    def listing(self):
        text = ""
        for family in sorted(self.bin):
            text += "".join(line + "\n" for line in self._save(family).splitlines()
                            if IPT_CHAIN in line)
        return text


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
