"""Apache configurations judged by Apache itself.

- ``MinimalRoot``: a throwaway ServerRoot with a minimal main file (the real MPM, mod_macro, mod_ssl,
  mod_headers from Debian's apache2) that includes the files under test.
- ``apache_check()``: the oracle, ``apache2 -t -D DUMP_VHOSTS -D DUMP_CONFIG`` on that root; ``apache_vhosts()``
  reads its vhost list, ``apache_vhost_order()`` the order of the vhosts in mod_info's configuration tree,
  ``editor_view()`` says where each vhost is as an editor shows it (Apache numbers a line by its last physical
  line; a macro's vhost is named after the macro and its Use line).
- ``generate()``: a seeded generator of configuration variants (quoting, continuations, comments,
  nesting, CRLF, tabs, end tags with trailing words, conditions left open, Define, mod_macro).
- ``judge()``: one variant, Apache's verdict against a reading of it (``gather``, passed in, is
  ``_apache.gather``: what apache_info runs).

No collection import here: the lab stays usable on its own.
"""

import os
import random
import re
import subprocess
import threading

APACHE2 = "/usr/sbin/apache2"
MODULE_DIR = "/usr/lib/apache2/modules"
MAIN_NAME = "base.fuzz.test"
MAIN = """# minimal ServerRoot for configuration tests
ServerRoot "{root}"
LoadModule mpm_event_module {moddir}/mod_mpm_event.so
LoadModule authz_core_module {moddir}/mod_authz_core.so
LoadModule macro_module {moddir}/mod_macro.so
LoadModule ssl_module {moddir}/mod_ssl.so
LoadModule headers_module {moddir}/mod_headers.so
LoadModule info_module {moddir}/mod_info.so
ServerName {name}
PidFile {root}/httpd.pid
ErrorLog {root}/error.log
Listen 127.0.0.1:8
Include site.conf
"""
PORTS = (80, 81, 443, 8080)
ENV = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


class MinimalRoot(object):
    """A ServerRoot directory holding httpd.conf (which includes site.conf) and the files of one variant."""

    def __init__(self, directory, files):
        self.root = os.path.abspath(directory)
        os.makedirs(self.root, exist_ok=True)
        self.config_file = os.path.join(self.root, "httpd.conf")
        with open(self.config_file, "w") as f:
            f.write(MAIN.format(root=self.root, moddir=MODULE_DIR, name=MAIN_NAME))
        for rel, data in files.items():
            path = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def apache_check(root, config_file=None, binary=APACHE2, extra=()):
    """(accepted, output) of ``apache2 -t -D DUMP_VHOSTS -D DUMP_CONFIG`` on a ServerRoot (mod_info prints the
    configuration tree, in order, after the vhost list)."""
    argv = [binary, "-d", root, "-f", config_file or os.path.join(root, "httpd.conf"), "-t", "-D", "DUMP_VHOSTS",
            "-D", "DUMP_CONFIG"]
    proc = subprocess.run(argv + list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV,
                          universal_newlines=True, errors="replace", timeout=120, check=False)
    return proc.returncode == 0, proc.stdout


_SINGLE = re.compile(r"^(\S+:\S+)\s+(\S+) \((.*):(\d+)\)$")
_NAMEBASED = re.compile(r"^(\S+:\S+)\s+is a NameVirtualHost$")
_NAMEVHOST = re.compile(r"^\s+port \S+ namevhost (\S+) \((.*):(\d+)\)$")


def _split(output):
    """(DUMP_VHOSTS part, DUMP_CONFIG part): mod_info's tree starts at its first "# In file:" line."""
    at = output.find("# In file: ")
    return (output, "") if at < 0 else (output[:at], output[at:])


def apache_vhosts(output):
    """Apache's DUMP_VHOSTS as [{address, name, file, line}], one per address of each vhost."""
    out, current = [], None
    for text in _split(output)[0].splitlines():
        m = _NAMEBASED.match(text)
        if m:
            current = m.group(1)
            continue
        m = _NAMEVHOST.match(text)
        if m and current:
            out.append({"address": current, "name": m.group(1), "file": m.group(2), "line": int(m.group(3))})
            continue
        m = _SINGLE.match(text)
        if m:
            current = None
            out.append({"address": m.group(1), "name": m.group(2), "file": m.group(3), "line": int(m.group(4))})
    return out


