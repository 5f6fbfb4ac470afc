"""apache_stapling_config's writer on layouts that cannot run here (RHEL 9, SLES 15: recorded trees and command
output), and its byte-level edits and reload rule on their own. Debian's layout is tested for real on the lab's
Apache (tests/integration/test_apache_stapling_config.py)."""

import os

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils import _apache, _stapling_config as sc
from ansible_collections.ocsp.stapling.plugins.module_utils._apache_instance import ApacheInstance
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

from test__apache import install

PARAMS = {"engine": "mod_ssl", "state": "present", "vhosts": [], "cache_size": None, "responder_timeout": 2,
          "return_responder_errors": False, "fake_try_later": False, "standard_cache_timeout": 3600,
          "error_cache_timeout": 600, "proxy_url": None, "md_store_dir": None, "take_over": False,
          "fix_misplaced_cache": False, "journal_dir": "/nonexistent/journal", "keep_journals": 10}


def params(**kw):
    return dict(PARAMS, **kw)


def plan_for(facts, name, stapling="on"):
    v = [x for x in facts["vhosts"] if x["server_name"] == name][0]
    return {"file": v["file"], "line": v["line"], "server_name": name, "stapling": stapling, "force_url": None}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_rhel9_snippet_in_conf_d_and_the_operators_own_line_taken_over(tmp_path):
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    www = plan_for(facts, "www.example.org")
    # The fixture's vhost has the operator's own SSLUseStapling: refused unless take_over.
    refused = sc.plan_changes(params(vhosts=[www]), facts)
    assert refused["vhosts"][0]["action"] == "refused" and "take_over" in refused["vhosts"][0]["reason"]
    assert [p["code"] for p in refused["problems"]] == ["own_stapling_line"]
    plan = sc.plan_changes(params(vhosts=[www], take_over=True), facts)
    snippet = os.path.join(root, "conf.d", "ocsp-stapling.conf")
    assert sorted(plan["changes"]) == sorted([snippet, www["file"]])  # socache_shmcb is loaded: no module file
    text = plan["changes"][snippet][1].decode()
    # RHEL's run dir, not the ServerRoot's: the cache lives where httpd keeps its runtime files.
    assert 'SSLStaplingCache "shmcb:/run/httpd/ocsp_stapling_cache(131072)"' in text
    assert text.startswith("# Managed by ocsp.stapling") and "SSLStaplingFakeTryLater off" in text
    vhost = plan["changes"][www["file"]][1]
    assert vhost.count(b"SSLUseStapling") == 1 and b"    SSLUseStapling on\n    # END ocsp.stapling\n</VirtualHost>" \
        in vhost
    assert plan["cache_before"] is None and sc.reload_needed(plan["changes"], None, plan["cache_after"]) == "graceful"


def test_rhel9_without_socache_gets_a_loadmodule_file(tmp_path):
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    facts["apache"]["socache_shmcb_module"] = False
    plan = sc.plan_changes(params(), facts)
    load = os.path.join(root, "conf.modules.d", "00-ocsp-stapling-socache.conf")
    assert plan["changes"][load][0] == "file"
    assert b"LoadModule socache_shmcb_module " in plan["changes"][load][1]
    snippet = plan["changes"][os.path.join(root, "conf.d", "ocsp-stapling.conf")][1].decode()
    # Recorded in the snippet so that state=absent removes only what we enabled.
    assert sc.ENABLED_TAG + load in snippet
    assert sc.enabled_by_us(snippet) == [load]


def test_suse_keeps_the_operators_global_cache_and_refuses_to_guess_a_module(tmp_path):
    root, run = install("suse15", tmp_path, "apache2")
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, config_file="httpd.conf", defines=["SSL"])
    shop = plan_for(facts, "shop.example.com")
    plan = sc.plan_changes(params(vhosts=[shop], take_over=True), facts)
    snippet = os.path.join(root, "conf.d", "ocsp-stapling.conf")
    text = plan["changes"][snippet][1].decode()
    # ssl-global.conf has the operator's own SSLStaplingCache: reported, not written twice.
    assert "SSLStaplingCache" not in text and "SSLStaplingResponderTimeout 2" in text
    foreign = [p for p in plan["problems"] if p["code"] == "foreign_global_directive"]
    assert [p["file"] for p in foreign] == [os.path.join(root, "ssl-global.conf")]
    assert plan["cache_after"] == plan["cache_before"]  # the cache stays where it is: a graceful is enough
    facts["apache"]["socache_shmcb_module"] = False
    del facts["global_stapling"]["SSLStaplingCache"]
    with pytest.raises(StaplingError, match="a2enmod socache_shmcb"):
        sc.plan_changes(params(vhosts=[shop], take_over=True), facts)


def test_custom_root_gets_an_include_block_and_absent_takes_it_out(tmp_path):
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    facts["layout"]["family"] = "custom"
    main = facts["layout"]["config_file"]
    original = read(main)
    plan = sc.plan_changes(params(), facts)
    snippet = os.path.join(os.path.dirname(main), "ocsp-stapling.conf")
    new_main = plan["changes"][main][1]
    assert new_main.startswith(original) and b'Include "' + snippet.encode() + b'"' in new_main
    assert sc._without_include(new_main) == original


