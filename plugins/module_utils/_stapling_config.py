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
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat

from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

SNIPPET_NAME = "ocsp-stapling.conf"
BEGIN = b"# BEGIN ocsp.stapling (managed by ocsp.stapling.apache_stapling_config; do not edit)"
END = b"# END ocsp.stapling"
INCLUDE_BEGIN = b"# BEGIN ocsp.stapling include"
INCLUDE_END = b"# END ocsp.stapling include"
HEADER = ("# Managed by ocsp.stapling.apache_stapling_config (Ansible): local changes are overwritten.\n"
          "# engine: {engine}\n")
ENABLED_TAG = "# ocsp.stapling enabled: "
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


def remove_all_ours(data):
    """Bytes without any of our per-vhost blocks (what state=absent and an unplanned vhost get)."""
    lines = data.splitlines(True)
    out, skip = [], False
    for text in lines:
        stripped = text.strip()
        if stripped == BEGIN:
            skip = True
            continue
        if skip:
            if stripped == END:
                skip = False
            continue
        out.append(text)
    return b"".join(out)


def blocks_in(data):
    """Physical line numbers of the <VirtualHost> lines whose block holds one of ours."""
    lines = data.splitlines(True)
    return [s + 1 for s, e in vhost_blocks(lines) if _our_block(lines, s, e)]


def render_snippet(engine, opts, layout, enabled_by_us, foreign):
    """The global snippet's text, or None when nothing global is wanted."""
    lines = [HEADER.format(engine=engine)]
    for path in enabled_by_us:
        lines.append(ENABLED_TAG + path + "\n")
    if engine == "mod_md":
        lines.append("<IfModule md_module>\n    MDStapling on\n    MDStapleOthers on\n")
        if opts.get("md_store_dir") and "mdstoredir" not in foreign:
            lines.append('    MDStoreDir "{0}"\n'.format(opts["md_store_dir"]))
        lines.append("</IfModule>\n")
        return "".join(lines)
    body = []
    if "sslstaplingcache" not in foreign:
        cache = os.path.join(opts["run_dir"], "ocsp_stapling_cache")
        body.append('SSLStaplingCache "shmcb:{0}({1})"'.format(cache, opts["cache_size"]))
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
    if params.get("cache_size") is not None and params["cache_size"] <= 0:
        raise StaplingError("cache_size {0} must be a positive number of bytes (for example 262144); leave it unset "
                            "to size the cache from the number of vhosts".format(params["cache_size"]))
    for key in ("responder_timeout", "standard_cache_timeout", "error_cache_timeout"):
        if params[key] <= 0:
            raise StaplingError("{0} {1} must be a positive number of seconds".format(key, params[key]))
    if params.get("proxy_url"):
        if not re.match(r"^http://[^/\s]+", params["proxy_url"]):
            raise StaplingError("proxy_url {0!r} is not an http:// URL; mod_ssl's SSLOCSPProxyURL takes "
                                "http://HOST:PORT/".format(params["proxy_url"]))
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


