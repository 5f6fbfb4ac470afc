"""The Apache configuration reader over tricky snippets written by the tests."""

import os
import re

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils._apache_config import (
    ConfigReader, logical_lines, module_file_name, split_args, stapling_view,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError


def tree(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


def read(tmp_path, files, main="httpd.conf", **kwargs):
    root = tree(tmp_path, files)
    reader = ConfigReader(root, **kwargs)
    reader.read(os.path.join(root, main))
    return reader


def test_split_and_continuations():
    assert split_args('a "b c" \'d e\' "x\\"y"', "f:1") == ["a", "b c", "d e", 'x"y']
    # The backslash and the line end go, nothing else: the next line's leading spaces stay in the line.
    lines = logical_lines("# comment\nServerName \\\n   www.example.org\n\n  SSLEngine on\n", "f")
    assert lines == [(2, "ServerName    www.example.org"), (5, "SSLEngine on")]
    # ap_getword_conf: an unterminated quote runs to the end of the line (Apache accepts it).
    assert split_args('"open quote  ', "f:1") == ["open quote  "]
    assert split_args('SSLCipherSuite "EECDH+ECDSA+AESGCM EECDH+aRSA+AES') == [
        "SSLCipherSuite", "EECDH+ECDSA+AESGCM EECDH+aRSA+AES"]


def test_module_names():
    assert module_file_name("ssl_module") == "mod_ssl.c"
    assert module_file_name("mpm_event_module") == "event.c"


def test_includes_in_apache_order_with_globs_dirs_and_optional(tmp_path):
    reader = read(tmp_path, {
        "httpd.conf": "Include conf.d/*.conf\nIncludeOptional missing/*.conf\nIncludeOptional nothere.conf\n"
                      "Include sites\n",
        "conf.d/b.conf": "Define B 1\n",
        "conf.d/a.conf": "Define A 1\n",
        "conf.d/ignored.txt": "Define TXT 1\n",
        "sites/z.conf": "<VirtualHost *:443>\nServerName z\n</VirtualHost>\n",
        "sites/m.conf": "<VirtualHost *:443>\nServerName m\n</VirtualHost>\n",
    })
    names = [os.path.basename(f) for f in reader.files]
    assert names == ["httpd.conf", "a.conf", "b.conf", "m.conf", "z.conf"]
    assert "A" in reader.defines and "TXT" not in reader.defines
    assert [v["server_name"] for v in reader.vhosts] == ["m", "z"]


def test_missing_include_is_fatal_with_file_and_line(tmp_path):
    with pytest.raises(StaplingError) as err:
        read(tmp_path, {"httpd.conf": "ServerName x\nInclude conf/absent.conf\n"})
    assert "httpd.conf:2: Include conf/absent.conf does not exist" in err.value.msg
    assert "IncludeOptional" in err.value.msg
    with pytest.raises(StaplingError, match="matches no file"):
        read(tmp_path, {"httpd.conf": "Include nowhere/*.conf\n"})


def test_include_loop(tmp_path):
    with pytest.raises(StaplingError, match="include loop"):
        read(tmp_path, {"httpd.conf": "Include a.conf\n", "a.conf": "Include b.conf\n", "b.conf": "Include a.conf\n"})


def test_unclosed_and_stray_sections(tmp_path):
    with pytest.raises(StaplingError, match=r"httpd.conf:1: <VirtualHost> was not closed"):
        read(tmp_path, {"httpd.conf": "<VirtualHost *:443>\nServerName x\n"})
    with pytest.raises(StaplingError, match="</VirtualHost> without matching <VirtualHost> section"):
        read(tmp_path, {"httpd.conf": "</VirtualHost>\n"})


def test_conditions(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "\n".join([
        "Define HAVE_X",
        "<IfModule mod_ssl.c>\nDefine SSL_BY_FILE\n</IfModule>",
        "<IfModule ssl_module>\nDefine SSL_BY_ID\n</IfModule>",
        "<IfModule !md_module>\nDefine NO_MD\n</IfModule>",
        "<IfModule md_module>\nDefine MD\n</IfModule>",
        "<IfDefine HAVE_X>\nDefine X_SEEN\n</IfDefine>",
        "<IfDefine !HAVE_X>\nDefine X_NOT\n</IfDefine>",
        "<IfVersion >= 2.4.42>\nDefine NEW\n</IfVersion>",
        "<IfVersion < 2.4>\nDefine OLD\n</IfVersion>",
        "<IfVersion ~ ^2\\.4>\nDefine REGEX\n</IfVersion>",
        "<IfVersion 2.4>\nDefine EQ_24_MEANS_2_4_0\n</IfVersion>",
        "<IfVersion = /^2\\.4\\./>\nDefine EQ_REGEX\n</IfVersion>",
        "<IfVersion <= 2.4>\nDefine LE_24\n</IfVersion>",
        "<IfVersion !~ ^3>\nDefine NOT_3\n</IfVersion>",
        "<IfFile httpd.conf>\nDefine FILE\n</IfFile>",
        "<IfFile !nope.conf>\nDefine NOFILE\n</IfFile>",
        "<ifmodule SSL_MODULE>\nDefine CASE_MATTERS_FOR_NAMES\n</IFMODULE>",
    ]) + "\n"}, modules=["ssl_module", "version_module"], version="2.4.71")
    wanted = {"SSL_BY_FILE", "SSL_BY_ID", "NO_MD", "X_SEEN", "NEW", "REGEX", "EQ_REGEX", "NOT_3", "FILE", "NOFILE"}
    assert wanted <= set(reader.defines)
    # mod_version's compare_version(): a missing minor or patch is 0, so "2.4" is 2.4.0 (checked on apache2 2.4.71).
    assert not {"MD", "X_NOT", "OLD", "CASE_MATTERS_FOR_NAMES", "EQ_24_MEANS_2_4_0", "LE_24"} & set(reader.defines)


def test_define_and_env_variables(tmp_path):
    reader = read(tmp_path, {"httpd.conf": 'Define CERTS /srv/certs\n<VirtualHost *:443>\nSSLEngine on\n'
                                           'SSLCertificateFile ${CERTS}/a.pem\nSSLCertificateKeyFile "${KEYS}/a.key"\n'
                                           'ErrorLog ${UNDEFINED}/x\n</VirtualHost>\n'},
                  env={"KEYS": "/srv/keys"})
    vh = reader.vhosts[0]
    assert vh["certificate_file"] == "/srv/certs/a.pem" and vh["key_file"] == "/srv/keys/a.key"
    assert [p["code"] for p in reader.problems] == ["undefined_variable"]


def test_vhost_fields_and_stapling_view(tmp_path):
    reader = read(tmp_path, {
        "httpd.conf": "LoadModule socache_shmcb_module modules/mod_socache_shmcb.so\n"
                      "SSLStaplingCache shmcb:/run/x(32768)\nSSLStaplingResponderTimeout 5\n"
                      "<VirtualHost 192.0.2.1:443 [2001:db8::1]:443>\n  servername www.example.org\n"
                      "  ServerAlias a.example.org b.example.org\n  SSLEngine On\n  SSLCertificateFile certs/www.pem\n"
                      "  SSLCertificateChainFile certs/chain.pem\n  SSLUseStapling on\n"
                      "  Include vhost-extra.conf\n</VirtualHost>\n"
                      "<VirtualHost *:80>\nServerName plain\n</VirtualHost>\n",
        "vhost-extra.conf": "SSLStaplingResponderTimeout 2\n",
        "certs/www.pem": "x",
    })
    global_stapling, vhosts = stapling_view(reader)
    assert set(global_stapling) == {"SSLStaplingCache", "SSLStaplingResponderTimeout"}
    www, plain = vhosts
    assert www["addresses"] == ["192.0.2.1:443", "[2001:db8::1]:443"]
    assert www["server_aliases"] == ["a.example.org", "b.example.org"]
    assert www["tls"] and www["certificate_file"] == os.path.join(str(tmp_path), "certs/www.pem")
    assert www["stapling"]["enabled"] is True
    assert www["stapling"]["directives"]["SSLStaplingResponderTimeout"] == "2"
    assert www["stapling"]["inherited"] == ["SSLStaplingCache"]
    assert not plain["tls"] and plain["stapling"]["enabled"] is False
    # The chain file does not exist: reported; the certificate does.
    assert [(p["code"], "chain" in p["msg"]) for p in reader.problems] == [("missing_file", True)]


def test_problems_cache_in_vhost_no_cache_no_module(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "<VirtualHost *:443>\nSSLEngine on\nSSLUseStapling on\n"
                                           "SSLStaplingCache shmcb:/x(1)\n</VirtualHost>\n"})
    stapling_view(reader)
    assert sorted(p["code"] for p in reader.problems) == ["cache_in_vhost", "stapling_without_cache"]
    reader = read(tmp_path, {"httpd.conf": "SSLStaplingCache shmcb:/x(1)\n"})
    stapling_view(reader)
    assert [p["code"] for p in reader.problems] == ["cache_module_missing"]
    assert "a2enmod socache_shmcb" in reader.problems[0]["msg"]


