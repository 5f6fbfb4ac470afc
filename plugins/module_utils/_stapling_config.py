# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: the stapling directives of one Apache instance, as a transaction.

Decide, then act: ``plan_changes()`` computes the desired bytes of every path it manages (the global
snippet, its enabling symlink or Include block, the socache module, one marked block per vhost) from
the facts ``_apache.gather()`` returns; ``Transaction`` journals the prior state, writes, runs the
configtest and restores everything byte for byte when Apache refuses the result. Per-vhost edits are
made on the file's bytes: only our marked block is added, replaced or removed; every other byte
(indentation, comments, CRLF, a missing final newline) stays as it was.

A vhost file reached through symlinks (``a2ensite``'s ``sites-enabled/NAME.conf``, certbot-style trees, a
symlinked directory) is edited at its resolved target: the links stay as they are, the target keeps its mode,
owner, group and extended attributes. A file of ours carries the ``# Managed by ocsp.stapling`` header; a path we
want that exists without it is the operator's and is never written or removed (unless ``take_over``).

The global ``SSLStaplingCache`` of ours is never removed or moved under a running Apache that may have stapled
with it (AH00820: the reload kills the server). It is kept, inert once no vhost staples, with the running parent's
identity in the snippet, and a later run removes it by a graceful reload once that parent is gone (unless
``restart_allowed``: then the old full stop/start).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
import time

from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.ocsp.stapling.plugins.module_utils._apache_instance import same_instance
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._gate import configtest_refusal

SNIPPET_NAME = "ocsp-stapling.conf"
BEGIN = b"# BEGIN ocsp.stapling (managed by ocsp.stapling.apache_stapling_config; do not edit)"
END = b"# END ocsp.stapling"
INCLUDE_BEGIN = b"# BEGIN ocsp.stapling include"
INCLUDE_END = b"# END ocsp.stapling include"
MARKER = b"# Managed by ocsp.stapling"
HEADER = ("# Managed by ocsp.stapling.apache_stapling_config (Ansible): local changes are overwritten.\n"
          "# engine: {engine}\n")
ENABLED_TAG = "# ocsp.stapling enabled: "
KEPT_TAG = "# ocsp.stapling kept cache: "
_KEPT = re.compile(r"^# ocsp\.stapling kept cache: pid=(\d+) start=(\d+)(?: since=(\S+))?", re.M)
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)([^/@\s]*)@", re.I)
_OPEN_VHOST = re.compile(rb"^\s*<VirtualHost[\s>]", re.I)
_CLOSE_VHOST = re.compile(rb"^\s*</VirtualHost\s*>", re.I)
_OWN_USE = re.compile(rb"^\s*(SSLUseStapling|MDStapling)\s", re.I)
_MISPLACED = re.compile(rb"^\s*SSLStaplingCache\s", re.I)
MIN_CACHE = 131072
PER_CERT = 8192


def cache_size_for(count):
    """Bytes for the shmcb cache: 8 KiB a certificate, at least 128 KiB, rounded up to a power of two
    (so that a few more or fewer certificates do not change the file on every run)."""
    want = max(MIN_CACHE, count * PER_CERT)
    size = MIN_CACHE
    while size < want:
        size *= 2
    return size


def _eol(data):
    return b"\r\n" if b"\r\n" in data else b"\n"


def vhost_blocks(lines):
    """[(open index, close index)] of <VirtualHost> blocks in a file's physical lines (keepends)."""
    blocks, start = [], None
    for i, line in enumerate(lines):
        if line.lstrip().startswith(b"#"):
            continue
        if start is None and _OPEN_VHOST.match(line):
            start = i
        elif start is not None and _CLOSE_VHOST.match(line):
            blocks.append((start, i))
            start = None
    return blocks


def _our_block(lines, start, end):
    """(begin, end) indexes of our marked block between start and end, or None."""
    for i in range(start, end):
        if lines[i].strip() == BEGIN:
            for j in range(i + 1, end):
                if lines[j].strip() == END:
                    return i, j
    return None


def _indent(lines, start, end):
    for i in range(start + 1, end):
        text = lines[i]
        if text.strip() and not text.lstrip().startswith(b"#") and not text.rstrip().endswith(b"\\"):
            return text[:len(text) - len(text.lstrip())]
    return b"    "


def vhost_lines(engine, stapling, force_url=None):
    """The directive lines of our per-vhost block (bytes, no indentation)."""
    if stapling == "absent":
        return []
    out = []
    if engine == "mod_md":
        if stapling == "off":
            out = [b"<IfModule md_module>", b"    MDStapling off", b"</IfModule>"]
    else:
        out = [b"SSLUseStapling " + stapling.encode("ascii")]
        if force_url and stapling == "on":
            out.append(b"SSLStaplingForceURL " + force_url.encode("ascii"))
    return out


_SPLIT = {}


def _lines_and_blocks(data):
    """A file's physical lines and {open index: close index} of its vhost blocks, computed once per distinct content:
    a file of N vhosts is edited N times, and a converged run leaves its bytes (the same object) as they were."""
    cached = _SPLIT.get(data)
    if cached is None:
        if len(_SPLIT) > 64:
            _SPLIT.clear()
        lines = data.splitlines(True)
        cached = _SPLIT[data] = (lines, dict(vhost_blocks(lines)))
    return cached


def edit_vhost(data, line, wanted, take_over=False, fix_misplaced=False):
    """New bytes of a file whose vhost starting at physical ``line`` gets the ``wanted`` block lines.

    Returns (new data, action, reason, own lines found)."""
    lines, blocks = _lines_and_blocks(data)
    index = line - 1
    block = (index, blocks[index]) if index in blocks else None
    if block is None:
        raise StaplingError("no <VirtualHost> starts at line {0}".format(line))
    start, end = block
    eol = _eol(data)
    ours = _our_block(lines, start, end)
    own = [i for i in range(start + 1, end) if _OWN_USE.match(lines[i])
           and not (ours and ours[0] < i < ours[1])]
    misplaced = [i for i in range(start + 1, end) if _MISPLACED.match(lines[i])
                 and not (ours and ours[0] < i < ours[1])]
    if own and wanted and not take_over:
        return data, "refused", "the vhost has its own {0} at line {1}; set take_over: true to manage it".format(
            lines[own[0]].strip().split()[0].decode("ascii", "replace"), own[0] + 1), [i + 1 for i in own]
    indent = _indent(lines, start, end)
    current = lines[ours[0] + 1:ours[1]] if ours else None
    new_block = []
    if wanted:
        new_block = [indent + BEGIN + eol] + [indent + w + eol for w in wanted] + [indent + END + eol]
    drop = set()
    if ours:
        drop |= set(range(ours[0], ours[1] + 1))
    if wanted and take_over:
        drop |= set(own)
    if fix_misplaced:
        drop |= set(misplaced)
    if ours and current == new_block[1:-1] and not (drop - set(range(ours[0], ours[1] + 1))):
        return data, "unchanged", None, []
    if not ours and not wanted and not (drop & set(misplaced)):
        return data, "unchanged", None, []
    out = []
    for i, text in enumerate(lines):
        if i == end:
            out.extend(new_block)
        if i not in drop:
            out.append(text)
    action = ("replaced" if ours else "added") if wanted else "removed"
    return b"".join(out), action, None, []