def snippet_paths(layout):
    """(snippet path, enabling symlink or None, Include-block file or None) for the layout."""
    family = layout["family"]
    root = layout["server_root"]
    if family == "debian":
        return (os.path.join(root, "conf-available", SNIPPET_NAME), os.path.join(root, "conf-enabled", SNIPPET_NAME),
                None)
    if family in ("redhat", "suse"):
        return os.path.join(root, "conf.d", SNIPPET_NAME), None, None
    return os.path.join(os.path.dirname(layout["config_file"]), SNIPPET_NAME), None, layout["config_file"]


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
        return (os.path.join(root, "conf.modules.d", "00-ocsp-stapling-socache.conf"),
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


def plan_changes(params, facts):
    """Everything the change needs: {path: desired ('file', bytes) / ('link', target) / None}, vhost actions,
    problems, and the global cache spec before and after."""
    validate(params, facts)
    layout = facts["layout"]
    state = params["state"]
    engine = params["engine"]
    snippet, link, include_file = snippet_paths(layout)
    desired, vhost_report, problems = {}, [], []
    files_cache = {}

    def data_of(path):
        if path not in files_cache:
            files_cache[path] = read_bytes(path)
        return files_cache[path]

    # --- per vhost ----------------------------------------------------------------------
    by_pos = {}
    for v in facts["vhosts"]:
        # The vhosts one macro Use makes share its line: told apart by their ServerName.
        by_pos.setdefault((v["file"], v["line"]), []).append(v)
    planned = set()
    new_data = {}
    plan_list = (params.get("vhosts") or []) if state == "present" else []
    ops = []  # (file, line, wanted lines, plan entry or None)
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
        planned.add(key)
        ops.append((vh["file"], vh["line"], vhost_lines(engine, vh["stapling"], vh.get("force_url")), vh))
    # Our blocks where the plan no longer wants them (every one of them for state=absent).
    if state in ("present", "absent"):
        for path in facts.get("files_read", []):
            data = data_of(path)
            if data and BEGIN in data:
                for number in blocks_in(data):
                    if (path, number) not in planned:
                        ops.append((path, number, [], None))
    # Bottom-up within a file: an edit shifts the lines below it, never those above.
    for path, number, wanted, vh in sorted(ops, key=lambda o: (o[0], -o[1])):
        data = new_data.get(path, data_of(path))
        if vh is None:
            data = edit_vhost(data, number, [])[0]
            vhost_report.append({"file": path, "line": number, "server_name": (by_pos.get((path, number)) or [{}])[0]
                                 .get("server_name"), "stapling": "absent", "action": "removed",
                                 "reason": "not in the plan" if state == "present" else "state=absent"})
        else:
            label = "{0} at {1}:{2}".format(vh.get("server_name") or "(no ServerName)", path, number)
            try:
                data, action, reason, own = edit_vhost(data, number, wanted, params["take_over"],
                                                       params["fix_misplaced_cache"])
            except StaplingError as exc:
                raise StaplingError("vhost {0}: {1}; the configuration changed under the plan".format(label, exc.msg))
            if own:
                problems.append({"code": "own_stapling_line", "severity": "warning", "file": path, "line": own[0],
                                 "msg": "{0}: {1}".format(label, reason)})
            vhost_report.append(dict(vh, action=action, reason=reason))
        new_data[path] = data
    if params["fix_misplaced_cache"]:
        for p in facts["problems"]:
            if p["code"] == "cache_in_vhost" and p["file"] not in new_data:
                data = data_of(p["file"])
                lines = data.splitlines(True)
                if _MISPLACED.match(lines[p["line"] - 1]):
                    new_data[p["file"]] = b"".join(t for i, t in enumerate(lines) if i != p["line"] - 1)
    for path, data in new_data.items():
        desired[path] = ("file", data)
    order = dict(((v["file"], v["line"]), i) for i, v in enumerate(plan_list))
    vhost_report.sort(key=lambda v: (order.get((v["file"], v["line"]), len(order)), v["file"], v["line"]))

    # --- global -----------------------------------------------------------------------
    ours = set(filter(None, (snippet, link)))
    foreign = {}
    for name, d in facts["global_stapling"].items():
        if os.path.realpath(d["file"]) not in set(os.path.realpath(p) for p in ours):
            foreign[name.lower()] = d
    for d in facts.get("global_md", []):
        foreign.setdefault(d["name"].lower(), d)
    for name, d in sorted(foreign.items()):
        problems.append({"code": "foreign_global_directive", "severity": "warning", "file": d["file"],
                         "line": d["line"], "msg": "{0} at {1}:{2} is the operator's own; left as it is and not "
                         "written again".format(d["name"], d["file"], d["line"])})
    old_snippet = data_of(snippet)
    previously_enabled = enabled_by_us(old_snippet.decode("utf-8", "replace") if old_snippet else None)
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
        text = render_snippet(engine, opts, layout, enabled, foreign)
        desired[snippet] = ("file", text.encode("utf-8"))
        if link:
            desired[link] = ("link", "../conf-available/" + SNIPPET_NAME)
        if include_file:
            desired[include_file] = ("file", _with_include(data_of(include_file) or b"", snippet))
        cache_after = foreign.get("sslstaplingcache", {}).get("value") or (
            'shmcb:{0}({1})'.format(os.path.join(opts["run_dir"], "ocsp_stapling_cache"), opts["cache_size"])
            if engine == "mod_ssl" else None)
    else:  # absent
        for path in [snippet, link] + previously_enabled:
            if path and os.path.lexists(path):
                desired[path] = None
        if include_file:
            desired[include_file] = ("file", _without_include(data_of(include_file) or b""))
        cache_after = foreign.get("sslstaplingcache", {}).get("value")
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
    return {"changes": changes, "vhosts": vhost_report, "problems": problems, "cache_before": before,
            "cache_after": cache_after}


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


def reload_needed(changes, cache_before, cache_after):
    """none / graceful / restart. A global SSLStaplingCache that is removed, moved or changes type kills a
    running Apache on graceful and on apachectl restart once stapling has run (AH00820, AH01872): only a full
    stop and start is safe. A resize survives a graceful."""
    if not changes:
        return "none"
    before, after = _cache_kind_path(cache_before), _cache_kind_path(cache_after)
    if before and before != after:
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
            return state[1].decode("utf-8", "replace")
        out.append({"before_header": path, "after_header": path, "before": text(have), "after": text(want)})
    return out


def _action(path, want):
    if want is None:
        return "removed"
    if want[0] == "link":
        return "linked"
    return "updated" if os.path.lexists(path) else "created"


def _write(path, want):
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
        _journal.write_atomic(path, want[1], mode, uid, gid)


def _configtest(instance, run):
    instance.prepare_runtime()
    rc, out, err = run(instance.configtest_argv(), instance.run_env())
    return rc == 0, ((err or "") + (out or "")).strip()


def _refuse_broken(params, facts):
    broken = [p for p in facts["problems"] if p["code"] == "configtest_failed"]
    misplaced = [p for p in facts["problems"] if p["code"] == "cache_in_vhost"]
    if broken and not (params["fix_misplaced_cache"] and misplaced):
        hint = " (a SSLStaplingCache inside a <VirtualHost> at {0}:{1}: fix_misplaced_cache: true removes it)".format(
            misplaced[0]["file"], misplaced[0]["line"]) if misplaced else ""
        raise StaplingError("Apache already rejects this configuration, before any change: {0}{1}. Nothing was "
                            "written; fix the configuration first.".format(broken[0]["msg"], hint))


def apply_change(params, facts, instance, run, check_mode=False, diff=False):
    """state=present / absent: plan, journal, write, configtest, restore on refusal."""
    from ansible_collections.ocsp.stapling.plugins.module_utils._journal import Journal
    _refuse_broken(params, facts)
    plan = plan_changes(params, facts)
    changes = plan["changes"]
    result = {"changed": bool(changes), "transaction": None, "adopted": False,
              "files": [{"path": p, "action": _action(p, w)} for p, w in sorted(changes.items())],
              "reload": reload_needed(changes, plan["cache_before"], plan["cache_after"]),
              "vhosts": plan["vhosts"], "problems": facts["problems"] + plan["problems"],
              "configtest": {"ran": False, "ok": None, "output": ""}}
    if diff and changes:
        result["diff"] = _diff(changes)
    journal = Journal(params["journal_dir"])
    if not changes:
        pending = unconfirmed(journal)
        if pending is not None:
            # An earlier run wrote this and never confirmed it (committed) nor restored it: the files are as it
            # left them, but the running server may never have loaded them. Hand it back to be reloaded and proven.
            result.update(transaction=pending["id"], adopted=True, reload=reload_needed(
                [e["path"] for e in pending["entries"]], pending.get("cache_before"), pending.get("cache_after")))
        return result
    if check_mode:
        return result
    tid = journal.begin(sorted(changes), meta={"cache_before": plan["cache_before"],
                                               "cache_after": plan["cache_after"], "state_applied": params["state"]})
    try:
        for path, want in sorted(changes.items()):
            _write(path, want)
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
                            "from journal {1}; nothing was reloaded.".format(output[-1000:], tid),
                            transaction=tid, configtest=result["configtest"], files=result["files"])
    journal.mark(tid, "applied")
    journal.prune(params["keep_journals"])
    result["transaction"] = tid
    return result