# --- Apache 2.4's own rules, each checked against apache2 -t -D DUMP_VHOSTS (the integration tests judge them
# --- against the binary on the lab's Apache; these pin the reader's side).

MACRO = ["macro_module"]


def vhosts(reader):
    return [(v["server_name"], v["addresses"], os.path.basename(v["file"]), v["line"]) for v in reader.vhosts]


def test_unterminated_quote_runs_to_the_end_of_the_line(tmp_path):
    reader = read(tmp_path, {"httpd.conf": '<VirtualHost *:443>\nServerName a\nSSLStaplingForceURL "http://x/ y\n'
                                           "</VirtualHost>\n"})
    assert vhosts(reader) == [("a", ["*:443"], "httpd.conf", 1)]
    assert reader.vhosts[0]["own_stapling"]["SSLStaplingForceURL"].args == ["http://x/ y"]


@pytest.mark.parametrize("tail, ok", [
    ("</VirtualHost> </IfModule>\n", True),     # ignored after </VirtualHost>; the end of the file closes <IfModule>
    ("</VirtualHost> # a comment\n</IfModule>\n", True),
    ("</VirtualHost>\n</IfModule> junk\n", False),  # not the exact end line: read as a stray </IfModule>
    ("</VirtualHost>junk\n</IfModule>\n", False),   # "</VirtualHost>junk> directive missing closing '>'"
    ("</VirtualHost >\n</IfModule>\n", False),
])
def test_close_tags_and_what_follows_them(tmp_path, tail, ok):
    files = {"httpd.conf": "<IfModule ssl_module>\n<VirtualHost *:443>\nServerName a\n" + tail}
    if ok:
        assert vhosts(read(tmp_path, files, modules=["ssl_module"])) == [("a", ["*:443"], "httpd.conf", 2)]
    else:
        with pytest.raises(StaplingError, match="without matching|missing closing"):
            read(tmp_path, files, modules=["ssl_module"])