def blocks_in(data):
    """Physical line numbers of the <VirtualHost> lines whose block holds one of ours."""
    lines = data.splitlines(True)
    return [s + 1 for s, e in vhost_blocks(lines) if _our_block(lines, s, e)]


def mask_url(url):
    """A URL with the password of its userinfo masked (http://user:********@proxy:3128/)."""
    def repl(m):
        user, sep, _password = m.group(2).partition(":")
        return m.group(1) + user + (":********" if sep else "") + "@"
    return _USERINFO.sub(repl, url or "")


def has_credentials(url):
    return bool(_USERINFO.match(url or ""))


def kept_guard(kept):
    """The <IfFile> path that holds while the kept-for Apache parent lives: /proc/PID/cwd (a zombie's /proc/PID
    stays until it is reaped, its cwd link goes at once). Apache reads it again on every graceful reload, so the
    running parent keeps the cache; the next start of Apache (another PID) reads it false and never loads the cache,
    and then a graceful reload can drop it. None on Apache older than 2.4.34 (no <IfFile>): kept unconditionally."""
    return "/proc/{0}/cwd".format(kept["parent_pid"]) if kept.get("guarded") else None


def kept_block(kept):
    """The lines that keep our SSLStaplingCache in force for the Apache parent that loaded it (inert once no vhost
    staples), with that parent's identity."""
    guard = kept_guard(kept)
    body = "<IfModule ssl_module>\n    SSLStaplingCache {0}\n</IfModule>\n".format(_quoted(kept["value"]))
    if guard:
        body = "<IfFile {0}>\n{1}</IfFile>\n".format(guard, body)
    return "{0}\n{1}".format(_kept_tag(kept), body)


def _kept_tag(kept):
    return "{0}pid={1} start={2} since={3}\n# {4}".format(
        KEPT_TAG, kept["parent_pid"], kept["parent_start"], kept["since"], kept["reason"].replace("\n", " "))


def _quoted(value):
    value = value.strip()
    return value if value.startswith('"') else '"{0}"'.format(value)


