"""The Apache configuration reader over tricky snippets written by the tests."""

import os

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
    lines = logical_lines("# comment\nServerName \\\n   www.example.org\n\n  SSLEngine on\n", "f")
    assert lines == [(2, "ServerName www.example.org"), (5, "SSLEngine on")]
    with pytest.raises(StaplingError, match="unterminated quote"):
        split_args('"open', "f:1")


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
    with pytest.raises(StaplingError, match=r"httpd.conf:1: <virtualhost> is never closed"):
        read(tmp_path, {"httpd.conf": "<VirtualHost *:443>\nServerName x\n"})
    with pytest.raises(StaplingError, match="closes a section that is not open"):
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
        "<IfVersion 2.4>\nDefine EQ_PREFIX\n</IfVersion>",
        "<IfFile httpd.conf>\nDefine FILE\n</IfFile>",
        "<IfFile !nope.conf>\nDefine NOFILE\n</IfFile>",
        "<ifmodule SSL_MODULE>\nDefine CASE_MATTERS_FOR_NAMES\n</IFMODULE>",
    ]) + "\n"}, modules=["ssl_module"], version="2.4.71")
    wanted = {"SSL_BY_FILE", "SSL_BY_ID", "NO_MD", "X_SEEN", "NEW", "REGEX", "EQ_PREFIX", "FILE", "NOFILE"}
    assert wanted <= set(reader.defines)
    assert not {"MD", "X_NOT", "OLD", "CASE_MATTERS_FOR_NAMES"} & set(reader.defines)


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


def test_macro_is_reported_not_expanded(tmp_path):
    reader = read(tmp_path, {"httpd.conf": "<Macro VHost $name>\n<VirtualHost *:443>\nServerName $name\n"
                                           "</VirtualHost>\n</Macro>\nUse VHost a\n"})
    assert reader.vhosts == []
    assert [p["code"] for p in reader.problems] == ["macro_not_expanded", "macro_not_expanded"]