@pytest.mark.parametrize("opener, in_force", [
    ("<IfModule ssl_module>", True), ("<IfModule !md_module>", True), ("<IfDefine !UNDEFINED>", True),
    ("<IfVersion >= 2.4>", True), ("<IfFile httpd.conf>", True),
    ("<IfModule md_module>", False), ("<IfDefine UNDEFINED>", False), ("<IfVersion < 2.4>", False),
    ("<IfFile nothere.conf>", False),
])
def test_a_condition_left_open_at_the_end_of_a_file(tmp_path, opener, in_force):
    files = {"httpd.conf": "Include site.conf\n<VirtualHost *:80>\nServerName after\n</VirtualHost>\n",
             "site.conf": "{0}\n<VirtualHost *:443>\nServerName a\n</VirtualHost>\n".format(opener)}
    kwargs = {"modules": ["ssl_module", "version_module"], "version": "2.4.71"}
    if in_force:
        # closed silently by the end of its own file: the next file is read as if nothing were open
        assert [v[0] for v in vhosts(read(tmp_path, files, **kwargs))] == ["a", "after"]
    else:
        with pytest.raises(StaplingError, match=r"site.conf:1: .* is not in force and never closed"):
            read(tmp_path, files, **kwargs)


@pytest.mark.parametrize("opener", ["<VirtualHost *:443>", "<Directory /srv>", "<Location />", "<Files x>"])
def test_a_generic_container_left_open_is_refused(tmp_path, opener):
    with pytest.raises(StaplingError, match=r"site.conf:1: <\w+> was not closed"):
        read(tmp_path, {"httpd.conf": "Include site.conf\n", "site.conf": opener + "\nServerAlias x\n"})