def parse_kept(text):
    """(pid, start) recorded in a kept-cache snippet, or None."""
    m = _KEPT.search(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def _kept_since(text):
    m = _KEPT.search(text or "")
    return m.group(3) if m and m.group(3) else None


def render_snippet(engine, opts, layout, enabled_by_us, foreign, kept=None):
    """The global snippet's text. ``kept``: our cache kept as it is in force (see kept_block)."""
    lines = [HEADER.format(engine=engine)]
    for path in enabled_by_us:
        lines.append(ENABLED_TAG + path + "\n")
    if engine is None:  # state absent with the cache kept: nothing but the cache
        lines.append(kept_block(kept))
        return "".join(lines)
    if engine == "mod_md":
        lines.append("<IfModule md_module>\n    MDStapling on\n    MDStapleOthers on\n")
        if opts.get("md_store_dir") and "mdstoredir" not in foreign:
            lines.append('    MDStoreDir "{0}"\n'.format(opts["md_store_dir"]))
        lines.append("</IfModule>\n")
        if kept:
            lines.append(kept_block(kept))
        return "".join(lines)
    body = []
    cache = os.path.join(opts["run_dir"], "ocsp_stapling_cache")
    new_cache = 'SSLStaplingCache "shmcb:{0}({1})"'.format(cache, opts["cache_size"])
    if kept:
        # A move: the running parent keeps the old cache, the next start of Apache gets the new one.
        lines.append(_kept_tag(kept) + "\n")
        guard = kept_guard(kept)
        if guard:
            body += ["<IfFile {0}>".format(guard), "    SSLStaplingCache " + _quoted(kept["value"]), "</IfFile>"]
            if "sslstaplingcache" not in foreign:
                body += ["<IfFile !{0}>".format(guard), "    " + new_cache, "</IfFile>"]
        else:
            body.append("SSLStaplingCache " + _quoted(kept["value"]))
    elif "sslstaplingcache" not in foreign:
        body.append(new_cache)
    settings = [("SSLStaplingResponderTimeout", str(opts["responder_timeout"])),
                ("SSLStaplingReturnResponderErrors", "on" if opts["return_responder_errors"] else "off"),
                ("SSLStaplingFakeTryLater", "on" if opts["fake_try_later"] else "off"),
                ("SSLStaplingStandardCacheTimeout", str(opts["standard_cache_timeout"])),
                ("SSLStaplingErrorCacheTimeout", str(opts["error_cache_timeout"]))]
    if opts.get("proxy_url"):
        settings.append(("SSLOCSPProxyURL", opts["proxy_url"]))
    for name, value in settings:
        if name.lower() not in foreign:
            body.append("{0} {1}".format(name, value))
    lines.append("<IfModule ssl_module>\n")
    lines.extend("    {0}\n".format(b) for b in body)
    lines.append("</IfModule>\n")
    return "".join(lines)


def enabled_by_us(text):
    """Paths our snippet says it enabled (its header lines)."""
    return [line[len(ENABLED_TAG):].strip() for line in (text or "").splitlines() if line.startswith(ENABLED_TAG)]


def validate(params, facts):
    """Bad input before anything is computed: each error names the input and the fix."""
    engine = params["engine"]
    apache = facts["apache"]
    for key in ("journal_dir", "md_store_dir"):
        if params.get(key) and not os.path.isabs(params[key]):
            raise StaplingError("{0} {1!r} is relative; give an absolute path".format(key, params[key]))
    name = params.get("snippet_name") or SNIPPET_NAME
    if "/" in name or name.startswith(".") or not name.endswith(".conf"):
        raise StaplingError("snippet_name {0!r} must be a plain file name ending in .conf (a2enconf and Apache's "
                            "conf.d/*.conf globs only read those), such as ocsp-stapling-ansible.conf".format(name))
    if params.get("cache_size") is not None and params["cache_size"] <= 0:
        raise StaplingError("cache_size {0} must be a positive number of bytes (for example 262144); leave it unset "
                            "to size the cache from the number of vhosts".format(params["cache_size"]))
    for key in ("responder_timeout", "standard_cache_timeout", "error_cache_timeout"):
        if params[key] <= 0:
            raise StaplingError("{0} {1} must be a positive number of seconds".format(key, params[key]))
    if params.get("proxy_url"):
        if not re.match(r"^http://[^/\s]+", params["proxy_url"]):
            raise StaplingError("proxy_url {0!r} is not an http:// URL; mod_ssl's SSLOCSPProxyURL takes "
                                "http://HOST:PORT/".format(mask_url(params["proxy_url"])))
        if LooseVersion(apache["version"]) < LooseVersion("2.4.19"):
            raise StaplingError("proxy_url needs SSLOCSPProxyURL, which Apache {0} lacks (2.4.19 and later); "
                                "open egress to the responders instead".format(apache["version"]))
    if engine == "mod_md" and not facts["capabilities"]["mod_md_stapling"]["ok"]:
        raise StaplingError("engine mod_md cannot be used here: {0}".format(
            facts["capabilities"]["mod_md_stapling"]["reason"]))
    if engine == "mod_md" and params["state"] == "present" and params.get("md_store_dir"):
        user = (facts["layout"].get("env") or {}).get("APACHE_RUN_USER")
        blocked = untraversable(params["md_store_dir"], user)
        if blocked:
            raise StaplingError("md_store_dir {0!r}: the Apache user {1} cannot traverse {2} (mode {3}); mod_md then "
                                "fails to save responses (Permission denied: mk_group_dir) and only one child "
                                "staples. Choose a store whose every parent directory the user can enter, or make "
                                "{2} traversable (chmod o+x)".format(params["md_store_dir"], user, blocked[0],
                                                                     oct(blocked[1])))
    if engine == "mod_ssl" and params["state"] == "present" and not facts["capabilities"]["mod_ssl_stapling"]["ok"]:
        raise StaplingError("engine mod_ssl cannot be used here: {0}".format(
            facts["capabilities"]["mod_ssl_stapling"]["reason"]))
    for i, vh in enumerate(params.get("vhosts") or []):
        if not vh.get("file") or not os.path.isabs(vh["file"]):
            raise StaplingError("vhosts[{0}].file {1!r} must be the absolute path apache_info reports".format(
                i, vh.get("file")))
        if vh.get("force_url") and not vh["force_url"].startswith("http://"):
            raise StaplingError("vhosts[{0}].force_url {1!r} is not http:// (mod_ssl fetches OCSP over plain "
                                "HTTP only)".format(i, vh["force_url"]))


def untraversable(path, user):
    """(directory, mode) of the first existing ancestor of path that ``user`` cannot enter, or None (also when the
    user is unknown here: nothing to judge by)."""
    try:
        entry = pwd.getpwnam(user) if user else None
    except KeyError:
        entry = None
    if entry is None or entry.pw_uid == 0:
        return None
    groups = set([entry.pw_gid] + [g.gr_gid for g in grp.getgrall() if user in g.gr_mem])
    current = os.path.dirname(os.path.abspath(path))
    parts = []
    while True:
        parts.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(parts):
        try:
            st = os.stat(directory)
        except OSError:
            break  # not there yet: mod_md creates it (as root) with its own modes
        if st.st_uid == entry.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return directory, stat.S_IMODE(st.st_mode)
    return None


def snippet_paths(layout, name=SNIPPET_NAME):
    """(snippet path, enabling symlink or None, Include-block file or None) for the layout."""
    family = layout["family"]
    root = layout["server_root"]
    name = name or SNIPPET_NAME
    if family == "debian":
        return (os.path.join(root, "conf-available", name), os.path.join(root, "conf-enabled", name), None)
    if family in ("redhat", "suse"):
        return os.path.join(root, "conf.d", name), None, None
    return os.path.join(os.path.dirname(layout["config_file"]), name), None, layout["config_file"]


def is_ours(path):
    """Whether a regular file at path carries our marker header (a file we made). A missing path is None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(len(MARKER)) == MARKER
    except (IOError, OSError):
        return False


def ownership(snippet, link, socache_file=None):
    """{path: why it is not ours} for the paths we would write that exist and are the operator's."""
    foreign = {}
    snippet_ours = is_ours(snippet)
    if snippet_ours is False:
        foreign[snippet] = "it exists without the '# Managed by ocsp.stapling' header"
    if link and os.path.lexists(link):
        want = "../conf-available/" + os.path.basename(snippet)
        if not os.path.islink(link):
            foreign[link] = "it is a file of its own, not a2enconf's link to our snippet"
        elif os.readlink(link) != want and os.path.realpath(link) != os.path.realpath(snippet):
            foreign[link] = "it is a link to {0}, not to our snippet".format(os.readlink(link))
    if socache_file and is_ours(socache_file) is False:
        foreign[socache_file] = "it exists without the '# Managed by ocsp.stapling' header"
    return foreign


def socache_file(layout):
    """Red Hat's file of ours that loads socache_shmcb (None on other layouts)."""
    if layout["family"] != "redhat":
        return None
    return os.path.join(layout["server_root"], "conf.modules.d", "00-ocsp-stapling-socache.conf")


def process_start(pid):
    """The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or 0 when unknown."""
    try:
        with open("/proc/{0}/stat".format(pid)) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (IOError, OSError, IndexError, ValueError):
        return 0


def running_parent(layout):
    """{pid, start} of the running Apache parent (its pid file), or None when Apache does not run."""
    from ansible_collections.ocsp.stapling.plugins.module_utils._reload import pid_alive, read_pid
    pid = read_pid(layout.get("pid_file"))
    if not pid_alive(pid):
        return None
    return {"pid": pid, "start": process_start(pid)}


def ours_in_force(facts, snippet):
    """The SSLStaplingCache value in force when it is ours (read from our snippet), else None."""
    d = facts["global_stapling"].get("SSLStaplingCache")
    if d and d.get("file") and is_ours(snippet) and os.path.realpath(d["file"]) == os.path.realpath(snippet):
        return d["value"]
    return None


def keep_cache(before, after, snippet_text, parent, restart_allowed, why, guarded=True):
    """Our cache to keep in force (a dict for kept_block), or None when the change may remove or move it.

    ``before``: our SSLStaplingCache in force now (as the reader evaluates the snippet, <IfFile> included);
    ``after``: the one the change leaves (None: none). Removing or moving it under a running Apache parent that
    started with it kills that parent on a graceful reload or apachectl restart (AH00820, AH01872), whether or not it
    ever stapled; only a full stop and start is safe. So while Apache runs it is kept, scoped to the running parent
    (kept_guard), unless the operator allows the restart. A kept block whose parent is gone reads as not in force
    (the reader evaluates its <IfFile>), so ``before`` is then None and the block goes by a graceful reload."""
    if not before or restart_allowed or parent is None:
        return None
    if _cache_kind_path(before) == _cache_kind_path(after):
        return None
    recorded = parse_kept(snippet_text)
    same = recorded == (parent["pid"], parent["start"])
    since = (same and _kept_since(snippet_text)) or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"value": before, "parent_pid": parent["pid"], "parent_start": parent["start"], "since": since,
            "reason": why, "guarded": bool(guarded)}


