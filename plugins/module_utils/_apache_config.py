# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: read an Apache httpd configuration as Apache does.

Include/IncludeOptional (globs, directories, Apache's alphabetical order, relative to
ServerRoot), Define and ${VAR} (defines, then the environment: Debian's envvars),
<IfModule>, <IfDefine>, <IfVersion>, <IfFile> evaluated against what was detected, line
continuations, quoting, comments, case-insensitive names. <Macro>/Use are reported, not
expanded. Pure Python; no AnsibleModule.
"""

from __future__ import annotations

import glob
import os
import re

from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

MAX_INCLUDE_DEPTH = 64
STAPLING_DIRECTIVES = (
    "sslusestapling", "sslstaplingcache", "sslstaplingresponsetimeskew", "sslstaplingresponsemaxage",
    "sslstaplingresponderTimeout".lower(), "sslstaplingreturnrespondererrors", "sslstaplingfaketrylater",
    "sslstaplingstandardcachetimeout", "sslstaplingerrorcachetimeout", "sslstaplingforceurl", "sslocspproxyurl",
    "mdstapling", "mdstapleothers",
)
VHOST_FILES = {
    "sslcertificatefile": "certificate_file",
    "sslcertificatechainfile": "certificate_chain_file",
    "sslcacertificatefile": "ca_certificate_file",
    "sslcertificatekeyfile": "key_file",
}
_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def module_file_name(module_id):
    """ssl_module -> mod_ssl.c (the two names <IfModule> accepts); mpm_event_module -> event.c."""
    base = module_id[:-len("_module")] if module_id.endswith("_module") else module_id
    if base.startswith("mpm_"):
        return base[len("mpm_"):] + ".c"
    if base == "core":
        return "core.c"
    return "mod_" + base + ".c"


def split_args(text, where):
    """Apache's argument splitting: whitespace, double or single quotes, backslash escapes in quotes."""
    args, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] in "\"'":
            quote, i, buf = text[i], i + 1, []
            while i < n and text[i] != quote:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise StaplingError("{0}: unterminated quote. Close the {1} quote.".format(where, quote))
            args.append("".join(buf))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            args.append(text[start:i])
    return args