def unconfirmed(journal):
    """The newest journal when it is still `applied` (written, configtest passed, never committed nor restored)."""
    ids = journal.ids()
    if not ids:
        return None
    manifest = journal.load(ids[-1])
    return manifest if manifest.get("state") == "applied" else None


def restore_change(params, facts, instance, run, check_mode=False, diff=False):
    """state=restored / committed for one journal."""
    from ansible_collections.ocsp.stapling.plugins.module_utils._journal import Journal, snapshot
    journal = Journal(params["journal_dir"])
    tid = params["transaction"]
    result = {"changed": False, "transaction": tid, "adopted": False, "files": [], "reload": "none", "vhosts": [],
              "problems": facts["problems"], "configtest": {"ran": False, "ok": None, "output": ""}}
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
    differing = []
    for entry in manifest["entries"]:
        now = snapshot(entry["path"]) if os.path.lexists(entry["path"]) else ({"exists": False}, None)
        if not entry["exists"]:
            if now[0]["exists"]:
                differing.append(entry["path"])
        elif entry["kind"] == "symlink":
            if now[0].get("target") != entry["target"]:
                differing.append(entry["path"])
        else:
            with open(os.path.join(journal.directory, tid, entry["content"]), "rb") as f:
                if f.read() != now[1] or now[0].get("mode") != entry["mode"]:
                    differing.append(entry["path"])
    result["changed"] = bool(differing)
    result["files"] = [{"path": p, "action": "restored"} for p in differing]
    current_cache = facts["global_stapling"].get("SSLStaplingCache", {}).get("value")
    result["reload"] = reload_needed(differing, current_cache, manifest.get("cache_before"))
    if check_mode or not differing:
        return result
    journal.restore(tid)
    ok, output = _configtest(instance, run)
    result["configtest"] = {"ran": True, "ok": ok, "output": output[-2000:]}
    if not ok:
        raise StaplingError("journal {0} was restored, yet Apache rejects the configuration: {1}. The journal's "
                            "prior state was itself refused; fix it by hand.".format(tid, output[-1000:]))
    return result