def preflight(facts, journal_dir=None, snippet_name=None):
    """What this host lacks for a change, before any change: [{code, msg}] (none when it can be changed). Checked on
    the node: a usable journal directory, the control command, files with our names that are the operator's, a
    socache module for the cache. The controller adds the engine, configtest and library checks (stapling_plan)."""
    from ansible_collections.ocsp.stapling.plugins.module_utils._journal import Journal
    gaps = []
    layout = facts["layout"]
    if journal_dir:
        if not os.path.isabs(journal_dir):
            gaps.append({"code": "journal_unusable", "msg": "journal_dir {0!r} is relative; give an absolute path "
                         "such as /var/lib/ocsp-stapling/journal".format(journal_dir)})
        else:
            why = Journal(journal_dir).problem()
            existing = journal_dir
            while not os.path.lexists(existing):
                existing = os.path.dirname(existing)
            if why:
                gaps.append({"code": "journal_unusable", "msg": "journal_dir {0} cannot be trusted: {1}; use a "
                             "directory only root can write (chown root: ; chmod 0700)".format(journal_dir, why)})
            elif not os.access(existing, os.W_OK):
                gaps.append({"code": "journal_unusable", "msg": "journal_dir {0}: {1} is not writable (a read-only "
                             "file system?); the journal is the rollback, nothing can be changed without it".format(
                                 journal_dir, existing)})
    control = layout.get("control")
    if not control or not os.access(control, os.X_OK):
        gaps.append({"code": "control_command_missing", "msg": "the Apache control command {0} is not an executable "
                     "file; set apache_stapling_binary to apache2ctl, apachectl or httpd".format(control)})
    snippet, link, _include = snippet_paths(layout, snippet_name)
    for path, why in sorted(ownership(snippet, link, socache_file(layout)).items()):
        gaps.append({"code": "not_ours", "path": path,
                     "msg": "{0}: {1}; it is the operator's, and ocsp.stapling never writes, moves or removes it. "
                            "Set apache_stapling_snippet_name to a free name, or apache_stapling_take_over: true to "
                            "manage it".format(path, why)})
    if not facts["apache"].get("socache_shmcb_module"):
        try:
            socache_change(facts, layout)
        except StaplingError as exc:
            gaps.append({"code": "missing_socache", "msg": exc.msg})
    return gaps


def socache_change(facts, layout):
    """(path, desired) that loads socache_shmcb where it is missing, or None; raises where it cannot."""
    if facts["apache"]["socache_shmcb_module"]:
        return None
    root = layout["server_root"]
    if layout["family"] == "debian":
        src = os.path.join(root, "mods-available", "socache_shmcb.load")
        if not os.path.exists(src):
            raise StaplingError("socache_shmcb is not loaded and {0} does not exist; install it".format(src))
        return os.path.join(root, "mods-enabled", "socache_shmcb.load"), ("link", "../mods-available/socache_shmcb.load")
    mod_dir = os.path.dirname(facts["openssl"].get("mod_ssl_path") or "") or os.path.join(root, "modules")
    so = os.path.join(mod_dir, "mod_socache_shmcb.so")
    if layout["family"] == "redhat":
        return (socache_file(layout),
                ("file", "# Managed by ocsp.stapling: the stapling cache needs it.\n"
                         "LoadModule socache_shmcb_module {0}\n".format(so).encode("utf-8")))
    raise StaplingError("socache_shmcb_module is not loaded; on this layout ({0}) load it the distribution's way "
                        "(SUSE: a2enmod socache_shmcb, which edits APACHE_MODULES) and run again".format(
                            layout["family"]))


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError):
        return None


def current_state(path):
    """('file', bytes) / ('link', target) / None for a path."""
    if os.path.islink(path):
        return ("link", os.readlink(path))
    data = read_bytes(path)
    return ("file", data) if data is not None else None


KEEP_WHY = ("Apache (parent PID {pid}) started with this stapling cache: removing it by a graceful reload kills "
            "Apache (AH00820), whether or not it stapled. Kept, inert once no vhost staples, {scope}; "
            "apache_stapling_restart_allowed: true removes it at once by a full stop and start.")
SCOPED = ("scoped to that parent (<IfFile /proc/{pid}/cwd>): Apache's next start does not load it, and the next run of "
          "ocsp.stapling after that removes the snippet by a graceful reload")
UNSCOPED = ("for good: this Apache ({version}) is older than 2.4.34 and has no <IfFile> to scope it to the running "
            "parent, so only a run with apache_stapling_restart_allowed: true, or one while Apache is stopped, "
            "removes it")
MOVE_WHY = ("the stapling cache moves from {before} to {after}: the running parent (PID {pid}) keeps the old one (a "
            "graceful reload that moves it kills Apache, AH00820) and Apache's next start takes the new one; "
            "apache_stapling_restart_allowed: true moves it at once by a full stop and start.")


def _guarded(facts):
    """Whether this Apache has <IfFile> (2.4.34 and later) to scope a kept cache to its running parent."""
    try:
        return LooseVersion(facts["apache"]["version"]) >= LooseVersion("2.4.34")
    except (KeyError, TypeError, ValueError):
        return False


def _why(facts, parent):
    pid = (parent or {}).get("pid")
    scope = SCOPED.format(pid=pid) if _guarded(facts) else UNSCOPED.format(version=facts["apache"].get("version"))
    return KEEP_WHY.format(pid=pid, scope=scope)