def logical_lines(text, path):
    """(line number, text) of each logical line: continuations joined, comments and blanks dropped."""
    out, buf, first = [], [], None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if first is None:
            first = number
        if line.endswith("\\") and not line.endswith("\\\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(part.strip() for part in buf).strip()
        if joined and not joined.startswith("#"):
            out.append((first, joined))
        buf, first = [], None
    return out


class Directive(object):
    __slots__ = ("name", "args", "file", "line")

    def __init__(self, name, args, file, line):
        self.name, self.args, self.file, self.line = name, args, file, line

    def as_dict(self):
        return {"name": self.name, "args": list(self.args), "value": " ".join(self.args), "file": self.file,
                "line": self.line}


class ConfigReader(object):
    """Walks the configuration from its main file; collects global directives, vhosts, problems."""

    def __init__(self, server_root, modules=(), defines=(), version=None, env=None):
        self.server_root = server_root
        self.modules = set(modules)
        self.modules |= set(module_file_name(m) for m in list(self.modules))
        self.defines = {}
        for d in defines:
            self.defines[d] = ""
        self.version = LooseVersion(version) if version else None
        self.env = dict(env or {})
        self.global_directives = []
        self.vhosts = []
        self.problems = []
        self.load_modules = []  # (module id, path) of LoadModule lines in force
        self.files = []
        self._stack = []

    # --- helpers ----------------------------------------------------------------------
    def _where(self, path, line):
        return "{0}:{1}".format(path, line)

    def problem(self, code, msg, path=None, line=None, severity="warning"):
        self.problems.append({"code": code, "msg": msg, "file": path, "line": line, "severity": severity})

    def _expand(self, text, path, line):
        def sub(match):
            name = match.group(1)
            if name in self.defines:
                return self.defines[name]
            if name in self.env:
                return self.env[name]
            self.problem("undefined_variable", "${{{0}}} is not defined (Define or environment); Apache keeps it "
                         "literally".format(name), path, line)
            return match.group(0)
        return _VAR.sub(sub, text)

    def _abs(self, path):
        return path if os.path.isabs(path) else os.path.join(self.server_root, path)

    # --- conditions -------------------------------------------------------------------
    def _if_module(self, arg):
        negate = arg.startswith("!")
        name = arg[1:] if negate else arg
        present = name in self.modules
        return present != negate

    def _if_define(self, arg):
        negate = arg.startswith("!")
        name = arg[1:] if negate else arg
        return (name in self.defines) != negate

    def _if_version(self, args, where):
        if self.version is None:
            return True
        if len(args) == 1:
            op, value = "=", args[0]
        elif len(args) == 2:
            op, value = args
        else:
            raise StaplingError("{0}: <IfVersion> takes [operator] version".format(where))
        negate = op.startswith("!")
        if negate:
            op = op[1:]
        if op in ("~",) or (value.startswith("/") and value.endswith("/") and len(value) > 1):
            pattern = value.strip("/")
            result = re.search(pattern, str(self.version)) is not None
        else:
            other = LooseVersion(value)
            mine = LooseVersion(".".join(str(p) for p in self.version.version[:len(other.version)]))
            result = {"=": mine == other, "==": mine == other, ">": mine > other, ">=": mine >= other,
                      "<": mine < other, "<=": mine <= other}.get(op)
            if result is None:
                raise StaplingError("{0}: <IfVersion> operator {1!r} is not one Apache knows".format(where, op))
        return result != negate

    def _if_file(self, arg):
        negate = arg.startswith("!")
        name = arg[1:] if negate else arg
        return os.path.exists(self._abs(name)) != negate

    # --- reading ----------------------------------------------------------------------
    def read(self, path, optional=False):
        real = os.path.realpath(path)
        if real in self._stack:
            raise StaplingError("include loop: {0} includes itself through {1}. Remove the circular Include.".format(
                path, " -> ".join(self._stack)))
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            raise StaplingError("includes nested deeper than {0} at {1}".format(MAX_INCLUDE_DEPTH, path))
        try:
            with open(path, "r", errors="replace") as f:
                text = f.read()
        except (IOError, OSError) as exc:
            if optional:
                return
            raise StaplingError("cannot read Apache configuration file {0}: {1}. Check the path (config_file, "
                                "server_root) and that the task may read it.".format(path, exc.strerror or exc))
        self.files.append(path)
        self._stack.append(real)
        try:
            lines = logical_lines(text, path)
            self._walk(lines, 0, len(lines), path, vhost=None)
        finally:
            self._stack.pop()

    def _block_end(self, lines, start, end, name, path):
        """Index of the </name> closing lines[start] (a section opener)."""
        depth = 0
        for i in range(start, end):
            text = lines[i][1]
            if text.startswith("</"):
                if text[2:].rstrip(">").strip().lower() == name:
                    depth -= 1
                    if depth == 0:
                        return i
            elif text.startswith("<"):
                opened = text[1:].split(None, 1)[0].rstrip(">").lower()
                if opened == name:
                    depth += 1
        raise StaplingError("{0}: <{1}> is never closed. Add </{1}>.".format(self._where(path, lines[start][0]), name))

    def _walk(self, lines, start, end, path, vhost):
        i = start
        while i < end:
            number, text = lines[i]
            where = self._where(path, number)
            if text.startswith("</"):
                raise StaplingError("{0}: {1} closes a section that is not open. Remove it.".format(where, text))
            if text.startswith("<"):
                if not text.endswith(">"):
                    raise StaplingError("{0}: section line {1!r} lacks its closing '>'".format(where, text))
                inner = self._expand(text[1:-1].strip(), path, number)
                parts = inner.split(None, 1)
                name = parts[0].lower()
                args = split_args(parts[1], where) if len(parts) > 1 else []
                close = self._block_end(lines, i, end, name, path)
                self._section(name, args, lines, i + 1, close, path, number, vhost)
                i = close + 1
                continue
            parts = text.split(None, 1)
            name = parts[0]
            raw_args = self._expand(parts[1], path, number) if len(parts) > 1 else ""
            args = split_args(raw_args, where)
            self._directive(Directive(name, args, path, number), vhost)
            i += 1

    def _section(self, name, args, lines, start, end, path, number, vhost):
        where = self._where(path, number)
        if name == "ifmodule":
            if self._if_module(args[0] if args else ""):
                self._walk(lines, start, end, path, vhost)
        elif name == "ifdefine":
            if self._if_define(args[0] if args else ""):
                self._walk(lines, start, end, path, vhost)
        elif name == "ifversion":
            if self._if_version(args, where):
                self._walk(lines, start, end, path, vhost)
        elif name == "iffile":
            if self._if_file(args[0] if args else ""):
                self._walk(lines, start, end, path, vhost)
        elif name == "virtualhost":
            if vhost is not None:
                raise StaplingError("{0}: <VirtualHost> inside <VirtualHost>. Apache refuses this.".format(where))
            new = {"file": path, "line": number, "addresses": args, "server_name": None, "server_aliases": [],
                   "tls": False, "certificate_file": None, "certificate_chain_file": None,
                   "ca_certificate_file": None, "key_file": None, "own_stapling": {}, "directives": []}
            self._walk(lines, start, end, path, new)
            self.vhosts.append(new)
        elif name == "macro":
            self.problem("macro_not_expanded", "<Macro {0}> is not expanded by this reader; vhosts it defines "
                         "are missing here (DUMP_VHOSTS cross-check reports them)".format(" ".join(args)), path, number)
        else:
            # <Directory>, <Location>, <Files>, <Proxy>...: per-directory context, nothing we read.
            pass

    def _directive(self, d, vhost):
        lname = d.name.lower()
        where = self._where(d.file, d.line)
        if lname in ("include", "includeoptional"):
            if not d.args:
                raise StaplingError("{0}: {1} needs a path".format(where, d.name))
            self._include(d.args[0], lname == "includeoptional", d, vhost)
            return
        if lname == "define":
            if not d.args:
                raise StaplingError("{0}: Define needs a name".format(where))
            self.defines[d.args[0]] = " ".join(d.args[1:])
            return
        if lname == "undefine" and d.args:
            self.defines.pop(d.args[0], None)
            return
        if lname == "serverroot" and d.args and vhost is None:
            self.server_root = d.args[0]
            return
        if lname == "loadmodule" and len(d.args) >= 2:
            self.load_modules.append((d.args[0], self._abs(d.args[1])))
            self.modules.add(d.args[0])
            self.modules.add(module_file_name(d.args[0]))
            return
        if lname == "use":
            self.problem("macro_not_expanded", "Use {0} is not expanded by this reader".format(" ".join(d.args)),
                         d.file, d.line)
            return
        if vhost is None:
            self.global_directives.append(d)
            return
        vhost["directives"].append(d)
        if lname == "servername" and d.args:
            vhost["server_name"] = d.args[0]
        elif lname == "serveralias":
            vhost["server_aliases"].extend(d.args)
        elif lname == "sslengine" and d.args:
            vhost["tls"] = d.args[0].lower() in ("on", "optional")
        elif lname in VHOST_FILES and d.args:
            vhost[VHOST_FILES[lname]] = self._abs(d.args[0])
        if lname in STAPLING_DIRECTIVES:
            vhost["own_stapling"][d.name] = d
            if lname == "sslstaplingcache":
                self.problem("cache_in_vhost", "SSLStaplingCache inside <VirtualHost> (Apache refuses to start, "
                             "AH00526): move it to the global server config", d.file, d.line, "error")

    def _include(self, pattern, optional, d, vhost):
        full = self._abs(pattern)
        if glob.has_magic(full):
            matches = sorted(glob.glob(full))
            if not matches and not optional:
                raise StaplingError("{0}: Include {1} matches no file; Apache refuses to start. Use IncludeOptional "
                                    "or fix the pattern.".format(self._where(d.file, d.line), pattern))
        elif os.path.isdir(full):
            matches = sorted(os.path.join(full, e) for e in os.listdir(full))
        elif os.path.exists(full):
            matches = [full]
        elif optional:
            return
        else:
            raise StaplingError("{0}: Include {1} does not exist; Apache refuses to start. Create it, fix the path, "
                                "or use IncludeOptional.".format(self._where(d.file, d.line), pattern))
        for match in matches:
            if os.path.isdir(match):
                for entry in sorted(os.listdir(match)):
                    sub = os.path.join(match, entry)
                    if os.path.isfile(sub):
                        self._read_into(sub, optional, vhost)
            elif os.path.isfile(match):
                self._read_into(match, optional, vhost)

    def _read_into(self, path, optional, vhost):
        if vhost is None:
            self.read(path, optional)
            return
        # An Include inside a <VirtualHost>: its directives belong to that vhost.
        real = os.path.realpath(path)
        if real in self._stack:
            raise StaplingError("include loop: {0} includes itself. Remove the circular Include.".format(path))
        with open(path, "r", errors="replace") as f:
            lines = logical_lines(f.read(), path)
        self.files.append(path)
        self._stack.append(real)
        try:
            self._walk(lines, 0, len(lines), path, vhost)
        finally:
            self._stack.pop()


def stapling_view(reader):
    """(global_stapling, vhosts) with each vhost's effective stapling directives and problems added."""
    global_stapling = {}
    for d in reader.global_directives:
        if d.name.lower() in STAPLING_DIRECTIVES:
            global_stapling[d.name] = d
    cache = next((d for n, d in global_stapling.items() if n.lower() == "sslstaplingcache"), None)
    vhosts = []
    for vh in reader.vhosts:
        effective = {}
        for name, d in global_stapling.items():
            effective[name.lower()] = dict(d.as_dict(), inherited=True)
        for name, d in vh["own_stapling"].items():
            effective[name.lower()] = dict(d.as_dict(), inherited=False)
        use = effective.get("sslusestapling")
        stapling_on = bool(use) and use["value"].lower() == "on"
        out = dict((k, v) for k, v in vh.items() if k not in ("own_stapling", "directives"))
        # Compact on purpose (1,000 vhosts): values by name; the global ones' file and line are in
        # global_stapling, the vhost's own are in its own file.
        out["stapling"] = {
            "enabled": stapling_on and out["tls"],
            "directives": dict((v["name"], v["value"]) for v in effective.values()),
            "inherited": sorted(v["name"] for v in effective.values() if v["inherited"]),
        }
        if stapling_on and out["tls"] and cache is None:
            reader.problem("stapling_without_cache", "SSLUseStapling on for {0} but no global SSLStaplingCache: "
                           "Apache passes configtest and then fails to start (AH01958)".format(
                               out["server_name"] or vh["file"]), vh["file"], vh["line"], "error")
        for key in ("certificate_file", "certificate_chain_file", "ca_certificate_file", "key_file"):
            if out[key] and not os.path.exists(out[key]):
                reader.problem("missing_file", "{0} {1} of {2} does not exist".format(
                    key, out[key], out["server_name"] or vh["file"]), vh["file"], vh["line"], "error")
        vhosts.append(out)
    if cache is not None:
        kind = cache.args[0].split(":", 1)[0].strip("\"").lower() if cache.args else ""
        needed = {"shmcb": "socache_shmcb_module", "dbm": "socache_dbm_module", "memcache": "socache_memcache_module",
                  "redis": "socache_redis_module", "dc": "socache_dc_module"}.get(kind)
        if needed and needed not in reader.modules:
            reader.problem("cache_module_missing", "SSLStaplingCache {0} needs {1}, which is not loaded (Debian: "
                           "a2enmod {2})".format(cache.args[0], needed, needed[:-len("_module")]),
                           cache.file, cache.line, "error")
    return dict((n, d.as_dict()) for n, d in global_stapling.items()), vhosts
