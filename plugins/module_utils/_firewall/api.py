# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: egress rules to OCSP responders on nftables, iptables, ufw and firewalld.

Our rules live in a chain of our own and are marked with the comment ``ocsp.stapling``; the chain is reached by a jump
at the top of the host's own output chain(s), because an accept in a separate nftables base chain does not override a
drop in another one on the same hook (ufw and firewalld: their own rule objects). Only accepts are added; no policy
is ever changed. Commands run through a ``run(argv, data=None) -> (rc, out, err)`` callable.

One file per backend (``nftables``, ``iptables``, ``ufw``, ``firewalld``) over one base class (``base.Backend``, whose
``plan()`` returns a ``base.Plan`` whatever the backend), the boot-time persistence of nftables and iptables rules
(``persistence``); here (``api``: the package's ``__init__.py`` stays empty, as ansible-test's empty-init wants) the
detection of the host's firewall, the factory, and ``ensure()``: what the module ocsp_egress does, from its
parameters to its result. Callers import ``api`` (``from ..._firewall import api as _firewall``).
"""

from __future__ import annotations

import pwd

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.base import (  # noqa: F401 (the package's one interface)
    IPT_CHAIN, MARK, NFT_CHAIN, Backend, Plan, Rule, desired_rules, host_families,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.firewalld import (  # noqa: F401
    FWD_POLICY, FWD_PRIORITY, Firewalld,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.iptables import (  # noqa: F401
    Iptables, iptables_binaries,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.nftables import Nftables
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.persistence import (  # noqa: F401
    PERSIST_DIR, UNIT_NAME, UNIT_PATH, BootPersistence, unit_text,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.ufw import Ufw

IPTABLES_NFT_CHAINS = ("INPUT", "OUTPUT", "FORWARD")

# The package's one interface: what the backends, the persistence and this module offer (ocsp_egress, the tests).
__all__ = [
    "IPT_CHAIN", "MARK", "NFT_CHAIN", "Backend", "Plan", "Rule", "desired_rules",
    "host_families", "FWD_POLICY", "FWD_PRIORITY", "Firewalld", "Iptables", "iptables_binaries", "Nftables",
    "PERSIST_DIR", "UNIT_NAME", "UNIT_PATH", "BootPersistence", "unit_text", "Ufw", "detect", "make_backend",
    "owner_uid", "ensure", "IPTABLES_NFT_CHAINS",
]


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


def owner_uid(owner):
    """The uid of the user egress is opened for, or None (everyone)."""
    if not owner:
        return None
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise StaplingError("owner {0} is not a user on this host; give the web server's user (www-data on Debian, "
                            "apache on RHEL, wwwrun on SUSE)".format(owner))


def ensure(params, run, which, check_mode=False, diff=False):
    """What ocsp_egress returns for its parameters (endpoints, backend, state, purge, owner, persist,
    allowed_networks): decide (every endpoint validated and resolved, the host's rules read), then act unless in check
    mode. StaplingError carries what was decided so far as its details (the module fails with them)."""
    result = dict(changed=False, added=[], removed=[], rules=[], warnings=[])
    try:
        _ensure(params, run, which, check_mode, diff, result)
    except StaplingError as exc:
        raise StaplingError(exc.msg, **dict(result, **exc.details))
    return result


def _ensure(params, run, which, check_mode, diff, result):
    uid = owner_uid(params["owner"])
    rules = {}
    if params["state"] == "present":
        rules, result["resolved"] = desired_rules(params["endpoints"], uid,
                                                  allowed_networks=params["allowed_networks"])
    backend = params["backend"]
    if backend == "auto":
        backend, result["detection"] = detect(run, which)
    result["backend"] = backend
    if backend == "none":
        result.update(rules=[], persisted=False)
        return
    fw = make_backend(backend, run, which, bool(result.get("detection", {}).get("iptables_legacy")))
    plan = fw.plan(rules, params["state"], params["purge"])
    result["rules"] = [(rules.get(k) or Rule.from_key(k)).as_dict() for k in plan.after]
    writes, removals, enable = {}, {}, None
    if backend in ("nftables", "iptables"):
        boot = BootPersistence(run, which)
        files = boot.wanted_files(fw, plan.after, rules) if params["persist"] and params["state"] == "present" else {}
        writes, removals, enable = boot.plan(files)
        result["persisted"] = bool(files)
        result["persist_files"] = sorted(files)
    else:
        result["persisted"] = True  # ufw and firewalld keep their rules themselves
    before = fw.listing() if diff else None
    result.update(added=plan.added, removed=plan.removed,
                  changed=bool(plan or writes or removals or enable is not None))
    if not check_mode:
        fw.apply(plan)
        if writes or removals or enable is not None:
            boot.apply(writes, removals, enable)
    result["warnings"] = list(fw.notes)
    if diff:
        if not plan:
            after = before
        elif check_mode:
            after = "".join("# would {0}\n".format(line) for line in plan.lines)
        else:
            after = fw.listing()
        for path in sorted(set(writes) | set(removals)):
            old, new = writes[path] if path in writes else (removals[path], None)
            before += "# {0}\n{1}".format(path, old if old is not None else "(absent)\n")
            after += "# {0}\n{1}".format(path, new if new is not None else "(absent)\n")
        result["diff"] = {"before": before, "after": after}