def _refuse_hardlinked(path):
    """Why a file with several hard links is not edited (None when it has one)."""
    try:
        links = os.stat(path).st_nlink
    except OSError:
        return None
    if links > 1:
        return ("{0} has {1} hard links: writing it by rename would split them, writing it in place is not atomic; "
                "not edited. Make it one file (or a symlink), or exclude the vhost".format(path, links))
    return None


def plan_changes(params, facts):
    """Everything the change needs: {path: desired ('file', bytes) / ('link', target) / None}, vhost actions,
    problems, the global cache spec before and after, and the cache kept (if any)."""
    validate(params, facts)
    layout = facts["layout"]
    state = params["state"]
    engine = params["engine"]
    take_over = params["take_over"]
    snippet, link, include_file = snippet_paths(layout, params.get("snippet_name"))
    desired, vhost_report, problems = {}, [], []
    files_cache = {}
    real_of = {}

    def data_of(path):
        if path not in files_cache:
            files_cache[path] = read_bytes(path)
        return files_cache[path]

    def real(path):
        # The file Apache reads through any symlink (a2ensite's relative link, a symlinked directory): edited there.
        if path not in real_of:
            real_of[path] = os.path.realpath(path)
        return real_of[path]

    # --- operator files with our names: refused before anything is computed --------------------------------------
    foreign_files = ownership(snippet, link, socache_file(layout))
    if foreign_files and state == "present" and not take_over:
        raise StaplingError("{0}; it is the operator's, and ocsp.stapling never writes, moves or removes it. Choose "
                            "another name for our snippet (snippet_name; role: apache_stapling_snippet_name), or set "
                            "take_over: true to manage it (its content is journaled first). Nothing was written."
                            .format("; ".join("{0}: {1}".format(p, why) for p, why in sorted(foreign_files.items()))))

    # --- per vhost ----------------------------------------------------------------------
    by_pos = {}
    for v in facts["vhosts"]:
        # The vhosts one macro Use makes share its line: told apart by their ServerName.
        by_pos.setdefault((v["file"], v["line"]), []).append(v)
    planned = {}
    new_data = {}
    plan_list = (params.get("vhosts") or []) if state == "present" else []
    ops = []  # (real file, line, wanted lines, plan entry or None)
    for vh in plan_list:
        key = (vh["file"], vh["line"])
        candidates = by_pos.get(key) or []
        found = next((v for v in candidates if (v.get("server_name") or None) == (vh.get("server_name") or None)),
                     candidates[0] if candidates else None)
        label = "{0} at {1}:{2}".format(vh.get("server_name") or "(no ServerName)", vh["file"], vh["line"])
        if found is None or (found.get("server_name") or None) != (vh.get("server_name") or None):
            raise StaplingError("vhost {0}: the block there {1}; the configuration changed under the plan. Run "
                                "apache_info again and plan from its result.".format(
                                    label, "carries ServerName {0}".format(found.get("server_name")) if found
                                    else "is not a <VirtualHost> Apache reads"))
        if found.get("macro"):
            macro = found["macro"]
            vhost_report.append(dict(vh, action="refused", reason="defined by macro {0} at {1}:{2} (Use at {3}:{4}); "
                                     "editing the macro changes every vhost it makes: edit it yourself".format(
                                         macro.get("name"), macro.get("file"), macro.get("line"), vh["file"],
                                         vh["line"])))
            continue
        target = real(vh["file"])
        hard = _refuse_hardlinked(target)
        if hard:
            vhost_report.append(dict(vh, action="refused", reason=hard, edited_file=None))
            continue
        if (target, vh["line"]) in planned:
            # Two enabled links to one file: Apache reads it twice, we edit it once.
            planned[(target, vh["line"])].append(vh)
            continue
        planned[(target, vh["line"])] = [vh]
        ops.append((target, vh["line"], vhost_lines(engine, vh["stapling"], vh.get("force_url")), vh))
    # Our blocks where the plan no longer wants them (every one of them for state=absent).
    if state in ("present", "absent"):
        seen = set()
        for path in facts.get("files_read", []):
            target = real(path)
            if target in seen:
                continue
            seen.add(target)
            data = data_of(target)
            if data and BEGIN in data:
                for number in blocks_in(data):
                    if (target, number) not in planned:
                        hard = _refuse_hardlinked(target)
                        if hard:
                            problems.append({"code": "hard_linked", "severity": "warning", "file": target,
                                             "line": number, "msg": hard})
                            break
                        ops.append((target, number, [], {"_read_as": path}))
    # Bottom-up within a file: an edit shifts the lines below it, never those above.
    for path, number, wanted, vh in sorted(ops, key=lambda o: (o[0], -o[1])):
        data = new_data.get(path, data_of(path))
        if "_read_as" in vh:
            data = edit_vhost(data, number, [])[0]
            read_as = vh["_read_as"]
            vhost_report.append({"file": read_as, "line": number,
                                 "server_name": (by_pos.get((read_as, number)) or [{}])[0].get("server_name"),
                                 "stapling": "absent", "action": "removed", "edited_file": path,
                                 "reason": "not in the plan" if state == "present" else "state=absent"})
        else:
            label = "{0} at {1}:{2}".format(vh.get("server_name") or "(no ServerName)", vh["file"], number)
            try:
                data, action, reason, own = edit_vhost(data, number, wanted, take_over,
                                                       params["fix_misplaced_cache"])
            except StaplingError as exc:
                raise StaplingError("vhost {0}: {1}; the configuration changed under the plan".format(label, exc.msg))
            if own:
                problems.append({"code": "own_stapling_line", "severity": "warning", "file": path, "line": own[0],
                                 "msg": "{0}: {1}".format(label, reason)})
            for same in planned[(path, number)]:
                vhost_report.append(dict(same, action=action, reason=reason, edited_file=path))
        new_data[path] = data
    if params["fix_misplaced_cache"]:
        for p in facts["problems"]:
            if p["code"] == "cache_in_vhost" and real(p["file"]) not in new_data:
                target = real(p["file"])
                lines = data_of(target).splitlines(True)
                if _MISPLACED.match(lines[p["line"] - 1]):
                    new_data[target] = b"".join(t for i, t in enumerate(lines) if i != p["line"] - 1)
    for path, data in new_data.items():
        desired[path] = ("file", data)
    order = dict(((v["file"], v["line"]), i) for i, v in enumerate(plan_list))
    vhost_report.sort(key=lambda v: (order.get((v["file"], v["line"]), len(order)), v["file"], v["line"]))

    # --- global -----------------------------------------------------------------------
    snippet_ours = is_ours(snippet)
    ours = set(os.path.realpath(p) for p in (snippet, link) if p) if snippet_ours or take_over else set()
    foreign = {}
    for name, d in facts["global_stapling"].items():
        if os.path.realpath(d["file"]) not in ours:
            foreign[name.lower()] = d
    for d in facts.get("global_md", []):
        foreign.setdefault(d["name"].lower(), d)
    for name, d in sorted(foreign.items()):
        problems.append({"code": "foreign_global_directive", "severity": "warning", "file": d["file"],
                         "line": d["line"], "msg": "{0} at {1}:{2} is the operator's own; left as it is and not "
                         "written again".format(d["name"], d["file"], d["line"])})
    for path, why in sorted(foreign_files.items()):
        if not take_over:
            problems.append({"code": "not_ours", "severity": "warning", "file": path, "line": None,
                             "msg": "{0}: {1}; left as it is".format(path, why)})
    old_snippet = data_of(snippet) if snippet_ours else None
    old_text = old_snippet.decode("utf-8", "replace") if old_snippet else None
    previously_enabled = enabled_by_us(old_text)
    cache_before = ours_in_force(facts, snippet)
    parent = running_parent(layout)
    restart_allowed = bool(params.get("restart_allowed"))
    kept = None
    if state == "present":
        opts = dict(params, run_dir=layout.get("run_dir") or os.path.join(layout["server_root"], "run"))
        count = len([v for v in (params.get("vhosts") or []) if v["stapling"] == "on"])
        opts["cache_size"] = params.get("cache_size") or cache_size_for(count)
        enabled = list(previously_enabled)
        if engine == "mod_ssl" and "sslstaplingcache" not in foreign:
            change = socache_change(facts, layout)
            if change:
                desired[change[0]] = change[1]
                if change[0] not in enabled:
                    enabled.append(change[0])
        wanted_cache = foreign.get("sslstaplingcache", {}).get("value") or (
            'shmcb:{0}({1})'.format(os.path.join(opts["run_dir"], "ocsp_stapling_cache"), opts["cache_size"])
            if engine == "mod_ssl" else None)
        kept = keep_cache(cache_before, wanted_cache, old_text, parent, restart_allowed,
                          _why(facts, parent) if not wanted_cache else
                          MOVE_WHY.format(before=cache_before, after=wanted_cache, pid=(parent or {}).get("pid")),
                          _guarded(facts))
        text = render_snippet(engine, opts, layout, enabled, foreign, kept)
        desired[snippet] = ("file", text.encode("utf-8"))
        if link:
            desired[link] = ("link", "../conf-available/" + os.path.basename(snippet))
        if include_file:
            desired[include_file] = ("file", _with_include(data_of(include_file) or b"", snippet))
        cache_after = kept["value"] if kept else wanted_cache
        cache_after_file = snippet if kept or "sslstaplingcache" not in foreign else foreign["sslstaplingcache"]["file"]
    else:  # absent
        kept = keep_cache(cache_before, None, old_text, parent, restart_allowed, _why(facts, parent),
                          _guarded(facts))
        if kept:
            # Only our cache stays (and what loads its module); every other line of ours goes.
            text = render_snippet(None, {}, layout, previously_enabled, foreign, kept)
            desired[snippet] = ("file", text.encode("utf-8"))
            if link:
                desired[link] = ("link", "../conf-available/" + os.path.basename(snippet))
            cache_after = kept["value"]
            cache_after_file = snippet
        else:
            for path in ([snippet, link] if snippet_ours else []) + previously_enabled:
                if path and os.path.lexists(path) and path not in foreign_files:
                    desired[path] = None
            if include_file:
                desired[include_file] = ("file", _without_include(data_of(include_file) or b""))
            cache_after = foreign.get("sslstaplingcache", {}).get("value")
            cache_after_file = foreign.get("sslstaplingcache", {}).get("file")
    before = facts["global_stapling"].get("SSLStaplingCache", {}).get("value")
    # Keep only real changes.
    changes = {}
    for path, want in desired.items():
        have = current_state(path)
        if want is None:
            if have is not None:
                changes[path] = None
        elif have != want:
            changes[path] = want
    links = {}
    for shown, target in real_of.items():
        if shown != target and target in changes:
            links.setdefault(target, []).append(shown)
    secret = has_credentials(params.get("proxy_url"))
    return {"changes": changes, "vhosts": vhost_report, "problems": problems, "cache_before": before,
            "cache_after": cache_after, "cache_after_file": cache_after_file, "links": links, "private": set([snippet]) if secret else set(),
            "cache_kept": dict(kept, value=kept["value"]) if kept else None}


