# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: read an Apache httpd 2.4 configuration the way Apache reads it.

Each rule below mirrors the Apache function named beside it (server/util.c, server/config.c,
server/core.c, modules/metadata/mod_version.c, modules/core/mod_macro.c) and was checked against
Debian's apache2 2.4 with ``apache2 -t -D DUMP_VHOSTS``:

- lines: ``ap_cfg_getline``/``ap_varbuf_cfg_getline`` (continuation, CR, NUL, 16 MiB limit), words:
  ``ap_getword_conf`` (quotes, an unterminated quote runs to the end of the line), ``${VAR}``:
  ``ap_resolve_env`` on the whole line before it is split;
- sections: ``ap_build_config_sub`` (generic containers such as <VirtualHost>, <Directory>: a close tag
  ignores what follows it; each file must close its own), ``ap_build_cont_config`` (the body of a
  condition in force: closed by its exact end line, or silently by the end of the file),
  ``ap_soak_end_container`` (a condition not in force: its end tag, or the file is refused);
- Include/IncludeOptional, Define/UnDefine, LoadModule, ServerRoot and the conditions (<IfModule>,
  <IfDefine>, <IfFile>, <IfVersion>) run while the file is read (EXEC_ON_READ), in order;
- mod_macro: <Macro>, Use, UndefMacro; a macro's text is read as a stream of its own, named as
  mod_macro names it, that continues into the rest of the file that used it.

Pure Python; no AnsibleModule.
"""

from __future__ import annotations

import glob
import os
import re
import sys

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

MAX_INCLUDE_DEPTH = 128  # AP_MAX_INCLUDE_DEPTH (core.c include_config)
MAX_LINE = 16 * 1024 * 1024  # VARBUF_MAX_LEN (config.c): a longer line is "Line too long"
# ${VAR} expansion (ap_resolve_env) has no limit in Apache: it allocates what the expansion needs, so 22 doubling
# Defines make a 128 MiB line. This reader's own bounds: an expanded line may not be longer than the longest line
# Apache reads (MAX_LINE), and the expansions of the whole configuration together may not add more than this.
MAX_EXPANSION_TOTAL = 4 * MAX_LINE
MACRO_BUFFER = 8192  # MAX_STRING_LEN: mod_macro reads and substitutes a macro's lines in buffers of this size
SPACE = " \t\n\v\f\r"  # apr_isspace() in the C locale
# Modules Debian's apache2 has built in (apache2 -l); used only when Apache's own module list is unknown.
DEFAULT_STATIC_MODULES = ("core_module", "so_module", "watchdog_module", "http_module", "log_config_module",
                          "logio_module", "version_module", "unixd_module")
STAPLING_DIRECTIVES = (
    "sslusestapling", "sslstaplingcache", "sslstaplingresponsetimeskew", "sslstaplingresponsemaxage",
    "sslstaplingrespondertimeout", "sslstaplingreturnrespondererrors", "sslstaplingfaketrylater",
    "sslstaplingstandardcachetimeout", "sslstaplingerrorcachetimeout", "sslstaplingforceurl", "sslocspproxyurl",
    "mdstapling", "mdstapleothers",
)
VHOST_FILES = {
    "sslcertificatefile": "certificate_file",
    "sslcertificatechainfile": "certificate_chain_file",
    "sslcacertificatefile": "ca_certificate_file",
    "sslcertificatekeyfile": "key_file",
}
_VAR = re.compile(r"\$\{([^}]*)\}")
# A word as ap_getword_conf() takes it: a quoted one (backslash escapes only its quote and itself; without its
# closing quote it runs to the end of the line), or a run of non-space characters (quotes inside are literal).
_WORD = re.compile(r'"((?:\\["\\]|[^"])*)"?|\'((?:\\[\'\\]|[^\'])*)\'?|([^ \t\n\v\f\r]+)')
_MACRO_ARG_PREFIX = "$%@"


def _slow(text):
    """Whether text holds a character for which str.split() would not split as apr_isspace() does, or that
    ap_getword_conf() treats: a quote, a backslash, \\x1c-\\x1f, anything not ASCII (then the regex path). A few
    scans in C: a regex over an 8 MiB line (an expanded Define) cost ten times as much."""
    return (not text.isascii() or '"' in text or "'" in text or "\\" in text or "\x1c" in text or "\x1d" in text
            or "\x1e" in text or "\x1f" in text)


def module_file_name(module_id):
    """ssl_module -> mod_ssl.c (the two names <IfModule> accepts); mpm_event_module -> event.c."""
    base = module_id[:-len("_module")] if module_id.endswith("_module") else module_id
    if base.startswith("mpm_"):
        return base[len("mpm_"):] + ".c"
    if base in ("core", "http"):
        return {"core": "core.c", "http": "http_core.c"}[base]
    return "mod_" + base + ".c"


def _unescape(word, quote):
    """substring_conf() (util.c): a backslash before a backslash, or before the word's own quote, is dropped."""
    if "\\" not in word:
        return word
    if quote:
        return re.sub(r"\\([\\" + quote + "])", r"\1", word)
    return word.replace("\\\\", "\\")