def test_a_vhost_left_open_inside_a_condition_in_force_is_accepted(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "<IfModule ssl_module>\n<VirtualHost *:443>\nServerName a\n"},
                  modules=["ssl_module"])
    assert vhosts(reader) == [("a", ["*:443"], "httpd.conf", 2)]


def test_multi_line_header_keeps_its_first_line_and_knows_the_last(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "# panel\n<VirtualHost \\\n  192.0.2.1:443 \\\n  192.0.2.2:443 \\\n>\n"
                                           "  ServerName a\n</VirtualHost>\n"})
    assert vhosts(reader) == [("a", ["192.0.2.1:443", "192.0.2.2:443"], "httpd.conf", 2)]
    assert reader.vhosts[0]["_dump"][1] == (2, 5)  # Apache's DUMP_VHOSTS says line 5


def test_line_ends_and_odd_bytes(tmp_path):
    # CRLF, tabs, a CR inside a line (a space to Apache), a NUL (the line ends there), a final line without LF
    reader = read(tmp_path, {"httpd.conf": "<VirtualHost\t*:443>\r\n\tServerName\ta\r\n</VirtualHost>\r\n"
                                           "<VirtualHost *:80>\rServerName ignored\n</VirtualHost>\n"
                                           "<VirtualHost *:81>\nServerName b\0 junk\n</VirtualHost>"})
    assert vhosts(reader) == [("a", ["*:443"], "httpd.conf", 1), (None, ["*:80"], "httpd.conf", 4),
                              ("b", ["*:81"], "httpd.conf", 6)]


def test_continuation_rules(tmp_path):
    # a comment continues too; "\\" before the LF is a continuation as well (2.4 has no escape for it)
    reader = read(tmp_path, {"httpd.conf": "# a comment \\\nDefine SWALLOWED\n<VirtualHost *:80>\nServer\\\nName a\\\\\n"
                                           "b\n</VirtualHost>\n"})
    assert "SWALLOWED" not in reader.defines
    assert reader.vhosts[0]["server_name"] == "a\\b"


def test_server_name_as_apache_takes_it(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "<VirtualHost *:443>\nServerName https://www.example.org:8443\n"
                                           "ServerName 'last.example.org'\n</VirtualHost>\n"
                                           "<VirtualHost *:443>\nServerName www.example.org:443\n</VirtualHost>\n"})
    assert [v["server_name"] for v in reader.vhosts] == ["last.example.org", "www.example.org"]


def test_defines_and_variables(tmp_path):
    reader = read(tmp_path, {"httpd.conf": 'Define ADDR "*:443 *:8443"\nDefine BARE\nDefine ${HOSTVAR}X 1\n'
                                           "<VirtualHost ${ADDR}>\nServerName a${BARE}${CMD}\n"
                                           "RewriteRule ^ ${map:key}\n</VirtualHost>\n"},
                  defines=["CMD"], env={"HOSTVAR": "H"})
    # ${VAR} is resolved on the whole line before it is split; Define without a value and -D define no ${VAR}
    assert vhosts(reader) == [("a${BARE}${CMD}", ["*:443", "*:8443"], "httpd.conf", 4)]
    assert reader.variables["HX"] == "1" and {"BARE", "CMD", "HX"} <= set(reader.defines)
    assert sorted(p["msg"].split()[0] for p in reader.problems) == ["${BARE}", "${CMD}"]  # not ${map:key}


