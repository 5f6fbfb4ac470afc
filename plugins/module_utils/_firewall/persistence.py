# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: our nftables and iptables rules across a reboot, without touching the host's own firewall
configuration: a rules file of ours under /etc/ocsp-stapling/ and a oneshot unit that loads it after the host's own
firewall at boot."""

from __future__ import annotations

import os

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.base import MARK, NFT_CHAIN, Rule
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.iptables import Iptables
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.nftables import Nftables


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