def _match_word(m):
    if m.group(1) is not None:
        return _unescape(m.group(1), '"')
    if m.group(2) is not None:
        return _unescape(m.group(2), "'")
    return _unescape(m.group(3), None)


def split_args(text, where=None):
    """Every word of ``text`` as repeated ap_getword_conf() calls take them (util.c).

    Never fails: Apache takes an unterminated quoted word to the end of the line."""
    if not _slow(text):
        return text.split()
    return [_match_word(m) for m in _WORD.finditer(text)]


def first_word(text):
    """(word, rest) as one ap_getword_conf() call leaves them: rest starts after the spaces that follow the word."""
    if not _slow(text):
        parts = text.split(None, 1)
        if not parts:
            return "", ""
        return parts[0], parts[1] if len(parts) > 1 else ""
    m = _WORD.search(text)
    if m is None:
        return "", ""
    end, n = m.end(), len(text)
    while end < n and text[end] in SPACE:
        end += 1
    return _match_word(m), text[end:]


class _Line(object):
    """One logical line: its text (trimmed), where it starts and where Apache numbers it (its last physical line)."""
    __slots__ = ("text", "raw_len", "first_src", "first", "src", "last")

    def __init__(self, text, raw_len, first_src, first, src, last):
        self.text, self.raw_len, self.first_src, self.first, self.src, self.last = (
            text, raw_len, first_src, first, src, last)

    def anchor(self):
        """(file, line) an editor shows: the line's first physical line, or the Use line of the macro it came from."""
        return self.first_src.anchor(self.first)


class _File(object):
    """A configuration file as ap_pcfg_openfile() reads it: physical lines end at LF only."""
    __slots__ = ("name", "lines", "idx", "line_number")
    macro = None

    def __init__(self, name, text):
        self.name = name
        self.lines = text.split("\n")
        self.idx = 0
        self.line_number = 0

    def getstr(self, cursor):
        i = self.idx
        last = len(self.lines) - 1
        if i > last or (i == last and not self.lines[i]):
            return None
        self.idx = i + 1
        return self.lines[i], i < last

    def anchor(self, line):
        return self.name, line


class _MacroText(object):
    """mod_macro's make_array_config(): the expanded lines of one Use, named "macro 'NAME' (defined on line N of
    "FILE") used on line M of "FILE"" (what DUMP_VHOSTS prints); at its end, array_getstr() goes on reading the file
    that used it (a macro may open what that file closes)."""
    __slots__ = ("name", "lines", "idx", "line_number", "next", "use_anchor", "macro")

    def __init__(self, name, lines, next_src, use_anchor, macro):
        self.name, self.lines, self.next, self.use_anchor, self.macro = name, lines, next_src, use_anchor, macro
        self.idx = 0
        self.line_number = 0

    def getstr(self, cursor):
        if self.idx < len(self.lines):
            self.idx += 1
            return self.lines[self.idx - 1], True
        cursor.src = self.next
        self.next.line_number += 1
        got = self.next.getstr(cursor)
        if got is not None and not got[1]:
            # array_getch() reads the rest of that file's next line character by character; a last line without
            # a line end meets EOF there, and array_getstr() drops what it read (a final "Use M b" without LF
            # after another Use is not read; checked on apache2 2.4.71).
            return None
        return got

    def anchor(self, line):
        return self.use_anchor


class _Cursor(object):
    """cmd_parms.config_file of one file being read: a Use switches it to the macro's text."""
    __slots__ = ("src",)

    def __init__(self, src):
        self.src = src

    def getline(self):
        """ap_varbuf_cfg_getline() (util.c): the next logical line, or None at the end.

        A backslash right before the LF (or CR LF) joins the next physical line, the backslash and line end
        dropped and nothing else (2.4 has no escaped-backslash exception); the check is on the whole buffer, so a
        continued line that ends empty continues again. A NUL ends the line there (strlen). Leading and
        trailing whitespace (CR included) goes (cfg_trim_line). Apache numbers the line by its last physical
        line; the first is kept for what an editor shows."""
        src = self.src
        # The line so far is "".join(pieces[:-1]) + pieces[-1][:end]: no piece is empty, and only the last one is
        # ever shortened (by its end, not by slicing it again), so a line continued over millions of physical lines
        # costs what its length does (re-building the buffer per physical line took 283 s for 2,000,000; issue 24).
        pieces = []
        end = length = 0
        started = False
        first_src = first = None
        while True:
            src.line_number += 1
            got = src.getstr(self)
            if got is None:
                if not started:
                    return None
                break
            started = True
            text, lf = got
            if first_src is None:
                first_src, first = self.src, self.src.line_number
            if "\0" in text:
                text, lf = text[:text.index("\0")], False
            if text:
                if pieces and end < len(pieces[-1]):
                    pieces[-1] = pieces[-1][:end]
                pieces.append(text)
                end = len(text)
                length += end
            if not lf or not pieces:
                break
            # the buffer's last character, and the one before it, across pieces
            last = pieces[-1][end - 1]
            drop = 0
            if last == "\r":
                before = pieces[-1][end - 2] if end > 1 else (pieces[-2][-1] if len(pieces) > 1 else "")
                drop = 2 if before == "\\" else 0
            elif last == "\\":
                drop = 1
            if not drop:
                break
            length -= drop
            while drop:
                take = min(drop, end)
                end -= take
                drop -= take
                if not end:
                    pieces.pop()
                    end = len(pieces[-1]) if pieces else 0
            if length >= MAX_LINE:
                break
        if length >= MAX_LINE:
            raise StaplingError("{0}:{1}: a line of {2} bytes or more: Apache refuses it (Error reading {0} at line {1}: "
                                "Line too long)".format(self.src.name, self.src.line_number, MAX_LINE))
        if pieces and end < len(pieces[-1]):
            pieces[-1] = pieces[-1][:end]
        acc = "".join(pieces)
        return _Line(acc.strip(SPACE), len(acc), first_src, first, self.src, self.src.line_number)