def test_if_module_follows_load_module_order(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "<IfModule headers_module>\nDefine EARLY\n</IfModule>\n"
                                           "LoadModule headers_module modules/mod_headers.so\n"
                                           "<IfModule mod_headers.c>\nDefine LATE\n</IfModule>\n"
                                           '<IfModule "headers_module" ignored words>\nDefine QUOTED\n</IfModule>\n'})
    assert "EARLY" not in reader.defines and {"LATE", "QUOTED"} <= set(reader.defines)


def test_exec_on_read_directives_run_inside_any_container(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "<Directory /srv>\nDefine IN_DIR v\nInclude inc.conf\n</Directory>\n"
                                           "<VirtualHost *:80>\nServerName ${IN_DIR}.${INC}\n</VirtualHost>\n",
                             "inc.conf": "Define INC w\n"})
    assert reader.vhosts[0]["server_name"] == "v.w"


def test_macros_expand_as_mod_macro_does(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "\n".join([
        "<Macro VHost $host %port @docroot>",
        "  # a comment: mod_macro drops it, the lines below are numbered without it",
        "  Define root_$host @docroot",
        "  <VirtualHost *:%port>",
        "    ServerName $host",
        "    ServerAlias www.$host alias.${root_$host}",
        "  </VirtualHost>",
        "</Macro>",
        "<Macro Pair $name>",
        "  Use VHost $name 80 /srv/$name",
        "  Use VHost tls.$name 443 /srv/$name",
        "</Macro>",
        "Use VHost example.org 80 /var/www/example",
        "Use Pair example.net",
        "UndefMacro Pair",
    ]) + "\n"}, modules=MACRO)
    assert vhosts(reader) == [("example.org", ["*:80"], "httpd.conf", 13), ("example.net", ["*:80"], "httpd.conf", 14),
                              ("tls.example.net", ["*:443"], "httpd.conf", 14)]
    assert [v["macro"] for v in reader.vhosts] == [{"name": "vhost", "file": reader.files[0], "line": 1}] * 3
    # '@' values are substituted in double quotes, then read as one quoted word
    assert reader.vhosts[0]["server_aliases"] == ["www.example.org", "alias./var/www/example"]
    assert reader.variables["root_example.net"] == "/srv/example.net"
    assert "pair" not in reader.macros
    # named as mod_macro names its text, numbered within it: what DUMP_VHOSTS prints
    name, lines = reader.vhosts[0]["_dump"]
    assert name == 'macro \'vhost\' (defined on line 1 of "{0}") used on line 13 of "{0}"'.format(reader.files[0])
    assert lines == (2, 2)


def test_a_macro_may_open_what_the_file_closes(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "<Macro Open $n>\n<VirtualHost *:80>\nServerName $n\n</Macro>\n"
                                           "Use Open a\nServerAlias b\n</VirtualHost>\n"}, modules=MACRO)
    assert vhosts(reader) == [("a", ["*:80"], "httpd.conf", 5)] and reader.vhosts[0]["server_aliases"] == ["b"]


@pytest.mark.parametrize("text, message", [
    ("<Macro M $a>\nDefine X $a\n</Macro>\nUse M\n", "used with 0 arguments instead of 1"),
    ("<Macro M $a>\nDefine X $a\n</Macro>\nUse M 1 2\n", "used with 2 arguments instead of 1"),
    ("<Macro Self>\nUse Self\n</Macro>\nUse Self\n", "recursive use of macro 'self' is invalid"),
    ("<Macro A>\nUse B\n</Macro>\n<Macro B>\nUse A\n</Macro>\nUse A\n", "recursive use of macro 'a' is invalid"),
    ("Use M\n", "no macro defined before Use"),
    ("<Macro M>\nDefine X\n</Macro>\nUse N\n", "macro 'n' undefined"),
    ("<Macro M>\nDefine X\n</Macro>\nUndefMacro N\n", "cannot remove undefined macro 'n'"),
    ("<Macro M $a $a>\nDefine X\n</Macro>\n", "argument name conflict"),
    ("<Macro M>\nDefine X\n", "expected token not found: </Macro>"),
])
def test_mod_macro_errors(tmp_path, text, message):
    with pytest.raises(StaplingError, match=re.escape(message)):
        read(tmp_path, {"httpd.conf": text}, modules=MACRO)