_MACRO_NAME = re.compile(r"^macro '([^']*)' \(defined on line (\d+) of \"(.*?)\"\) used on line (\d+) of \"(.*)\"$")


def _first_physical_line(path, line):
    """Apache numbers a logical line by its last physical line: walk back over the lines continued into it."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    n = line
    while n > 1 and lines[n - 2].rstrip(b"\r").endswith(b"\\"):
        n -= 1
    return n


def editor_view(file, line):
    """(real path, line, macro) an editor shows for a DUMP_VHOSTS file and line: a macro's vhost is at the Use
    line of the outermost real file, with (name, definition file, definition line) of the innermost macro."""
    m = _MACRO_NAME.match(file)
    if not m:
        return os.path.realpath(file), _first_physical_line(file, line), None
    name, def_line, def_file, use_line, use_file = m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), m.group(5)
    while True:
        outer = _MACRO_NAME.match(use_file)
        if not outer:
            break
        use_line, use_file = int(outer.group(4)), outer.group(5)
    macro = (name, os.path.realpath(def_file), _first_physical_line(def_file, def_line))
    return os.path.realpath(use_file), _first_physical_line(use_file, use_line), macro


def theirs(output):
    """Apache's vhosts, as sorted (address, name, file, line, macro) in an editor's terms."""
    return sorted((v["address"], v["name"]) + editor_view(v["file"], v["line"]) for v in apache_vhosts(output))


_IN_FILE = re.compile(r"^# In file: (.*)$")
_LINE_NUMBER = re.compile(r"^\s*#\s+(\d+):$")


def apache_vhost_order(output):
    """The <VirtualHost> sections of mod_info's DUMP_CONFIG, in the order Apache built them, in an editor's terms."""
    out, file, number = [], None, None
    for text in _split(output)[1].splitlines():
        m = _IN_FILE.match(text)
        if m:
            file = m.group(1)
            continue
        m = _LINE_NUMBER.match(text)
        if m:
            number = int(m.group(1))
            continue
        if text.startswith("<VirtualHost") and file and number:
            out.append(editor_view(file, number))
    return out


def ours_in_order(facts):
    out = []
    for v in facts["vhosts"]:
        macro = v.get("macro")
        out.append((os.path.realpath(v["file"]), v["line"],
                    (macro["name"], os.path.realpath(macro["file"]), macro["line"]) if macro else None))
    return out


def ours(facts):
    """A reading's vhosts (apache_info's facts) in the same terms; None as the name of a vhost without ServerName
    (DUMP_VHOSTS shows the main server's name or one derived from the address there)."""
    out = []
    for v in facts["vhosts"]:
        macro = v.get("macro")
        macro = (macro["name"], os.path.realpath(macro["file"]), macro["line"]) if macro else None
        for address in v["addresses"]:
            out.append((address, v["server_name"], os.path.realpath(v["file"]), v["line"], macro))
    return sorted(out, key=repr)


def same_vhosts(want, got):
    """Apache's list and a reading's agree: the same (address, file, line, macro) entries, and the same name
    wherever the reading has one."""
    if sorted((w[0],) + w[2:] for w in want) != sorted((g[0],) + g[2:] for g in got):
        return False
    names = {}
    for w in want:
        names.setdefault((w[0],) + w[2:], []).append(w[1])
    return all(g[1] is None or g[1] in names[(g[0],) + g[2:]] for g in got)


def cached_runner():
    """A ``run(argv, env)`` for ``_apache.gather``: real processes, except that ``-V`` (the binary's compile-time
    settings, the same for every variant) runs once."""
    cache = {}
    lock = threading.Lock()

    def run(argv, env):
        key = None
        if argv and argv[-1] == "-V":
            key = argv[0]
            with lock:
                if key in cache:
                    return cache[key]
        full = dict(ENV, **(env or {}))
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full, universal_newlines=True,
                              errors="replace", timeout=120, check=False)
        result = (proc.returncode, proc.stdout, proc.stderr)
        if key:
            with lock:
                cache[key] = result
        return result
    return run


