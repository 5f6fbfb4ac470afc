"""apache_info's detection over recorded layouts that cannot run here (RHEL 9, SLES 15),
and the parsers over recorded command output."""

import os
import shutil

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils import _apache

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fixtures", "apache")


def install(layout, tmp_path, dirname="root"):
    """Copy a recorded tree to tmp_path with @ROOT@ replaced; return (root, recorded run)."""
    root = str(tmp_path / dirname)
    shutil.copytree(os.path.join(FIXTURES, layout, "tree"), root)
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("@ROOT@", root))
    outputs = {}
    for name in os.listdir(os.path.join(FIXTURES, layout, "commands")):
        with open(os.path.join(FIXTURES, layout, "commands", name)) as f:
            outputs[name[:-4]] = f.read().replace("@ROOT@", root)
    calls = []

    def run(argv, env):
        calls.append(argv)
        if argv[0].endswith("openssl"):
            return 0, outputs["openssl"], ""
        if argv[-1] == "-V":
            return 0, outputs["V"], ""
        if argv[-3:] == ["DUMP_MODULES", "-D", "DUMP_VHOSTS"]:
            return 0, outputs["DUMP_VHOSTS"] + outputs["DUMP_MODULES"], ""
        raise AssertionError("unexpected command {0}".format(argv))
    run.calls = calls
    return root, run


def test_rhel9(tmp_path):
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    assert facts["apache"]["version"] == "2.4.57" and facts["apache"]["mpm"] == "event"
    assert facts["apache"]["version_raw"] == "Apache/2.4.57 (Red Hat Enterprise Linux)"
    assert facts["apache"]["compile_settings"]["SERVER_CONFIG_FILE"] == "conf/httpd.conf"
    assert facts["layout"]["family"] == "redhat" and facts["layout"]["run_dir"] == "/run/httpd"
    assert facts["layout"]["config_file"] == os.path.join(root, "conf/httpd.conf")
    assert facts["openssl"]["cli_version"] == "3.0.7"
    assert facts["capabilities"]["mod_ssl_stapling"]["ok"] is True
    assert facts["capabilities"]["mod_md_stapling"]["ok"] is False
    names = [(v["server_name"], v["addresses"], v["stapling"]["enabled"]) for v in facts["vhosts"]]
    assert names == [(None, ["_default_:443"], False), ("www.example.org", ["*:443"], True)]
    www = facts["vhosts"][1]
    assert www["certificate_chain_file"] == "/etc/pki/tls/certs/www.example.org.chain.pem"
    codes = sorted(p["code"] for p in facts["problems"])
    # Stapling on with no SSLStaplingCache anywhere: the AH01958 trap; certificate files are not on this machine.
    assert "stapling_without_cache" in codes and "missing_file" in codes
    assert "vhost_not_read" not in codes and "vhost_not_in_dump" not in codes
    assert ["/usr/sbin/httpd", "-d", root, "-f", os.path.join(root, "conf/httpd.conf"), "-t", "-D", "DUMP_MODULES",
            "-D", "DUMP_VHOSTS"] in run.calls
    assert facts["cross_check"] == {"ran": True, "apache_vhosts": 2, "disagreements": 0}


def test_suse_needs_its_server_flags(tmp_path):
    root, run = install("suse15", tmp_path, "apache2")
    without = _apache.gather(run, "/usr/sbin/httpd", server_root=root, config_file="httpd.conf")
    assert without["vhosts"] == []
    # Apache (run by the service with -D SSL) has a vhost this reading did not see: the cross-check says so.
    assert [p["code"] for p in without["problems"]] == ["vhost_not_read"]
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, config_file="httpd.conf", defines=["SSL"])
    assert facts["apache"]["version"] == "2.4.51" and facts["apache"]["mpm"] == "prefork"
    assert facts["layout"]["family"] == "suse" and facts["layout"]["run_dir"] == "/var/lib/apache2"
    assert [v["server_name"] for v in facts["vhosts"]] == ["shop.example.com"]
    assert "SSLStaplingCache" in facts["global_stapling"]
    assert facts["vhosts"][0]["stapling"]["enabled"] is True
    assert [p["code"] for p in facts["problems"] if p["code"].startswith("vhost")] == []
    assert ["-D", "SSL"] == [c for c in run.calls if "DUMP_VHOSTS" in c][-1][5:7]


@pytest.mark.parametrize("version, modules, openssl, ssl_ok, md_ok, fragment", [
    ("2.2.34", {"ssl_module"}, "1.0.2", False, False, "older than 2.3.3"),
    ("2.4.10", {"ssl_module"}, "1.0.1t", True, False, None),
    ("2.4.71", set(), "3.0.19", False, False, "a2enmod ssl"),
    ("2.4.71", {"ssl_module"}, "0.9.8g", False, False, "older than 0.9.8h"),
    ("2.4.71", {"ssl_module", "md_module"}, "3.0.19", True, True, None),
    ("2.4.41", {"ssl_module", "md_module"}, "1.1.1f", True, False, None),
])
def test_capabilities(version, modules, openssl, ssl_ok, md_ok, fragment):
    caps = _apache.capabilities(version, modules, openssl)
    assert caps["mod_ssl_stapling"]["ok"] is ssl_ok and caps["mod_md_stapling"]["ok"] is md_ok
    if fragment:
        assert fragment in caps["mod_ssl_stapling"]["reason"]
    if version == "2.4.10":
        assert "2.4.13" in caps["mod_ssl_stapling"]["warning"]


def test_version_errors_are_clear():
    with pytest.raises(Exception, match="cannot read the Apache version"):
        _apache.parse_version("bash: httpd: command not found")


def test_a_refused_configuration_still_yields_the_version(tmp_path):
    """-V prints before Apache reads the configuration: rc 1 with the settings is a refusal for the configtest
    to report, not a reason to lose every fact; rc 1 without them is a failure naming the command."""
    root, recorded = install("rhel9", tmp_path)

    def run(argv, env):
        if argv[-1] == "-V":
            return 1, recorded(argv, env)[1] + "httpd: Syntax error on line 3 of x.conf\n", ""
        if "-t" in argv:
            return 1, "", "AH00526: Syntax error on line 3 of x.conf"
        return recorded(argv, env)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root)
    assert facts["apache"]["version"] == "2.4.57"
    assert [p for p in facts["problems"] if p["code"] == "configtest_failed"][0]["msg"].endswith("line 3 of x.conf")

    def broken(argv, env):
        return 1, "", "httpd: cannot load module"
    with pytest.raises(Exception, match=r"/usr/sbin/httpd -d .* -V failed \(rc=1\): httpd: cannot load module"):
        _apache.gather(broken, "/usr/sbin/httpd", server_root=root)