def _with_include(data, snippet):
    if INCLUDE_BEGIN in data:
        return data
    eol = _eol(data)
    sep = b"" if not data or data.endswith(b"\n") else eol
    return data + sep + INCLUDE_BEGIN + eol + b'Include "' + snippet.encode("utf-8") + b'"' + eol + INCLUDE_END + eol


def _without_include(data):
    start = data.find(INCLUDE_BEGIN)
    if start < 0:
        return data
    end = data.find(INCLUDE_END, start)
    if end < 0:
        return data
    end += len(INCLUDE_END)
    while end < len(data) and data[end:end + 1] in (b"\r", b"\n"):
        end += 1
        if data[end - 1:end] == b"\n":
            break
    return data[:start] + data[end:]


def _cache_kind_path(spec):
    if not spec:
        return None
    spec = spec.strip('"')
    kind, _sep, rest = spec.partition(":")
    return kind.lower(), re.sub(r"\(\d+\)$", "", rest)


def reload_needed(changes, cache_before, cache_after, restart_allowed=False):
    """none / graceful / restart. A global SSLStaplingCache that is removed, moved or changes type kills a
    running Apache on graceful and on apachectl restart once stapling has run (AH00820, AH01872): only a full
    stop and start is safe. plan_changes() keeps our cache in force instead while Apache runs, so such a change
    reaches here only when the operator allowed the restart (``restart``) or Apache is not running (a graceful
    reload starts it). A resize survives a graceful."""
    if not changes:
        return "none"
    before, after = _cache_kind_path(cache_before), _cache_kind_path(cache_after)
    if before and before != after and restart_allowed:
        return "restart"
    return "graceful"