def test_macro_without_mod_macro_is_no_macro(tmp_path):
    # Without mod_macro, <Macro is an unknown section (Apache refuses it at its walk); Use is a plain directive.
    reader = read(tmp_path, {"httpd.conf": "<Macro M>\nDefine INSIDE\n</Macro>\nUse M\n"})
    assert "INSIDE" in reader.defines and reader.macros is None


def test_bad_input_is_an_error_or_a_reading_never_a_traceback(tmp_path):
    garbage = bytes(bytearray((i * 7919 + 13) % 256 for i in range(20000)))
    (tmp_path / "garbage.conf").write_bytes(garbage)
    root = tree(tmp_path, {"httpd.conf": "Include garbage.conf\n"})
    reader = ConfigReader(root)
    try:
        reader.read(os.path.join(root, "httpd.conf"))
    except StaplingError as exc:
        assert "garbage.conf" in exc.msg
    # a 10 MB line is read (Apache's limit is 16 MiB); a longer one is refused as Apache refuses it
    big = "ServerAlias " + "a" * (10 * 1024 * 1024)
    reader = read(tmp_path, {"httpd.conf": "<VirtualHost *:80>\nServerName a\n" + big + "\n</VirtualHost>\n"})
    assert len(reader.vhosts[0]["server_aliases"][0]) == 10 * 1024 * 1024
    with pytest.raises(StaplingError, match="httpd.conf:2: a line of 16777216 bytes or more"):
        read(tmp_path, {"httpd.conf": "Define X 1\nDefine Y " + "b" * (16 * 1024 * 1024) + "\n"})
    with pytest.raises(StaplingError, match="include loop"):
        read(tmp_path, {"httpd.conf": "Include a.conf\n", "a.conf": "Include httpd.conf\n"})
    (tmp_path / "dir").mkdir(exist_ok=True)
    with pytest.raises(StaplingError, match="not a regular file"):
        read(tmp_path, {"httpd.conf": "Include /dev/zero\n"})


def test_after_a_macro_a_last_line_without_line_end_is_lost(tmp_path):
    # mod_macro's array_getch() reads the using file's next line through the macro's stream, character by
    # character; at EOF without a line end array_getstr() drops it (apache2 2.4.71 lists only "a" here).
    macro = "<Macro M $n>\n<VirtualHost *:80>\nServerName $n\n</VirtualHost>\n</Macro>\n"
    assert [v["server_name"] for v in read(tmp_path, {"httpd.conf": macro + "Use M a\nUse M b"},
                                           modules=MACRO).vhosts] == ["a"]
    assert [v["server_name"] for v in read(tmp_path, {"httpd.conf": macro + "Use M a\nUse M b\n"},
                                           modules=MACRO).vhosts] == ["a", "b"]
    assert [v["server_name"] for v in read(tmp_path, {"httpd.conf": macro + "Use M b"},
                                           modules=MACRO).vhosts] == ["b"]


def nested(levels):
    return "<IfModule ssl_module>\n" * levels + "Define X\n" + "</IfModule>\n" * levels


def test_nesting_deeper_than_the_reader_follows_is_a_clear_error(tmp_path):
    assert "X" in read(tmp_path, {"httpd.conf": nested(100)}, modules=["ssl_module"]).defines
    with pytest.raises(StaplingError, match="nested deeper than this reader follows"):
        read(tmp_path, {"httpd.conf": nested(2000)}, modules=["ssl_module"])