def test_apply_then_restore_is_byte_for_byte_on_rhel(tmp_path):
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    www = plan_for(facts, "www.example.org")
    before = read(www["file"])
    instance = ApacheInstance("/usr/sbin/httpd", server_root=root, config_file=facts["layout"]["config_file"],
                              run=run)

    def recorded(argv, env):
        if argv[-1] == "-t":
            return 0, "", "Syntax OK\n"
        return run(argv, env)
    instance.run = recorded
    journal = str(tmp_path / "journal")
    p = params(vhosts=[www], take_over=True, journal_dir=journal)
    checked = sc.apply_change(p, facts, instance, recorded, check_mode=True, diff=True)
    assert checked["changed"] and checked["transaction"] is None and not os.path.exists(journal)
    assert read(www["file"]) == before
    assert {d["before_header"] for d in checked["diff"]} == {f["path"] for f in checked["files"]}
    applied = sc.apply_change(p, facts, instance, recorded)
    assert applied["transaction"] and read(www["file"]) != before
    assert oct(os.stat(os.path.join(journal, applied["transaction"])).st_mode & 0o777) == "0o700"
    restored = sc.restore_change(dict(p, state="restored", transaction=applied["transaction"]), facts, instance,
                                 recorded)
    assert restored["changed"] and read(www["file"]) == before
    assert not os.path.exists(os.path.join(root, "conf.d", "ocsp-stapling.conf"))


def test_refused_configtest_restores_everything(tmp_path):
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    www = plan_for(facts, "www.example.org")
    before = read(www["file"])

    def refusing(argv, env):
        if argv[-1] == "-t":
            return 1, "", "AH00526: Syntax error on line 3 of conf.d/ocsp-stapling.conf\n"
        return run(argv, env)
    instance = ApacheInstance("/usr/sbin/httpd", server_root=root, config_file=facts["layout"]["config_file"],
                              run=refusing)
    with pytest.raises(StaplingError, match="restored byte for byte") as err:
        sc.apply_change(params(vhosts=[www], take_over=True, journal_dir=str(tmp_path / "j")), facts, instance,
                        refusing)
    assert "AH00526" in err.value.msg
    assert read(www["file"]) == before and not os.path.exists(os.path.join(root, "conf.d", "ocsp-stapling.conf"))


ODD = (b"# keep me\r\n<VirtualHost *:443>\r\n\tServerName a.example\r\n\t# comment\r\n\tSSLEngine on\r\n"
       b"</VirtualHost>\r\n<VirtualHost *:443>\r\n  ServerName b.example\r\n  SSLUseStapling off\r\n</VirtualHost>")


def test_edit_vhost_keeps_every_other_byte():
    added, action, _reason, _own = sc.edit_vhost(ODD, 2, [b"SSLUseStapling on"])
    assert action == "added"
    assert b"\t# BEGIN ocsp.stapling" in added and b"\tSSLUseStapling on\r\n\t# END ocsp.stapling\r\n</VirtualHost>" \
        in added
    assert sc.edit_vhost(added, 2, [b"SSLUseStapling on"])[1] == "unchanged"
    replaced = sc.edit_vhost(added, 2, [b"SSLUseStapling off"])
    assert replaced[1] == "replaced" and b"\tSSLUseStapling off\r\n" in replaced[0]
    removed = sc.edit_vhost(added, 2, [])
    assert removed[1] == "removed" and removed[0] == ODD  # no final newline, CRLF, tabs: all as before
    assert sc.remove_all_ours(added) == ODD
    # The second vhost has the operator's own line: refused, then taken over.
    refused = sc.edit_vhost(ODD, 7, [b"SSLUseStapling on"])
    assert refused[1] == "refused" and refused[0] == ODD and refused[3] == [9]
    taken = sc.edit_vhost(ODD, 7, [b"SSLUseStapling on"], take_over=True)[0]
    assert b"SSLUseStapling off" not in taken and taken.endswith(b"  # END ocsp.stapling\r\n</VirtualHost>")
    with pytest.raises(StaplingError, match="no <VirtualHost> starts at line 3"):
        sc.edit_vhost(ODD, 3, [b"SSLUseStapling on"])


@pytest.mark.parametrize("before, after, expected", [
    (None, "shmcb:/run/apache2/ocsp_stapling_cache(131072)", "graceful"),
    ("shmcb:/run/apache2/ocsp_stapling_cache(131072)", "shmcb:/run/apache2/ocsp_stapling_cache(262144)", "graceful"),
    ("shmcb:/run/apache2/ocsp_stapling_cache(131072)", None, "restart"),
    ('"shmcb:/run/apache2/ocsp_stapling_cache(131072)"', "shmcb:/run/httpd/ocsp_stapling_cache(131072)", "restart"),
    ("shmcb:/run/apache2/ocsp_stapling_cache(131072)", "dbm:/run/apache2/ocsp_stapling_cache", "restart"),
])
def test_reload_rule_follows_ah00820(before, after, expected):
    assert sc.reload_needed({"/x": ("file", b"")}, before, after) == expected
    assert sc.reload_needed({}, before, after) == "none"


def test_cache_size_is_stable_across_small_changes():
    assert sc.cache_size_for(0) == 131072 and sc.cache_size_for(16) == 131072
    assert sc.cache_size_for(17) == 262144 and sc.cache_size_for(30) == 262144
    assert sc.cache_size_for(1000) == 8388608