def judge(variant, directory, gather, run):
    """Write the variant into its own ServerRoot, ask Apache, read it with ``gather``; a dict saying whether they
    agree: Apache accepts -> the same vhosts (address, name, file and line, macro) and no disagreement in the
    reading's own cross-check; Apache refuses -> the reading reports configtest_failed. Never raises for a
    reading that fails: that is a disagreement, with the error. The vhosts must also come in Apache's order
    (mod_info's DUMP_CONFIG)."""
    root = MinimalRoot(directory, variant["files"])
    accepted, output = apache_check(root.root)
    result = {"index": variant["index"], "features": variant["features"], "accepted": accepted, "agree": False,
              "why": None, "root": root.root, "apache": output[-2000:]}
    try:
        facts = gather(run, APACHE2, server_root=root.root, config_file=root.config_file)
    except Exception as exc:  # a reading must never fail where the module would report
        result["why"] = "reading raised {0}: {1}".format(type(exc).__name__, getattr(exc, "msg", exc))
        return result
    codes = [p["code"] for p in facts["problems"]]
    if accepted:
        want, got = theirs(output), ours(facts)
        if "configtest_failed" in codes:
            result["why"] = "the module's configtest failed where apache2 -t accepted: {0}".format(facts["problems"])
        elif not same_vhosts(want, got):
            result["why"] = "vhosts differ:\n  apache: {0}\n  module: {1}".format(want, got)
        elif apache_vhost_order(output) != ours_in_order(facts):
            result["why"] = "vhosts in another order:\n  apache: {0}\n  module: {1}".format(
                apache_vhost_order(output), ours_in_order(facts))
        elif facts["cross_check"]["disagreements"]:
            result["why"] = "cross-check disagreements: {0}".format(
                [p for p in facts["problems"] if p["code"].startswith("vhost_")])
        else:
            result["agree"] = True
        result["vhosts"] = len(want)
    else:
        result["vhosts"] = 0
        if "configtest_failed" not in codes:
            result["why"] = "apache2 -t refused but the module reports no configtest_failed"
        else:
            result["agree"] = True
    return result


# --- the generator -----------------------------------------------------------------------------