# --- acting ---------------------------------------------------------------------------------------------------
def _diff(changes):
    out = []
    for path, want in sorted(changes.items()):
        have = current_state(path)

        def text(state):
            if state is None:
                return ""
            if state[0] == "link":
                return "symlink -> {0}\n".format(state[1])
            return _mask_text(state[1].decode("utf-8", "replace"))
        out.append({"before_header": path, "after_header": path, "before": text(have), "after": text(want)})
    return out


def _mask_text(text):
    """Text with the password of every http:// URL's userinfo masked (proxy credentials never reach a diff)."""
    return re.sub(r"[a-z][a-z0-9+.-]*://[^/@\s\"]*@", lambda m: mask_url(m.group(0)), text, flags=re.I)


def _action(path, want):
    if want is None:
        return "removed"
    if want[0] == "link":
        return "linked"
    return "updated" if os.path.lexists(path) else "created"


def _write(path, want, private=False):
    from ansible_collections.ocsp.stapling.plugins.module_utils import _journal
    if want is None:
        _journal.remove(path)
    elif want[0] == "link":
        _journal.symlink_atomic(path, want[1])
    else:
        mode, uid, gid = 0o644, None, None
        if os.path.isfile(path) and not os.path.islink(path):
            st = os.stat(path)
            mode, uid, gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
        if private:
            mode = 0o600  # it holds proxy credentials; Apache reads its configuration as root
        _journal.write_atomic(path, want[1], mode, uid, gid)


def _configtest(instance, run):
    instance.prepare_runtime()
    rc, out, err = run(instance.configtest_argv(), instance.run_env())
    return rc == 0, ((err or "") + (out or "")).strip()


def _refuse_broken(params, facts):
    why = configtest_refusal(facts["problems"], params["fix_misplaced_cache"])
    if why:
        raise StaplingError(why)


# What a journal records of the instance it changed, so that a restore or a commit needs no fresh read of Apache.
_LAYOUT_KEYS = ("family", "server_root", "config_file", "control", "server_binary", "defines", "run_dir", "pid_file",
                "lock_dir", "log_dir", "error_log", "envvars", "env")


def manifest_facts(facts, plan):
    """The facts a later restore of this change needs, as they are once the change is written: the instance's layout,
    Apache's version, the global SSLStaplingCache then in force (and the file holding it), the files its configuration
    reads (a restore touches only those, and paths below its ServerRoot)."""
    layout = facts["layout"]
    cache = {}
    if plan["cache_after"]:
        cache = {"SSLStaplingCache": {"name": "SSLStaplingCache", "value": plan["cache_after"],
                                      "file": plan.get("cache_after_file")}}
    return {"layout": dict((k, layout.get(k)) for k in _LAYOUT_KEYS),
            "apache": {"version": facts["apache"]["version"]},
            "global_stapling": cache,
            "files_read": list(facts.get("files_read") or []),
            "problems": []}


def facts_from_manifest(params):
    """The facts recorded in the journal of params["transaction"] (see manifest_facts), or None for a journal written
    before 1.1.0 (no facts recorded: the caller reads Apache)."""
    from ansible_collections.ocsp.stapling.plugins.module_utils._journal import Journal
    manifest = Journal(params["journal_dir"]).load(params["transaction"])
    recorded = manifest.get("facts")
    if not isinstance(recorded, dict) or not (recorded.get("layout") or {}).get("server_root"):
        return None
    return recorded


def commit_change(params, check_mode=False):
    """state=committed from the journal alone: mark the transaction committed, prune the older journals of its instance
    (the manifest names the instance). None when that cannot be done without reading Apache (no transaction, or a
    journal written before 1.1.0, which names no instance): the caller then reads it."""
    from ansible_collections.ocsp.stapling.plugins.module_utils._journal import Journal
    tid = params["transaction"]
    if not tid:
        return None
    manifest = Journal(params["journal_dir"]).load(tid)
    if not manifest.get("instance"):
        return None
    same_instance(params, manifest["instance"], journal=tid)
    journal = Journal(params["journal_dir"], manifest["instance"])
    result = {"changed": manifest["state"] != "committed", "transaction": tid, "adopted": False, "files": [],
              "reload": "none", "vhosts": [], "problems": [], "configtest": {"ran": False, "ok": None, "output": ""}}
    result.update(_kept_result(None))
    if not check_mode:
        if result["changed"]:
            journal.mark(tid, "committed")
        result["changed"] = bool(journal.prune(params["keep_journals"], before=tid)) or result["changed"]
    return result


def journal_of(params, facts):
    """The journals of this Apache instance (its ServerRoot and main configuration file) in journal_dir."""
    from ansible_collections.ocsp.stapling.plugins.module_utils._journal import Journal, instance_key
    layout = facts["layout"]
    return Journal(params["journal_dir"], instance_key(layout["server_root"], layout["config_file"]))


def instance_paths(facts, params):
    """A predicate: is a path one of this instance's (below its ServerRoot, a file its configuration reads, or a
    path of ours for its layout)? A journal naming anything else is refused before anything is restored."""
    layout = facts["layout"]
    root = os.path.realpath(layout["server_root"]).rstrip("/") + "/"
    read = set()
    for p in facts.get("files_read", []):
        read.add(p)
        read.add(os.path.realpath(p))
    ours = set(p for p in snippet_paths(layout, params.get("snippet_name")) if p)

    def allowed(path):
        if not os.path.isabs(path) or path in read or path in ours:
            return os.path.isabs(path)
        resolved = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        return resolved.startswith(root) or resolved in read
    return allowed


def _kept_result(kept):
    return {"cache_kept": bool(kept), "cache_kept_reason": kept["reason"] if kept else None,
            "cache_kept_parent": {"pid": kept["parent_pid"], "start": kept["parent_start"], "since": kept["since"]}
            if kept else None}


