# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: egress rules on nftables. In every table with a filter base chain on the output hook, a
regular chain of ours with our accepts, reached by a jump inserted at the top of that base chain (an accept in a
separate base chain does not override a drop in another one on the same hook); one ``nft -f -`` batch, atomic."""

from __future__ import annotations

import json

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.base import MARK, NFT_CHAIN, Backend


class Nftables(Backend):
    name = "nftables"

    def __init__(self, run, nft):
        super(Nftables, self).__init__(run)
        self.nft = nft
        self.targets, self.target_chains = [], {}

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

    def _plan(self, rules, state, purge):
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

    def _apply(self, change):  # the lines of one nft -f batch
        script = "\n".join(change) + "\n"
        rc, out, err = self.run([self.nft, "-f", "-"], data=script)
        if rc != 0:
            raise StaplingError("nft refused the change (nothing was applied, nft -f is atomic): {0}".format(err.strip()))

    def listing(self):
        rc, out, err = self.run([self.nft, "list", "ruleset"])
        return "\n".join(line for line in out.splitlines() if MARK in line or NFT_CHAIN in line) + "\n"
