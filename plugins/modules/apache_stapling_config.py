#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: apache_stapling_config
short_description: Write Apache's OCSP stapling directives as one transaction, and put everything back byte for byte
version_added: 1.0.0
description:
  - Writes the global stapling snippet in the layout's place (Debian C(conf-available/ocsp-stapling.conf) enabled by
    the symlink C(a2enconf) makes; Red Hat and SUSE C(conf.d/ocsp-stapling.conf); a custom ServerRoot an C(Include)
    line in a marked block of the main file), loads C(socache_shmcb) when the cache needs it, and places one marked
    block per planned vhost inside that vhost's own C(<VirtualHost>) block, leaving every other byte of the file as it
    was.
  - Before the first write it journals the exact prior state of every path it touches under O(journal_dir), writes
    each file atomically, and runs the instance's configtest; when Apache refuses the result, every path is restored
    from the journal and the task fails with Apache's message. Nothing is reloaded; RV(reload) says what the change
    needs (M(ocsp.stapling.apache_reload) does it).
  - Re-running with the same plan changes nothing. Our blocks in vhosts the plan no longer lists are removed.
  - The operator's own global stapling directives are left alone and reported; an unmarked C(SSLUseStapling) of the
    operator's in a planned vhost is reported and left alone unless O(take_over=true).
  - A vhost file reached through symlinks (C(a2ensite)'s C(sites-enabled/NAME.conf) link into C(sites-available/), an
    absolute link, a chain of links, a symlinked directory) is edited at its resolved target; the links stay as they
    are, and the target keeps its mode, owner, group and extended attributes (SELinux context, ACLs). Two enabled links
    to one file are one edit. A file with several hard links is not edited (the vhost is V(refused), naming the file);
    a rename would split the links and an in-place write is not atomic.
  - Every file this module creates starts with a C(# Managed by ocsp.stapling) header. A path it wants that exists
    without it (say the operator's own C(conf-available/ocsp-stapling.conf)) is the operator's; O(state=present)
    refuses before any change, naming it (choose another O(snippet_name), or O(take_over=true)), and no state ever
    writes, moves or removes it.
  - Our global C(SSLStaplingCache) is never removed or moved under a running Apache that may have stapled with it
    (removing it and reloading kills Apache, AH00820, graceful and C(apachectl restart) alike). O(state=absent), a
    restore and a cache move keep it instead (our snippet with the cache alone, inert once no vhost staples), with
    the running parent's PID and start time recorded in it and in the journal, and RV(reload) stays V(graceful). A
    later run removes it by a graceful reload once that parent is gone (Apache was restarted since).
    O(restart_allowed=true) removes or moves it at once, with a full stop and start.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._apache_instance
  - ocsp.stapling._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  engine:
    description:
      - V(mod_ssl) writes C(SSLStaplingCache) and the safe tuning globally and C(SSLUseStapling) per vhost.
      - V(mod_md) writes C(MDStapling on) and C(MDStapleOthers on) inside C(<IfModule md_module>) (responses fetched
        ahead and kept across reloads) and C(MDStapling off) in vhosts planned V(off). Refused where mod_md is not
        loaded or Apache is older than 2.4.42.
    type: str
    choices: [mod_ssl, mod_md]
    default: mod_ssl
  state:
    description:
      - V(present) applies the plan; V(absent) removes everything of ours (snippet, enabling link, every marked block,
        the socache module when we enabled it).
      - V(restored) puts every path journaled by O(transaction) back byte for byte and reports the RV(reload) that
        needs; V(committed) marks O(transaction) good and prunes journals older than it.
      - V(restored) and V(committed) read Apache no more. The instance, its layout and what the change left in force
        are in the journal's manifest; V(committed) touches only the journal, and V(restored) the journaled paths,
        then runs the configtest. A journal written before 1.1.0 holds no layout; Apache is read then.
    type: str
    choices: [present, absent, restored, committed]
    default: present
  transaction:
    description: Journal id (RV(transaction) of an earlier run). Required for O(state=restored) and O(state=committed).
    type: str
  vhosts:
    description:
      - The per-vhost plan. C(file), C(line) and C(server_name) exactly as M(ocsp.stapling.apache_info) reports them;
        the module refuses, naming the vhost, when the block there no longer carries that ServerName.
    type: list
    elements: dict
    default: []
    suboptions:
      file:
        description: File of the C(<VirtualHost>) line.
        type: path
        required: true
      line:
        description: Its line number.
        type: int
        required: true
      server_name:
        description: Its ServerName, or V(null).
        type: str
      stapling:
        description: V(on), V(off), or V(absent) (only our block removed).
        type: str
        choices: ['on', 'off', absent]
        default: 'on'
      force_url:
        description: C(SSLStaplingForceURL) for this vhost (a certificate without an OCSP URI), C(http://) only.
        type: str
  cache_size:
    description: Size in bytes of the shmcb stapling cache. Default 8 KiB per planned vhost, at least 128 KiB, rounded
      up to a power of two.
    type: int
  responder_timeout:
    description: C(SSLStaplingResponderTimeout) in seconds (Apache's default, 10, stalls first handshakes).
    type: int
    default: 2
  return_responder_errors:
    description: C(SSLStaplingReturnResponderErrors). Off staples nothing rather than a responder's error.
    type: bool
    default: false
  fake_try_later:
    description: C(SSLStaplingFakeTryLater). Off staples nothing rather than a synthesized tryLater.
    type: bool
    default: false
  standard_cache_timeout:
    description: C(SSLStaplingStandardCacheTimeout) in seconds (Apache's default).
    type: int
    default: 3600
  error_cache_timeout:
    description: C(SSLStaplingErrorCacheTimeout) in seconds (Apache's default).
    type: int
    default: 600
  proxy_url:
    description:
      - C(SSLOCSPProxyURL), an C(http://) proxy for the responder requests (Apache 2.4.19 and later).
      - It may carry credentials (C(http://user:password@proxy:3128/)); the value is not logged, the password is
        masked in diffs and messages, and the snippet holding it is written with mode C(0600) (Apache reads its
        configuration as root).
    type: str
  md_store_dir:
    description: C(MDStoreDir) for O(engine=mod_md), absolute; every existing parent must be traversable by the Apache user
      (C(APACHE_RUN_USER)), or the module refuses, naming the directory.
    type: path
  take_over:
    description:
      - Replace the operator's own unmarked C(SSLUseStapling)/C(MDStapling) lines in planned vhosts.
      - Also manage a file of ours by name that exists without our header (the operator's O(snippet_name), its
        enabling link, Red Hat's C(conf.modules.d/00-ocsp-stapling-socache.conf)); its content is journaled first.
    type: bool
    default: false
  snippet_name:
    description:
      - File name of the global snippet (Debian C(conf-available/), enabled by the C(conf-enabled/) link C(a2enconf)
        makes; Red Hat and SUSE C(conf.d/); a custom ServerRoot beside the main file). A plain name ending in C(.conf).
      - Change it when the default names a file of the operator's own.
    type: str
    default: ocsp-stapling.conf
    version_added: 1.1.0
  restart_allowed:
    description:
      - A maintenance window. V(true) removes or moves our global cache at once, with RV(reload=restart) (a full stop
        and start, downtime); V(false) keeps it in force while Apache runs and reloads gracefully (see the
        description).
    type: bool
    default: false
    version_added: 1.1.0
  fix_misplaced_cache:
    description: Remove a C(SSLStaplingCache) found inside a C(<VirtualHost>) (Apache refuses it, AH00526).
    type: bool
    default: false
  apache_facts:
    description:
      - What M(ocsp.stapling.apache_info) (or M(ocsp.stapling.apache_stapling_info)) returned for this instance earlier
        in the same run. The module then reads Apache no more; it takes the instance, its vhosts, its global stapling
        and its problems from them (the configtest before the change included). The files it edits are still read
        as they are now, and a planned vhost that is no longer where the facts say is refused, naming it.
      - Without it the module reads Apache itself, as M(ocsp.stapling.apache_info) does.
      - Only for O(state=present) and O(state=absent).
    type: dict
    version_added: 1.1.0
  journal_dir:
    description: Where the journals live on the host (root-only).
    type: path
    default: /var/lib/ocsp-stapling/journal
  keep_journals:
    description: How many journals to keep; older ones are pruned after a successful change.
    type: int
    default: 10
notes:
  - The per-vhost block is three lines, C(# BEGIN ocsp.stapling ...), the directive, C(# END ocsp.stapling), indented as
    the vhost's body and with the file's line endings. Apache has no trailing comments, hence the marker lines.
"""

EXAMPLES = r"""
- name: Facts
  ocsp.stapling.apache_info:
  register: apache_facts

- name: Stapling for one vhost, as a transaction
  ocsp.stapling.apache_stapling_config:
    vhosts:
      - file: "{{ apache_facts.vhosts[0].file }}"
        line: "{{ apache_facts.vhosts[0].line }}"
        server_name: "{{ apache_facts.vhosts[0].server_name }}"
        stapling: "on"
  register: stapling

- name: Reload the way the change needs
  ocsp.stapling.apache_reload:
    mode: auto
    needed: "{{ stapling.reload }}"

- name: Roll back
  ocsp.stapling.apache_stapling_config:
    state: restored
    transaction: "{{ stapling.transaction }}"
  when: stapling.transaction is not none
"""

RETURN = r"""
transaction:
  description:
    - Journal id of this change (for O(state=restored)), V(null) when nothing changed.
    - When nothing changes now but the newest journal is still C(applied) (an earlier run wrote its change and
      never marked it V(committed) nor restored it, for instance because the connection to the host was lost before
      its reload), that journal's id, with RV(adopted=true) and RV(reload) set to what that change needed, so the
      caller reloads, verifies, and then commits or restores it.
  returned: always
  type: str
  sample: 20261202T190000Z-4a1f0c
adopted:
  description: V(true) when RV(transaction) is an earlier run's change that was never committed (see RV(transaction)).
  returned: always
  type: bool
  sample: false
files:
  description:
    - Paths changed, each with C(path) (the file written, symlinks resolved) and C(action) (V(created), V(updated),
      V(removed), V(linked); after a restore V(restored), and V(kept) for our snippet reduced to the kept cache), and
      C(links) where the configuration reached it through symlinks (the paths Apache reports).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/apache2/sites-available/www.conf", "action": "updated",
            "links": ["/etc/apache2/sites-enabled/www.conf"]}]
reload:
  description:
    - What the change needs - V(none), V(graceful), or V(restart) (a full stop and start; only with
      O(restart_allowed=true), when the global C(SSLStaplingCache) is removed, moved or changes type). For an adopted
      earlier change (RV(adopted)), the reload that change needed.
  returned: always
  type: str
  sample: graceful
cache_kept:
  description: Whether our global C(SSLStaplingCache) was kept in force (inert) instead of being removed or moved.
  returned: always
  type: bool
  sample: false
  version_added: 1.1.0
cache_kept_reason:
  description: Why it was kept and when it goes, or V(null).
  returned: always
  type: str
  sample: "Apache (parent PID 4242) may have stapled with this cache: ..."
  version_added: 1.1.0
cache_kept_parent:
  description: C(pid) and C(start) (clock ticks since boot) of the Apache parent the cache was kept for, and C(since)
    (when it was first kept, ISO 8601 UTC), or V(null).
  returned: always
  type: dict
  sample: {"pid": 4242, "start": 1234567, "since": "2026-12-06T10:00:00Z"}
  version_added: 1.1.0
vhosts:
  description: Per planned vhost, C(file), C(line), C(server_name), C(stapling), C(action) (V(added), V(replaced),
    V(removed), V(unchanged), V(refused)), C(reason) and C(edited_file) (the file holding its block, symlinks
    resolved).
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/apache2/sites-enabled/www.conf", "line": 1, "server_name": "www.example.org",
            "stapling": "on", "action": "added", "reason": null,
            "edited_file": "/etc/apache2/sites-available/www.conf"}]
problems:
  description: Findings with C(code), C(severity), C(msg), C(file), C(line) (C(foreign_global_directive),
    C(own_stapling_line), C(not_ours) (a file with our name that is the operator's, left alone), C(hard_linked), and
    those of M(ocsp.stapling.apache_info)).
  returned: always
  type: list
  elements: dict
  sample: []
configtest:
  description: Whether the configtest after the writes ran (C(ran)), passed (C(ok)), and its C(output).
  returned: always
  type: dict
  sample: {"ran": true, "ok": true, "output": "Syntax OK"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ocsp.stapling.plugins.module_utils._apache import read_instance
from ansible_collections.ocsp.stapling.plugins.module_utils._apache_instance import (
    instance_argument_spec, instance_from_module, same_instance,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._stapling_config import (
    apply_change, commit_change, facts_from_manifest, restore_change,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance_argument_spec(),
            engine=dict(type="str", choices=["mod_ssl", "mod_md"], default="mod_ssl"),
            state=dict(type="str", choices=["present", "absent", "restored", "committed"], default="present"),
            transaction=dict(type="str"),
            vhosts=dict(type="list", elements="dict", default=[], options=dict(
                file=dict(type="path", required=True),
                line=dict(type="int", required=True),
                server_name=dict(type="str"),
                stapling=dict(type="str", choices=["on", "off", "absent"], default="on"),
                force_url=dict(type="str"),
            )),
            cache_size=dict(type="int"),
            responder_timeout=dict(type="int", default=2),
            return_responder_errors=dict(type="bool", default=False),
            fake_try_later=dict(type="bool", default=False),
            standard_cache_timeout=dict(type="int", default=3600),
            error_cache_timeout=dict(type="int", default=600),
            proxy_url=dict(type="str", no_log=True),
            md_store_dir=dict(type="path"),
            take_over=dict(type="bool", default=False),
            fix_misplaced_cache=dict(type="bool", default=False),
            journal_dir=dict(type="path", default="/var/lib/ocsp-stapling/journal"),
            keep_journals=dict(type="int", default=10),
            snippet_name=dict(type="str", default="ocsp-stapling.conf"),
            restart_allowed=dict(type="bool", default=False),
            apache_facts=dict(type="dict"),
        ),
        required_if=[("state", "restored", ["transaction"])],
        supports_check_mode=True,
    )
    p = module.params
    if p["keep_journals"] < 1:
        module.fail_json(msg="keep_journals {0} must be at least 1 (the newest journal is the rollback)".format(
            p["keep_journals"]))
    try:
        # committed: the journal alone (its manifest names the instance); restored: the journal's own facts.
        result = commit_change(p, module.check_mode) if p["state"] == "committed" else None
        if result is None and p["state"] in ("restored", "committed"):
            facts = facts_from_manifest(p) if p["transaction"] else None
            if facts is not None:
                same_instance(p, facts["layout"], journal=p["transaction"])
                instance = instance_from_module(module, layout=facts["layout"])
            else:  # a journal written before 1.1.0: no layout recorded, Apache read as it was then
                instance = instance_from_module(module)
                facts = read_instance(instance)
            result = restore_change(p, facts, instance, instance.run, module.check_mode, module._diff)
        elif result is None:
            if p["apache_facts"]:
                facts = p["apache_facts"]
                same_instance(p, facts.get("layout"))
                instance = instance_from_module(module, layout=facts.get("layout"))
            else:
                instance = instance_from_module(module)
                facts = read_instance(instance)
            result = apply_change(p, facts, instance, instance.run, module.check_mode, module._diff)
    except StaplingError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    for problem in result["problems"]:
        if problem["severity"] == "warning" and problem["code"] in ("foreign_global_directive", "own_stapling_line"):
            module.warn(problem["msg"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