def apply_change(params, facts, instance, run, check_mode=False, diff=False):
    """state=present / absent: plan, journal, write, configtest, restore on refusal."""
    _refuse_broken(params, facts)
    plan = plan_changes(params, facts)
    changes = plan["changes"]
    restart_allowed = bool(params.get("restart_allowed"))
    result = {"changed": bool(changes), "transaction": None, "adopted": False,
              "files": [dict({"path": p, "action": _action(p, w)}, **({"links": sorted(plan["links"][p])}
                                                                      if p in plan["links"] else {}))
                        for p, w in sorted(changes.items())],
              "reload": reload_needed(changes, plan["cache_before"], plan["cache_after"], restart_allowed),
              "vhosts": plan["vhosts"], "problems": facts["problems"] + plan["problems"],
              "configtest": {"ran": False, "ok": None, "output": ""}}
    result.update(_kept_result(plan["cache_kept"]))
    if diff and changes:
        result["diff"] = _diff(changes)
    journal = journal_of(params, facts)
    if not changes:
        pending = unconfirmed(journal)
        if pending is not None:
            # An earlier run wrote this and never confirmed it (committed) nor restored it: the files are as it
            # left them, but the running server may never have loaded them. Hand it back to be reloaded and proven.
            result.update(transaction=pending["id"], adopted=True, reload=reload_needed(
                [e["path"] for e in pending["entries"]], pending.get("cache_before"), pending.get("cache_after"),
                restart_allowed))
        return result
    if check_mode:
        return result
    tid = journal.begin(sorted(changes), meta={"cache_before": plan["cache_before"],
                                               "cache_after": plan["cache_after"], "state_applied": params["state"],
                                               "snippet_name": params.get("snippet_name") or SNIPPET_NAME,
                                               "cache_kept": plan["cache_kept"],
                                               "facts": manifest_facts(facts, plan)})
    try:
        for path, want in sorted(changes.items()):
            _write(path, want, path in plan["private"])
    except (IOError, OSError) as exc:
        journal.restore(tid)
        journal.mark(tid, "failed")
        raise StaplingError("writing the change failed ({0}); every path was restored from journal {1}".format(
            exc, tid))
    ok, output = _configtest(instance, run)
    result["configtest"] = {"ran": True, "ok": ok, "output": output[-2000:]}
    if not ok:
        journal.restore(tid)
        journal.mark(tid, "failed")
        raise StaplingError("Apache rejects the changed configuration: {0}. Every path was restored byte for byte "
                            "from journal {1}; nothing was reloaded.".format(_mask_text(output[-1000:]), tid),
                            transaction=tid, configtest=result["configtest"], files=result["files"])
    journal.mark(tid, "applied")
    journal.prune(params["keep_journals"])
    result["transaction"] = tid
    return result


def unconfirmed(journal):
    """This instance's newest journal when it is still `applied` (written, configtest passed, never committed nor
    restored)."""
    ids = journal.ids()
    if not ids:
        return None
    manifest = journal.load(ids[-1])
    return manifest if manifest.get("state") == "applied" else None


def restore_change(params, facts, instance, run, check_mode=False, diff=False):
    """state=restored (and committed, for a journal commit_change cannot handle alone) for one journal of this
    instance. ``facts``: the journal's own (facts_from_manifest), or Apache read now for a journal written before
    1.1.0. A restore that would take our cache away from a running Apache keeps it (see keep_cache), everything else
    goes back byte for byte."""
    from ansible_collections.ocsp.stapling.plugins.module_utils._journal import snapshot
    journal = journal_of(params, facts)
    tid = params["transaction"]
    restart_allowed = bool(params.get("restart_allowed"))
    result = {"changed": False, "transaction": tid, "adopted": False, "files": [], "reload": "none", "vhosts": [],
              "problems": facts["problems"], "configtest": {"ran": False, "ok": None, "output": ""}}
    result.update(_kept_result(None))
    if params["state"] == "committed":
        if tid:
            manifest = journal.load(tid)
            if manifest["state"] != "committed":
                result["changed"] = True
                if not check_mode:
                    journal.mark(tid, "committed")
        if not check_mode:
            pruned = journal.prune(params["keep_journals"], before=tid)
            result["changed"] = result["changed"] or bool(pruned)
        return result
    manifest = journal.load(tid)
    layout = facts["layout"]
    name = manifest.get("snippet_name") or params.get("snippet_name") or SNIPPET_NAME
    snippet, link, _include = snippet_paths(layout, name)
    old_text = (read_bytes(snippet) or b"").decode("utf-8", "replace") if is_ours(snippet) else None
    current_cache = facts["global_stapling"].get("SSLStaplingCache", {}).get("value")
    parent = running_parent(layout)
    kept = keep_cache(ours_in_force(facts, snippet), manifest.get("cache_before"), old_text, parent,
                      restart_allowed, _why(facts, parent), _guarded(facts))
    skip, kept_text = set(), None
    if kept:
        # Our snippet becomes the cache alone; what enables it (a2enconf's link, the socache module we enabled)
        # stays; every other path goes back as the journal says.
        skip = set([snippet, link] + enabled_by_us(old_text)) - set([None])
        kept_text = render_snippet(None, {}, layout, enabled_by_us(old_text), {}, kept).encode("utf-8")
    differing = []
    for entry in manifest["entries"]:
        if entry["path"] in skip:
            continue
        now = snapshot(entry["path"]) if os.path.lexists(entry["path"]) else ({"exists": False}, None)
        if not entry["exists"]:
            if now[0]["exists"]:
                differing.append(entry["path"])
        elif entry["kind"] == "symlink":
            if now[0].get("target") != entry["target"]:
                differing.append(entry["path"])
        elif journal.content(tid, entry) != now[1] or now[0].get("mode") != entry["mode"]:
            differing.append(entry["path"])
    files = [{"path": p, "action": "restored"} for p in differing]
    rewrite = bool(kept) and read_bytes(snippet) != kept_text
    result["changed"] = bool(files) or rewrite
    # What stays as the change left it (our snippet, reduced to the cache, and what enables it), named as kept.
    journaled = set(e["path"] for e in manifest["entries"] if e["exists"] or os.path.lexists(e["path"]))
    files += [{"path": p, "action": "kept"} for p in sorted(skip) if p in journaled or p == snippet]
    result["files"] = files
    result.update(_kept_result(kept))
    result["reload"] = reload_needed(result["changed"], current_cache,
                                     kept["value"] if kept else manifest.get("cache_before"), restart_allowed)
    if check_mode or not result["changed"]:
        return result
    journal.restore(tid, allowed=instance_paths(facts, params), skip=skip)
    if rewrite:
        _write(snippet, ("file", kept_text))
    if kept:
        journal.mark(tid, "restored", cache_kept=kept)
    ok, output = _configtest(instance, run)
    result["configtest"] = {"ran": True, "ok": ok, "output": output[-2000:]}
    if not ok:
        raise StaplingError("journal {0} was restored, yet Apache rejects the configuration: {1}. The journal's "
                            "prior state was itself refused; fix it by hand.".format(tid, _mask_text(output[-1000:])))
    return result