def _reference_lines(text):
    """ap_varbuf_cfg_getline as the reader did it before issue 24 (quadratic: the buffer re-built per physical line),
    kept here as the reference for the linear reader: (first physical line, last physical line, text) per line."""
    lines = text.split("\n")
    out, i, n, number = [], 0, len(lines), 0
    while True:
        acc, first = None, None
        while True:
            number += 1  # counted before each read, as the reader counts (a read at the end counts too)
            if i >= n or (i == n - 1 and not lines[i]):
                break
            piece, lf = lines[i], i < n - 1
            i += 1
            first = number if first is None else first
            if "\0" in piece:
                piece, lf = piece[:piece.index("\0")], False
            buf = piece if acc is None else acc + piece
            if lf:
                k = len(buf)
                if k and buf[k - 1] == "\r":
                    k -= 1
                if k and buf[k - 1] == "\\":
                    acc = buf[:k - 1]
                    continue
            acc = buf
            break
        if acc is None:
            return out
        out.append((first, number, acc.strip(" \t\n\v\f\r")))


def test_continuations_read_as_the_reference_does():
    import random
    from ansible_collections.ocsp.stapling.plugins.module_utils._apache_config import _Cursor, _File
    rng = random.Random(24)
    alphabet = ["a", "b", " ", "\\", "\\", "\\", "\r", "\n", "\n", "\0"]
    for _case in range(3000):
        text = "".join(rng.choice(alphabet) for _i in range(rng.randint(0, 24)))
        cursor, got = _Cursor(_File("f", text)), []
        while True:
            line = cursor.getline()
            if line is None:
                break
            got.append((line.first, line.last, line.text))
        assert got == _reference_lines(text), repr(text)


def test_a_line_continued_over_two_million_physical_lines_reads_in_linear_time():
    """Issue 24 #6: 2,000,000 continued physical lines (6 MB) took 283 s (Apache: 0.085 s, Syntax OK); the reader
    re-built the whole line for every physical line."""
    from lab.guard import bounded
    text = "ServerName a\\\n" + "b\\\n" * 2000000 + "c\n"
    with bounded(60, "a line of 2,000,000 continued physical lines"):
        lines = logical_lines(text, "f")
    assert len(lines) == 1 and lines[0][0] == 1 and lines[0][1] == "ServerName a" + "b" * 2000000 + "c"


def test_a_line_over_apaches_limit_is_refused_as_apache_refuses_it(tmp_path):
    from ansible_collections.ocsp.stapling.plugins.module_utils._apache_config import MAX_LINE
    from lab.guard import bounded
    text = "ServerName a\\\n" + ("b" * 65535 + "\\\n") * (MAX_LINE // 65535 + 1) + "c\n"
    with bounded(60, "a line over 16 MiB"):
        with pytest.raises(StaplingError, match="Line too long"):
            read(tmp_path, {"httpd.conf": text})


def test_variable_expansion_is_bounded(tmp_path):
    """Issue 24 #6: 22 doubling Defines built a 128 MiB string in 15 s. Apache has no limit of its own here
    (ap_resolve_env allocates what the expansion needs); the reader refuses a line that expands past 16 MiB, the
    limit Apache puts on a line it reads, naming the line."""
    from lab.guard import bounded
    text = "Define A 0123456789abcdef0123456789abcdef\n" + "Define A ${A}${A}\n" * 22 + "ServerName ${A}\n"
    with bounded(60, "22 doubling Defines"):
        with pytest.raises(StaplingError, match=r"httpd.conf:20: .*\$\{VAR\}.* 16 MiB"):
            read(tmp_path, {"httpd.conf": text})


def test_variable_expansion_has_a_budget_for_the_whole_configuration(tmp_path):
    """Each line under the limit, but a thousand copies of an 8 MiB value: refused once the expansions of the whole
    configuration pass 64 MiB, before they fill the host's memory."""
    from lab.guard import bounded
    text = ("Define A 0123456789abcdef0123456789abcdef\n" + "Define A ${A}${A}\n" * 18 +
            "".join("Define B{0} ${{A}}\n".format(i) for i in range(1000)))
    with bounded(60, "a thousand 8 MiB Defines"):
        with pytest.raises(StaplingError, match=r"httpd.conf:\d+: .*64 MiB"):
            read(tmp_path, {"httpd.conf": text})
