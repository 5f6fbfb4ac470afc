# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: egress rules on firewalld, rich rules in a policy of ours, runtime and permanent."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.base import Backend, Rule


FWD_POLICY = "ocsp-stapling"
FWD_PRIORITY = -32768  # the lowest number: evaluated before the host's own policies and zones
_RICH = re.compile(r'^rule family="(ipv4|ipv6)" destination address="([^"]+)" port port="(\d+)" protocol="tcp" accept$')


class Firewalld(Backend):
    """Rich rules ``rule family=... destination address=... port ... accept`` in a firewalld policy of our own
    (ingress zone HOST, egress zone ANY, priority -32768, so it is evaluated before the host's own policies and
    zones, which is where firewalld filters egress). firewalld creates policies only in its permanent
    configuration, so the policy and its rules are kept in both: runtime and permanent; creating the policy
    needs one ``firewall-cmd --reload`` (reported, because a reload replaces runtime-only changes made by others
    with the permanent configuration). firewalld has no owner match.
    """

    name = "firewalld"

    def __init__(self, run, cmd):
        super(Firewalld, self).__init__(run)
        self.cmd = cmd

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

    def _plan(self, rules, state, purge):
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

    def _apply(self, change):  # the commands, in order
        for argv in change:
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