class _Section(object):
    """A generic container (<VirtualHost>, <Directory>, <Location>...) open in the tree being built."""
    __slots__ = ("name", "line", "vhost", "is_vhost")

    def __init__(self, name, line, vhost, is_vhost):
        self.name, self.line, self.vhost, self.is_vhost = name, line, vhost, is_vhost


class _Macro(object):
    __slots__ = ("name", "params", "body", "location", "anchor")

    def __init__(self, name, params, body, location, anchor):
        self.name, self.params, self.body, self.location, self.anchor = name, params, body, location, anchor


class Directive(object):
    __slots__ = ("name", "args", "file", "line")

    def __init__(self, name, args, file, line):
        self.name, self.args, self.file, self.line = name, args, file, line

    def as_dict(self):
        return {"name": self.name, "args": list(self.args), "value": " ".join(self.args), "file": self.file,
                "line": self.line}


def logical_lines(text, path="-"):
    """(first physical line, text) of each logical line that is not blank or a comment (for tests and tools)."""
    cursor = _Cursor(_File(path, text))
    out = []
    while True:
        line = cursor.getline()
        if line is None:
            return out
        if line.text and line.text[0] != "#":
            out.append((line.first, line.text))


def _where(line):
    file, number = line.anchor()
    if line.first_src is not line.src or isinstance(line.src, _MacroText):
        return "{0}:{1} ({2}, line {3})".format(file, number, line.src.name, line.last)
    return "{0}:{1}".format(file, number)