class _Gen(object):
    def __init__(self, rng, index):
        self.rng = rng
        self.index = index
        self.count = 0
        self.features = set()
        self.macro_count = 0

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, items):
        return items[self.rng.randrange(len(items))]

    def name(self):
        self.count += 1
        return "v{0}-{1}.fuzz.test".format(self.index, self.count)

    def feature(self, name):
        self.features.add(name)

    # blocks: lists of lines, without line ends
    def server_name(self, name):
        style = self.rng.random()
        if style < 0.55:
            return "ServerName " + name
        if style < 0.7:
            self.feature("quoted")
            return 'ServerName "{0}"'.format(name)
        if style < 0.8:
            self.feature("quoted")
            return "ServerName '{0}'".format(name)
        self.feature("unterminated_quote")
        return 'ServerName "{0}'.format(name)

    def header(self, addresses):
        style = self.rng.random()
        if style < 0.7:
            return ["<VirtualHost {0}>".format(" ".join(addresses))]
        if style < 0.8 and not any("${" in a for a in addresses):
            # (a quoted "${VAR}" holding two addresses is one word no resolver knows: Apache ignores that address,
            # a real difference the cross-check reports, left out here)
            self.feature("quoted")
            return ["<VirtualHost {0}>".format(" ".join('"{0}"'.format(a) for a in addresses))]
        self.feature("multi_line_header")
        return ["<VirtualHost \\"] + ["    {0} \\".format(a) for a in addresses] + [">"]

    def vhost(self, addresses=None, name=None):
        addresses = addresses or self.addresses()
        name = name or self.name()
        body = [self.server_name(name)]
        for _i in range(self.rng.randrange(4)):
            kind = self.rng.random()
            if kind < 0.2:
                body.append("ServerAlias alias-{0} www.{0}".format(name))
            elif kind < 0.35:
                self.feature("unterminated_quote")
                body.append('SSLCipherSuite "HIGH:!aNULL:!MD5')
            elif kind < 0.5:
                self.feature("unterminated_quote")
                body.append('Header set X-Fuzz "a b c')
            elif kind < 0.65:
                self.feature("comment")
                body.append("# operator's note")
            elif kind < 0.7:
                self.feature("comment_continued")
                body.append("# a comment that swallows the next line \\")
            elif kind < 0.8:
                body.append("")
            elif kind < 0.9:
                self.feature("nested_generic")
                close = self.pick(["</Directory>", "</Directory>", "</Directory> # done", "</directory> junk"])
                if "junk" in close:
                    self.feature("close_tag_trailing_words")
                body += ["<Directory /srv/{0}>".format(name), "    Require all granted", close]
            else:
                self.feature("condition_in_vhost")
                body += ["<IfModule ssl_module>", "    ServerAlias tls-{0}".format(name), "</IfModule>"]
        self.rng.shuffle(body)
        indent = self.pick(["    ", "  ", "\t", ""])
        close = "</VirtualHost>"
        roll = self.rng.random()
        if roll < 0.08:
            self.feature("close_tag_trailing_words")
            close = "</VirtualHost> # end of " + name
        elif roll < 0.11:
            self.feature("close_tag_glued")
            close = "</VirtualHost>junk"
        elif roll < 0.13:
            close = "</virtualhost>"
        return self.header(addresses) + [indent + b for b in body] + [close]

    def addresses(self):
        first = "{0}:{1}".format(self.pick(["*", "*", "127.0.0.1"]), self.pick(PORTS))
        if self.chance(0.15):
            second = "{0}:{1}".format(self.pick(["*", "127.0.0.1"]), self.pick(PORTS))
            if second != first:
                return [first, second]
        return [first]

    CONDITIONS = [
        ("<IfModule ssl_module>", "</IfModule>", True), ("<IfModule !nope_module>", "</IfModule>", True),
        ("<IfModule mod_headers.c>", "</IfModule>", True), ("<IfModule nope_module>", "</IfModule>", False),
        ("<IfModule md_module>", "</IfModule>", False), ("<IfDefine !UNDEFINED>", "</IfDefine>", True),
        ("<IfDefine UNDEFINED>", "</IfDefine>", False), ("<IfVersion >= 2.4>", "</IfVersion>", True),
        ("<IfVersion < 2.4>", "</IfVersion>", False), ("<IfVersion 2.4>", "</IfVersion>", False),
        ("<IfVersion ~ ^2\\.4>", "</IfVersion>", True), ("<IfFile httpd.conf>", "</IfFile>", True),
        ("<IfFile nothere.conf>", "</IfFile>", False), ("<IfModule !ssl_module>", "</IfModule>", False),
    ]

    def condition(self, depth, last):
        opener, closer, _in_force = self.pick(self.CONDITIONS)
        self.feature("condition")
        inner = self.blocks(depth + 1, self.rng.randrange(1, 3), last=last)
        roll = self.rng.random()
        if roll < 0.1 and inner and inner[-1].lower().startswith("</virtualhost>"):
            self.feature("close_tag_trailing_words")
            # '</VirtualHost> </IfModule>': the end of the file closes the condition, if it is in force
            return [opener] + inner[:-1] + [inner[-1] + " " + closer]
        if roll < 0.25 and last:
            self.feature("open_at_eof")
            return [opener] + inner
        if roll < 0.29:
            self.feature("close_tag_trailing_words")
            return [opener] + inner + [closer + " junk"]
        if roll < 0.32:
            self.feature("close_tag_glued")
            return [opener] + inner + [closer + "junk"]
        return [opener] + inner + [closer.lower() if self.chance(0.1) else closer]

    def define_block(self):
        self.feature("define")
        var = "FUZZ_{0}".format(self.count)
        roll = self.rng.random()
        if roll < 0.4:
            addresses = self.addresses()
            return ['Define {0} "{1}"'.format(var, " ".join(addresses))] + self.vhost(addresses=["${" + var + "}"])
        if roll < 0.7:
            name = self.name()
            lines = self.vhost(name="${" + var + "}")
            return ["Define {0} {1}".format(var, name)] + lines
        self.feature("generic_exec_on_read")
        return ["<Directory /srv>", "    Define {0}_SEEN".format(var), "</Directory>",
                "<IfDefine {0}_SEEN>".format(var)] + self.vhost() + ["</IfDefine>"]

    def macro_block(self):
        self.feature("macro")
        self.macro_count += 1
        k = "{0}x{1}".format(self.index, self.macro_count)
        name_param, port_param, alias_param = self.pick([("$name", "$port", "$alias"), ("%name", "%port", "@alias"),
                                                         ("$host", "%p", "@aliases")])
        body = ["<VirtualHost *:{0}>".format(port_param), "    ServerName {0}".format(name_param),
                "    ServerAlias {0}".format(alias_param), "</VirtualHost>"]
        if self.chance(0.3):
            self.feature("define_in_macro")
            body = ["Define root_{0} /srv/{0}".format(name_param)] + body[:3] + [
                "    ServerAlias root.${{root_{0}}}".format(name_param)] + body[3:]
        if self.chance(0.2):
            body = ["# a comment inside the macro"] + body
        lines = ["<Macro Site{0} {1} {2} {3}>".format(k, name_param, port_param, alias_param)] + \
            ["    " + b for b in body] + ["</Macro>"]
        uses = []
        for _i in range(self.rng.randrange(1, 3)):
            name = self.name()
            macro = self.pick(["Site" + k, "site" + k])
            uses.append("Use {0} {1} {2} {3}".format(macro, name, self.pick(PORTS), "alias." + name))
        roll = self.rng.random()
        if roll < 0.15:
            self.feature("macro_nested")
            lines += ["<Macro Pair{0} $n>".format(k), "    Use Site{0} $n 80 a.$n".format(k),
                      "    Use Site{0} tls.$n 443 b.$n".format(k), "</Macro>"]
            uses.append("Use Pair{0} {1}".format(k, self.name()))
        elif roll < 0.2:
            self.feature("macro_error")
            uses.append("Use Site{0} too few".format(k))
        elif roll < 0.24:
            self.feature("macro_error")
            lines += ["<Macro Loop{0}>".format(k), "    Use Loop{0}".format(k), "</Macro>"]
            uses.append("Use Loop{0}".format(k))
        elif roll < 0.28:
            self.feature("undef_macro")
            uses.append("UndefMacro Site{0}".format(k))
        return lines + uses

    def blocks(self, depth, count, last=False):
        out = []
        for i in range(count):
            is_last = last and i == count - 1
            roll = self.rng.random()
            if depth < 2 and roll < 0.3:
                out += self.condition(depth, is_last)
            elif roll < 0.42:
                out += self.define_block()
            elif roll < 0.55 and depth == 0:
                out += self.macro_block()
            else:
                out += self.vhost()
        return out

    def finish(self, lines):
        """Text-level variation: comments and blank lines, continued lines, tabs, CRLF, no final line end."""
        out = []
        for text in lines:
            if self.chance(0.04):
                out.append(self.pick(["", "# a comment", "   # an indented comment"]))
            if " " in text.strip() and self.chance(0.06) and not text.rstrip().endswith("\\"):
                self.feature("continuation")
                cut = self.pick([i for i, c in enumerate(text) if c == " " and text[:i].strip()] or [len(text)])
                out += [text[:cut] + " \\", self.pick(["  ", "\t", ""]) + text[cut + 1:]]
                continue
            out.append(text)
        if self.chance(0.25):
            self.feature("tabs")
            out = [re.sub(r"^(\S+) ", "\\1\t", t.lstrip()) if not t.lstrip().startswith("#") else t for t in out]
        text = "\n".join(out) + ("\n" if not self.chance(0.15) else "")
        if self.chance(0.2):
            self.feature("crlf")
            text = text.replace("\n", "\r\n")
        return text


def generate(seed, index):
    """One variant: {index, files: {relpath: text}, features}; the same seed and index give the same files."""
    rng = random.Random("{0}/{1}".format(seed, index))
    gen = _Gen(rng, index)
    files = {}
    lines = []
    if rng.random() < 0.2:
        gen.feature("include")
        lines.append(gen.pick(["Include inc/*.conf", "IncludeOptional inc/*.conf", "Include inc"]))
        for n in range(rng.randrange(1, 3)):
            files["inc/part{0}.conf".format(n)] = gen.finish(gen.blocks(0, rng.randrange(1, 3), last=True))
    lines += gen.blocks(0, rng.randrange(1, 5), last=True)
    files["site.conf"] = gen.finish(lines)
    return {"index": index, "files": files, "features": sorted(gen.features)}
