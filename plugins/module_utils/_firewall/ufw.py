# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: egress rules on ufw, its own rule objects (persisted by ufw itself)."""

from __future__ import annotations

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.base import MARK, Backend, Rule


class Ufw(Backend):
    """Rules as ``ufw allow out proto tcp to ADDR port PORT comment "ocsp.stapling KEY"``.

    ufw applies one rule per command (not atomic): every input is validated and resolved first,
    and a failing command stops the run with the rules applied so far reported. ufw persists its
    rules itself. It has no owner match.
    """

    name = "ufw"

    def __init__(self, run, ufw):
        super(Ufw, self).__init__(run)
        self.ufw = ufw

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

    def _plan(self, rules, state, purge):
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

    def _apply(self, change):  # the commands, in order
        for argv in change:
            rc, out, err = self.run(argv)
            if rc != 0:
                raise StaplingError("{0} failed: {1}".format(" ".join(argv), (err or out).strip()))

    def listing(self):
        rc, out, err = self.run([self.ufw, "status"])
        return "".join(line + "\n" for line in out.splitlines() if MARK in line)