class ConfigReader(object):
    """Reads the configuration from its main file as Apache builds its tree; collects global directives, vhosts,
    problems.

    ``modules``: the modules loaded before the configuration is read (Apache's static ones); LoadModule lines add
    theirs as they are read, so an <IfModule> before its LoadModule is not in force, as in Apache.
    ``defines``: the ``-D`` names. ``env``: the environment Apache runs with (``${VAR}`` after Define'd values)."""

    def __init__(self, server_root, modules=(), defines=(), version=None, env=None):
        self.server_root = server_root
        self.modules = set()
        for m in modules:
            self._add_module(m)
        self.defines = list(defines)  # ap_server_config_defines: -D names and every Define'd name (<IfDefine>)
        self.variables = {}  # server_config_defined_vars: Define NAME VALUE (${NAME})
        self.version = self._version_tuple(version)
        self.version_string = version
        self.env = dict(env or {})
        self._expanded = 0  # bytes ${VAR} expansions added so far (MAX_EXPANSION_TOTAL)
        self.global_directives = []
        self.vhosts = []
        self.problems = []
        self.load_modules = []  # (module id, path) of LoadModule lines in force
        self.files = []
        self.macros = None  # mod_macro's table, made by the first <Macro> ("no macro defined before Use")
        self._stack = []
        self._exec = {
            "include": self._exec_include, "includeoptional": self._exec_include,
            "define": self._exec_define, "undefine": self._exec_undefine,
            "loadmodule": self._exec_loadmodule, "serverroot": self._exec_serverroot,
            "<ifmodule": self._exec_ifmodule, "<ifdefine": self._exec_ifdefine, "<iffile": self._exec_iffile,
            "<ifversion": self._exec_ifversion, "<ifdirective": self._exec_unknown_condition,
            "<ifsection": self._exec_unknown_condition,
            "<macro": self._exec_macro, "use": self._exec_use, "undefmacro": self._exec_undefmacro,
        }
        self._needs = {"<ifversion": "version_module", "<macro": "macro_module", "use": "macro_module",
                       "undefmacro": "macro_module"}

    # --- helpers ----------------------------------------------------------------------
    @staticmethod
    def _version_tuple(version):
        if not version:
            return None
        parts = (re.findall(r"\d+", version) + ["0", "0", "0"])[:3]
        return tuple(int(p) for p in parts)

    def _add_module(self, module_id):
        self.modules.add(module_id)
        self.modules.add(module_file_name(module_id))

    def problem(self, code, msg, path=None, line=None, severity="warning"):
        self.problems.append({"code": code, "msg": msg, "file": path, "line": line, "severity": severity})

    def _resolve(self, text, line, report=True):
        """ap_resolve_env() (util.c) on the whole line: ${NAME} from Define'd values, then the environment;
        an unknown one stays as written (AH00111 unless the name has a ':')."""
        size = [len(text)]

        def sub(match):
            name = match.group(1)
            value = self.variables.get(name)
            if value is None:
                value = self.env.get(name)
            if value is None:
                if report and ":" not in name:
                    file, number = line.anchor()
                    self.problem("undefined_variable", "${{{0}}} is not defined (Define or environment); Apache keeps "
                                 "it literally (AH00111)".format(name), file, number)
                return match.group(0)
            size[0] += len(value) - len(match.group(0))
            if size[0] > MAX_LINE:
                raise StaplingError("{0}: its ${{VAR}} expansion makes the line longer than 16 MiB, the longest line "
                                    "Apache reads (Apache itself does not limit an expansion, ap_resolve_env; this "
                                    "reader does). Use shorter Define values.".format(_where(line)))
            return value
        resolved = _VAR.sub(sub, text)
        self._expanded += max(0, len(resolved) - len(text))
        if self._expanded > MAX_EXPANSION_TOTAL:
            raise StaplingError("{0}: the ${{VAR}} expansions of the configuration together add more than {1} MiB; "
                                "this reader stops there (Apache does not limit them). Use shorter Define values or "
                                "fewer copies of them.".format(_where(line), MAX_EXPANSION_TOTAL // (1024 * 1024)))
        return resolved

    def _abs(self, path):
        return path if os.path.isabs(path) else os.path.normpath(os.path.join(self.server_root, path))

    # --- reading files ------------------------------------------------------------------
    def read(self, path, optional=False):
        """Read the main configuration file (and everything it includes)."""
        try:
            self._read_file(path, None, optional)
        except RecursionError:
            # Apache nests as deep as its C stack allows; this reader follows Python's recursion limit.
            raise StaplingError("{0}: sections, includes or macros nested deeper than this reader follows (about {1} "
                                "levels of nesting in all); flatten the configuration".format(
                                    path, sys.getrecursionlimit() // 4))

    def _read_file(self, path, outer, optional=False):
        """ap_process_resource_config(): one file, its own tree (generic containers it opens, it must close)."""
        real = os.path.realpath(path)
        if real in self._stack:
            raise StaplingError("include loop: {0} includes itself through {1}. Remove the circular Include.".format(
                path, " -> ".join(self._stack)))
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            raise StaplingError("includes nested deeper than {0} at {1}; Apache refuses them. You have probably a "
                                "recursion somewhere.".format(MAX_INCLUDE_DEPTH, path))
        try:
            if not os.path.isfile(path) and path != os.devnull:
                if os.path.exists(path):
                    raise StaplingError("{0} is not a regular file: Apache refuses to read it (Access to file {0} "
                                        "denied by server: not a regular file)".format(path))
            with open(path, "rb") as f:
                data = f.read()
        except (IOError, OSError) as exc:
            if optional:
                return
            raise StaplingError("cannot read Apache configuration file {0}: {1}. Check the path (config_file, "
                                "server_root) and that the task may read it.".format(path, exc.strerror or exc))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Apache reads bytes; only ASCII bytes have a meaning to it, so U+FFFD for the others keeps every rule.
            text = data.decode("utf-8", "replace")
        self.files.append(path)
        self._stack.append(real)
        try:
            self._build_config(_Cursor(_File(path, text)), outer)
        finally:
            self._stack.pop()

    def _build_config(self, cursor, outer):
        """ap_build_config(): every line of the file; a generic container still open at its end is refused."""
        parents = []
        while True:
            line = cursor.getline()
            if line is None:
                break
            self._build_sub(line, cursor, outer, parents)
        if parents:
            raise StaplingError("; ".join("{0}: {1}> was not closed".format(_where(p.line), p.name)
                                          for p in reversed(parents)) +
                                ". Apache refuses the file; add </{0}>.".format(parents[-1].name[1:]))

    def _build_cont_config(self, cursor, outer, directive):
        """ap_build_cont_config(): the body of a condition in force. It ends at a line that is exactly its end tag
        (any case) while no container opened inside is open, or silently at the end of the file."""
        bracket = directive[1:].lower() + ">"
        parents = []
        while True:
            line = cursor.getline()
            if line is None:
                return
            text = line.text
            if not parents and text[:2] == "</" and text[2:].lower() == bracket:
                return
            self._build_sub(line, cursor, outer, parents)

    def _soak(self, cursor, directive, start):
        """ap_soak_end_container(): a section not in force. Sections inside are skipped the same way; its end tag
        must come (only what follows the tag's first word is ignored), or the file is refused."""
        while True:
            line = cursor.getline()
            if line is None:
                raise StaplingError("{0}: {1}> is not in force and never closed: Apache refuses the file (Expected "
                                    "</{2}> before end of configuration). Add </{2}>.".format(
                                        _where(start), directive, directive[1:]))
            text = self._resolve(line.text, line, report=False) if "$" in line.text else line.text
            name, rest = first_word(text)
            if name[:1] != "<":
                continue
            if name[1:2] == "/":
                seen = name[:-1]
                if seen[2:].lower() != directive[1:].lower():
                    raise StaplingError("{0}: Expected </{1}> but saw {2}> (inside the {3}> at {4}, which is not in "
                                        "force). Apache refuses the file.".format(
                                            _where(line), directive[1:], seen, directive, _where(start)))
                return
            if not rest and name[-1:] == ">":
                name = name[:-1]
            self._soak(cursor, name, line)

    def _build_sub(self, line, cursor, outer, parents):
        """ap_build_config_sub(): one line. Directives that run while reading (EXEC_ON_READ) run now; other
        sections open or close a generic container; the rest are directives of the innermost container."""
        text = line.text
        if not text or text[0] == "#":
            return
        if "$" in text:
            text = self._resolve(text, line)
        if not _slow(text):  # first_word()'s fast path, inline: this runs for every line
            parts = text.split(None, 1)
            name, args = parts[0], parts[1] if len(parts) > 1 else ""
        else:
            name, args = first_word(text)
        if not name:
            return
        if name[1:2] != "/":
            if name[-1] == ">":
                name = name[:-1]
            if name[:1] == "<" and not args:
                args = ">"
        lname = name.lower()
        run = self._exec.get(lname)
        if run is not None:
            needs = self._needs.get(lname)
            if needs is None or needs in self.modules:
                run(name, args, line, cursor, parents[-1] if parents else outer)
                return
        if name[:1] == "<":
            if name[1:2] != "/":
                self._open(name, args, line, parents[-1] if parents else outer, parents)
            elif not parents:
                raise StaplingError("{0}: {1} without matching <{2} section: Apache refuses the file{3}.".format(
                    _where(line), name, name[2:], " (an end tag closes only what its own file, or the condition it "
                    "is in, opened)" if outer is not None else ""))
            else:
                if name[-1] != ">":
                    raise StaplingError("{0}: {1}> directive missing closing '>'".format(_where(line), name))
                if name[2:-1].lower() != parents[-1].name[1:].lower():
                    raise StaplingError("{0}: Expected </{1}> but saw {2}: Apache refuses the file.".format(
                        _where(line), parents[-1].name[1:], name))
                parents.pop()  # what follows the end tag on its line is ignored
            return
        self._directive(name, args, line, parents[-1] if parents else outer)

    # --- generic containers and directives ----------------------------------------------
    def _open(self, name, args, line, inner, parents):
        if name.lower() != "<virtualhost":
            parents.append(_Section(name, line, inner.vhost if inner else None, False))
            return
        if inner is not None:
            raise StaplingError("{0}: <VirtualHost> cannot occur within <{1}> section: Apache refuses it.".format(
                _where(line), inner.name[1:]))
        end = args.rfind(">")  # virtualhost_section(): the arguments end at the line's last '>'
        if end < 0:
            raise StaplingError("{0}: <VirtualHost> directive missing closing '>'".format(_where(line)))
        addresses = split_args(args[:end])
        if not addresses:
            raise StaplingError("{0}: <VirtualHost> directive requires additional arguments".format(_where(line)))
        file, number = line.anchor()
        macro = None
        if line.first_src.macro is not None:
            m = line.first_src.macro
            macro = {"name": m.name, "file": m.anchor[0], "line": m.anchor[1]}
        # Where DUMP_VHOSTS names it: the header's source and its physical lines there (Apache prints the last).
        lines = (line.first, line.last) if line.first_src is line.src else (line.last, line.last)
        vhost = {"file": file, "line": number, "addresses": addresses, "server_name": None, "server_aliases": [],
                 "tls": False, "certificate_file": None, "certificate_chain_file": None, "ca_certificate_file": None,
                 "key_file": None, "macro": macro, "own_stapling": {}, "_dump": (line.src.name, lines)}
        self.vhosts.append(vhost)
        parents.append(_Section(name, line, vhost, True))

    def _directive(self, name, args, line, inner):
        if inner is not None and not inner.is_vhost:
            return  # per-directory context (<Directory>, <Location>, <Files>...): nothing we read
        lname = name.lower()
        vhost = inner.vhost if inner is not None else None
        if vhost is None:
            file, number = line.anchor()
            self.global_directives.append(Directive(name, split_args(args), file, number))
            return
        if lname == "servername":
            words = split_args(args)
            if words:
                # server_hostname_port(): a scheme and a port are not part of the name
                host = words[0].split("://", 1)[-1]
                vhost["server_name"] = host.split(":", 1)[0]
        elif lname == "serveralias":
            vhost["server_aliases"].extend(split_args(args))
        elif lname == "sslengine":
            words = split_args(args)
            if words:
                vhost["tls"] = words[0].lower() in ("on", "optional")
        elif lname in VHOST_FILES:
            words = split_args(args)
            if words:
                vhost[VHOST_FILES[lname]] = self._abs(words[0])
        if lname in STAPLING_DIRECTIVES:
            file, number = line.anchor()
            d = Directive(name, split_args(args), file, number)
            vhost["own_stapling"][name] = d
            if lname == "sslstaplingcache":
                self.problem("cache_in_vhost", "SSLStaplingCache inside <VirtualHost> (Apache refuses to start, "
                             "AH00526): move it to the global server config", file, number, "error")

    # --- directives that run while the file is read (EXEC_ON_READ) ------------------------
    def _takes(self, name, args, line, low, high):
        words = split_args(args)
        if not low <= len(words) <= high:
            count = str(low) if low == high else "{0}-{1}".format(low, high)
            raise StaplingError("{0}: {1} takes {2} argument{3}; Apache refuses the line".format(
                _where(line), name, "one" if count == "1" else count, "" if count == "1" else "s"))
        return words

    def _exec_include(self, name, args, line, cursor, inner):
        """include_config() / ap_process_fnmatch_configs(): relative to ServerRoot; a directory is read whole,
        sorted, recursively; a wildcard matches in sorted order (a leading dot only explicitly)."""
        pattern = self._takes(name, args, line, 1, 1)[0]
        optional = name.lower() == "includeoptional"
        full = self._abs(pattern)
        if glob.has_magic(full):
            matches = sorted(glob.glob(full))
            if not matches:
                if optional:
                    return
                raise StaplingError("{0}: {1} {2} matches no file; Apache refuses to start (No matches for the "
                                    "wildcard). Use IncludeOptional or fix the pattern.".format(
                                        _where(line), name, pattern))
        elif os.path.exists(full):
            matches = [full]
        elif optional:
            return
        else:
            raise StaplingError("{0}: Include {1} does not exist; Apache refuses to start. Create it, fix the path, "
                                "or use IncludeOptional.".format(_where(line), pattern))
        for match in matches:
            self._include_path(match, inner, optional, 0)

    def _include_path(self, path, inner, optional, depth):
        if os.path.isdir(path):
            if depth > MAX_INCLUDE_DEPTH:
                raise StaplingError("directory {0} exceeds the maximum include directory nesting level of {1}".format(
                    path, MAX_INCLUDE_DEPTH))
            for entry in sorted(os.listdir(path)):
                self._include_path(os.path.join(path, entry), inner, optional, depth + 1)
        else:
            self._read_file(path, inner, optional)

    def _exec_define(self, name, args, line, cursor, inner):
        """set_define(): the name counts for <IfDefine>; with a value, ${NAME} gives it."""
        words = self._takes(name, args, line, 1, 2)
        if ":" in words[0]:
            raise StaplingError("{0}: Define {1}: Variable name must not contain ':'".format(_where(line), words[0]))
        if words[0] not in self.defines:
            self.defines.append(words[0])
        if len(words) == 2:
            self.variables[words[0]] = words[1]

    def _exec_undefine(self, name, args, line, cursor, inner):
        words = self._takes(name, args, line, 1, 1)
        if words[0] in self.defines:
            self.defines.remove(words[0])
        self.variables.pop(words[0], None)

    def _exec_loadmodule(self, name, args, line, cursor, inner):
        module_id, path = self._takes(name, args, line, 2, 2)
        if module_id not in self.modules:
            self._add_module(module_id)
            self.load_modules.append((module_id, self._abs(path)))

    def _exec_serverroot(self, name, args, line, cursor, inner):
        self.server_root = self._takes(name, args, line, 1, 1)[0]

    def _condition_arg(self, name, args, line):
        """start_ifmod() / start_ifdefine() / start_iffile(): the argument ends at the line's last '>' (what follows
        is ignored), a leading '!' negates, and its first word (quotes honoured) is the name."""
        end = args.rfind(">")
        if end < 0:
            raise StaplingError("{0}: {1}> directive missing closing '>'".format(_where(line), name))
        arg = args[:end]
        negate = arg[:1] == "!"
        word = first_word(arg[1:] if negate else arg)[0]
        if not word:
            raise StaplingError("{0}: {1}> directive requires additional arguments".format(_where(line), name))
        return negate, word

    def _condition(self, directive, holds, line, cursor, inner):
        if holds:
            self._build_cont_config(cursor, inner, directive)
        else:
            self._soak(cursor, directive, line)

    def _exec_ifmodule(self, name, args, line, cursor, inner):
        negate, word = self._condition_arg(name, args, line)
        self._condition("<IfModule", (word in self.modules) != negate, line, cursor, inner)

    def _exec_ifdefine(self, name, args, line, cursor, inner):
        negate, word = self._condition_arg(name, args, line)
        self._condition("<IfDefine", (word in self.defines) != negate, line, cursor, inner)

    def _exec_iffile(self, name, args, line, cursor, inner):
        negate, word = self._condition_arg(name, args, line)
        self._condition("<IfFile", os.path.exists(self._abs(word)) != negate, line, cursor, inner)

    def _exec_unknown_condition(self, name, args, line, cursor, inner):
        file, number = line.anchor()
        self.problem("condition_not_evaluated", "{0}> is not evaluated by this reader (it asks which directives the "
                     "loaded modules define); its body is read as if in force. The DUMP_VHOSTS cross-check shows "
                     "what that changes.".format(name), file, number)
        self._condition("<" + name[1:], True, line, cursor, inner)

    def _exec_ifversion(self, name, args, line, cursor, inner):
        """start_ifversion() (mod_version.c), TAKE123: [operator] version, the '>' on the last word."""
        words = self._takes("<IfVersion", args, line, 1, 3)
        arg1, arg2, arg3 = (words + [None, None])[:3]
        if arg2 is None:
            arg1, arg2 = "=", arg1
        if arg3 is None and arg2 == ">":  # a quoted version without an operator
            arg1, arg2, arg3 = "=", arg1, ">"
        if not arg2 or (arg3 != ">" and arg2[-1] != ">"):
            raise StaplingError("{0}: <IfVersion> directive missing closing '>'".format(_where(line)))
        version = arg2 if arg3 == ">" else arg2[:-1]
        op, reverse = arg1, False
        if op[:1] == "!":
            reverse = True
            if len(op) > 1:
                op = op[1:]
        c, rest = op[:1], op[1:]
        match = None
        if rest == "" or (rest == "=" and c != "~"):
            if c == "=" and version[:1] != "/":
                match = self._compare_version(version, line) == 0
            elif c == "=":
                if len(version) < 2 or version[-1] != "/":
                    raise StaplingError("{0}: <IfVersion>: Missing delimiting / of regular expression.".format(
                        _where(line)))
                match = self._match_version(version[1:-1], line)
            elif c == "~":
                match = self._match_version(version, line)
            elif c in "<>" and c:
                cmp = self._compare_version(version, line)
                match = cmp == (-1 if c == "<" else 1) or (bool(rest) and cmp == 0)
        if match is None:
            raise StaplingError("{0}: <IfVersion>: unrecognized operator '{1}'".format(_where(line), arg1))
        self._condition("<IfVersion", match != reverse, line, cursor, inner)

    def _compare_version(self, text, line):
        """compare_version() (mod_version.c): major[.minor[.patch]], missing parts are 0; sign of ours - given."""
        parts, c, i, start, n = [0, 0, 0], 0, 0, 0, len(text)
        if text[:1] not in "0123456789" or not text:
            i = -1
        while 0 <= i <= n and c < 3:
            ch = "." if i == n else text[i]
            if ch == ".":
                parts[c] = int(text[start:i] or 0)
                c += 1
                i += 1
                start = i
                continue
            if ch not in "0123456789":
                break
            i += 1
        if i < n:
            raise StaplingError("{0}: <IfVersion> {1!r}: Version appears to be invalid. It must have the format "
                                "major[.minor[.patch]] where major, minor and patch are numbers.".format(
                                    _where(line), text))
        if self.version is None:
            return 0
        given = tuple(parts)
        return (self.version > given) - (self.version < given)

    def _match_version(self, pattern, line):
        try:
            regex = re.compile(pattern)
        except re.error:
            raise StaplingError("{0}: <IfVersion> {1!r}: Unable to compile regular expression".format(
                _where(line), pattern))
        if self.version is None:
            return True
        return regex.search("{0}.{1}.{2}".format(*self.version)) is not None

    # --- mod_macro ----------------------------------------------------------------------
    def _exec_macro(self, name, args, line, cursor, inner):
        """macro_section(): <Macro NAME $arg...>; its lines, up to the matching </Macro> (nesting counted), kept
        as read (comments dropped, ${VAR} not yet resolved)."""
        if self.macros is None:
            self.macros = {}
        end = args.rfind(">")
        if end < 0:
            raise StaplingError("{0}: <Macro> directive missing closing '>'".format(_where(line)))
        if end == 0:
            raise StaplingError("{0}: <Macro macro definition: empty name".format(_where(line)))
        macro_name, rest = first_word(args[:end])
        if not macro_name:
            raise StaplingError("{0}: <Macro macro definition: name not found".format(_where(line)))
        macro_name = macro_name.lower()
        location = 'defined on line {0} of "{1}"'.format(cursor.src.line_number, cursor.src.name)
        where = "macro '{0}' ({1})".format(macro_name, location)
        params = split_args(rest)
        for i, p in enumerate(params):  # check_macro_arguments()
            if not p:
                raise StaplingError("{0}: {1}: empty argument #{2} name".format(_where(line), where, i + 1))
            for j in range(i + 1, len(params)):
                if p == params[j]:
                    raise StaplingError("{0}: argument name conflict in {1}: argument '{2}': #{3} and #{4}, change "
                                        "argument names!".format(_where(line), where, p, i + 1, j + 1))
        body, nesting = [], 1
        while True:  # get_lines_till_end_token()
            got = cursor.getline()
            if got is None or got.raw_len > MACRO_BUFFER - 2:
                raise StaplingError("{0}: {1} contents error: expected token not found: </Macro>{2}".format(
                    _where(line), where, " (a line longer than {0} bytes ends mod_macro's reading)".format(
                        MACRO_BUFFER - 2) if got is not None else ""))
            text = got.text
            if text[:1] == "#":
                continue
            word = first_word(text)[0].lower()
            if word == "</macro>":
                nesting -= 1
                if not nesting:
                    break
            elif word == "<macro":
                nesting += 1
            body.append(text + "\n")
        self.macros[macro_name] = _Macro(macro_name, params, body, location, line.anchor())

    def _exec_use(self, name, args, line, cursor, inner):
        """use_macro(): the macro's lines with its arguments substituted are read next, as a stream of their own."""
        if self.macros is None:
            raise StaplingError("{0}: no macro defined before Use".format(_where(line)))
        macro_name, rest = first_word(args)
        macro_name = macro_name.lower()
        if not macro_name:
            raise StaplingError("{0}: no macro name specified with Use".format(_where(line)))
        macro = self.macros.get(macro_name)
        if macro is None:
            raise StaplingError("{0}: macro '{1}' undefined".format(_where(line), macro_name))
        if "macro '{0}'".format(macro_name) in cursor.src.name:
            raise StaplingError("{0}: recursive use of macro '{1}' is invalid ({2})".format(
                _where(line), macro_name, cursor.src.name))
        values = split_args(rest)
        if len(values) != len(macro.params):
            raise StaplingError("{0}: macro '{1}' ({2}) used with {3} arguments instead of {4}".format(
                _where(line), macro_name, macro.location, len(values), len(macro.params)))
        where = 'macro \'{0}\' ({1}) used on line {2} of "{3}"'.format(macro_name, macro.location,
                                                                       cursor.src.line_number, cursor.src.name)
        lines = []
        for number, text in enumerate(macro.body, 1):
            try:
                lines.append(_substitute(text, macro.params, values))
            except ValueError:
                raise StaplingError("{0}: {1} error while substituting: while processing line {2} of macro '{3}' "
                                    "({4}) cannot substitute, buffer size too small".format(
                                        _where(line), where, number, macro_name, macro.location))
        cursor.src = _MacroText(where, lines, cursor.src, line.anchor(), macro)

    def _exec_undefmacro(self, name, args, line, cursor, inner):
        macro_name = self._takes(name, args, line, 1, 1)[0].lower()
        if self.macros is None:
            raise StaplingError("{0}: no macro defined before UndefMacro".format(_where(line)))
        if macro_name not in self.macros:
            raise StaplingError("{0}: cannot remove undefined macro '{1}'".format(_where(line), macro_name))
        del self.macros[macro_name]


def _substitute(text, params, values):
    """substitute_macro_args(): at each step the earliest parameter found (the longest on a tie) is replaced; an
    '@' parameter's value goes in double quotes with '"' and '\\' escaped; the search goes on after the value's
    length. ValueError when the line would not fit mod_macro's buffer."""
    pos = 0
    while True:
        best = None
        for i, p in enumerate(params):
            found = text.find(p, pos)
            if found >= 0 and (best is None or found < best[0] or (found == best[0] and len(p) > len(params[best[1]]))):
                best = (found, i)
        if best is None:
            return text
        found, i = best
        name, value = params[i], values[i]
        if name != value:
            insert = value
            if name[0] == "@":
                insert = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if len(text) - len(name) + len(insert) >= MACRO_BUFFER:
                raise ValueError(name)
            text = text[:found] + insert + text[found + len(name):]
        pos = found + len(value)


def dump_name(name):
    """A DUMP_VHOSTS file name in a form both sides agree on: a real file by its real path; a macro's text
    ("macro 'x' (defined on line N of "FILE") used on line M of "FILE"") with each absolute path in it real."""
    if name.startswith("macro '"):
        return re.sub(r'of "(/[^"]*)"', lambda m: 'of "{0}"'.format(os.path.realpath(m.group(1))), name)
    return os.path.realpath(name)


def stapling_view(reader):
    """(global_stapling, vhosts) with each vhost's effective stapling directives and problems added."""
    global_stapling = {}
    for d in reader.global_directives:
        if d.name.lower() in STAPLING_DIRECTIVES:
            global_stapling[d.name] = d
    cache = next((d for n, d in global_stapling.items() if n.lower() == "sslstaplingcache"), None)
    vhosts = []
    exists = {}  # many vhosts share a chain or CA file: stat each path once
    for vh in reader.vhosts:
        effective = {}
        for name, d in global_stapling.items():
            effective[name.lower()] = dict(d.as_dict(), inherited=True)
        for name, d in vh["own_stapling"].items():
            effective[name.lower()] = dict(d.as_dict(), inherited=False)
        use = effective.get("sslusestapling")
        stapling_on = bool(use) and use["value"].lower() == "on"
        out = dict((k, v) for k, v in vh.items() if k != "own_stapling" and k[0] != "_")
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
            path = out[key]
            if path and path not in exists:
                exists[path] = os.path.exists(path)
            if path and not exists[path]:
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
