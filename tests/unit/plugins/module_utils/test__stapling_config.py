"""apache_stapling_config's writer on layouts that cannot run here (RHEL 9, SLES 15: recorded trees and command
output), and its byte-level edits and reload rule on their own. Debian's layout is tested for real on the lab's
Apache (tests/integration/test_apache_stapling_config.py)."""

import os
import subprocess

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
    """A restart only when the operator allows it (issue 25): otherwise plan_changes keeps the cache, and what reaches
    reload_needed with a moved cache is an Apache that does not run, which a graceful reload starts."""
    assert sc.reload_needed({"/x": ("file", b"")}, before, after, restart_allowed=True) == expected
    assert sc.reload_needed({"/x": ("file", b"")}, before, after) == "graceful"
    assert sc.reload_needed({}, before, after) == "none"


CACHE = "shmcb:/run/apache2/ocsp_stapling_cache(131072)"
PARENT = {"pid": 4242, "start": 777}


@pytest.mark.parametrize("before, after, parent, allowed, kept", [
    (CACHE, None, PARENT, False, 4242),                              # absent under a running parent: kept
    (CACHE, None, None, False, None),                                # Apache not running: removed
    (CACHE, None, PARENT, True, None),                               # a maintenance window: removed (restart)
    (CACHE, CACHE.replace("131072", "262144"), PARENT, False, None),  # a resize survives a graceful
    (CACHE, "shmcb:/run/other(131072)", PARENT, False, 4242),        # a move under a running parent: kept
    (None, None, PARENT, False, None),                               # no cache of ours in force: nothing to keep
])
def test_keep_cache_rule(before, after, parent, allowed, kept):
    got = sc.keep_cache(before, after, "", parent, allowed, "why")
    assert (None if got is None else got["parent_pid"]) == kept
    if got:
        assert got["value"] == before and got["reason"] == "why" and sc.kept_guard(got) == "/proc/4242/cwd"


def dead_pid():
    """The PID of a process that ran and was reaped (its /proc entry is gone)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not os.path.exists("/proc/{0}".format(proc.pid))
    return proc.pid


def test_absent_keeps_our_cache_for_the_running_parent_and_drops_it_after_a_restart(tmp_path, monkeypatch):
    """Issue 25: state=absent used to remove the cache and ask for a full stop/start (2 s of refused requests). Now the
    cache stays, inside <IfFile /proc/PID/cwd> of the running parent; once that parent is gone the reader sees it out
    of force and the next plan removes it, for a graceful reload."""
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    www = plan_for(facts, "www.example.org")
    snippet = os.path.join(root, "conf.d", "ocsp-stapling.conf")
    present = sc.plan_changes(params(vhosts=[www], take_over=True), facts)
    for path, want in present["changes"].items():
        sc._write(path, want)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    assert facts["global_stapling"]["SSLStaplingCache"]["file"] == snippet
    me = {"pid": os.getpid(), "start": sc.process_start(os.getpid())}  # a live "parent": /proc/PID/cwd exists
    monkeypatch.setattr(sc, "running_parent", lambda layout: me)
    absent = sc.plan_changes(params(state="absent"), facts)
    text = absent["changes"][snippet][1].decode()
    assert absent["cache_kept"]["parent_pid"] == me["pid"] and "AH00820" in absent["cache_kept"]["reason"]
    assert text.startswith("# Managed by ocsp.stapling") and "<IfFile /proc/{0}/cwd>".format(me["pid"]) in text
    assert "SSLStaplingResponderTimeout" not in text and sc.parse_kept(text) == (me["pid"], me["start"])
    assert absent["cache_after"] == absent["cache_before"]
    assert sc.reload_needed(absent["changes"], absent["cache_before"], absent["cache_after"]) == "graceful"
    assert b"SSLUseStapling" not in absent["changes"][www["file"]][1]
    for path, want in absent["changes"].items():
        sc._write(path, want)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    assert facts["global_stapling"]["SSLStaplingCache"]["file"] == snippet  # in force for the live parent
    again = sc.plan_changes(params(state="absent"), facts)
    assert again["changes"] == {} and again["cache_kept"]["since"] == absent["cache_kept"]["since"]
    # Apache restarted: the kept-for parent is gone, so its <IfFile> is false, the cache not in force, the snippet goes.
    gone = dead_pid()
    with open(snippet) as f:
        kept_text = f.read().replace("/proc/{0}/cwd".format(me["pid"]), "/proc/{0}/cwd".format(gone))
    with open(snippet, "w") as f:
        f.write(kept_text.replace("pid={0} ".format(me["pid"]), "pid={0} ".format(gone)))
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    assert "SSLStaplingCache" not in facts["global_stapling"]
    removed = sc.plan_changes(params(state="absent"), facts)
    assert removed["changes"] == {snippet: None} and removed["cache_kept"] is None
    assert sc.reload_needed(removed["changes"], removed["cache_before"], removed["cache_after"]) == "graceful"


def test_a_vhost_file_reached_through_symlinks_is_edited_at_its_target(tmp_path):
    """Issue 22: the temp-file-and-rename replaced a2ensite's link with a copy. The link stays; its target is edited,
    once however many links lead to it; a hard-linked file is refused."""
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    www = plan_for(facts, "www.example.org")
    available = tmp_path / "available"
    available.mkdir()
    target = str(available / "www.conf")
    os.rename(www["file"], target)
    os.symlink(os.path.relpath(target, os.path.dirname(www["file"])), www["file"])
    plan = sc.plan_changes(params(vhosts=[www, dict(www)], take_over=True), facts)
    assert www["file"] not in plan["changes"] and plan["changes"][target][0] == "file"
    assert plan["links"][target] == [www["file"]]
    assert [v["edited_file"] for v in plan["vhosts"]] == [target, target]
    os.link(target, str(available / "www-hard.conf"))
    refused = sc.plan_changes(params(vhosts=[www], take_over=True), facts)
    assert target not in refused["changes"] and refused["vhosts"][0]["action"] == "refused"
    assert "2 hard links" in refused["vhosts"][0]["reason"]


def test_an_operators_file_with_our_name_is_never_touched(tmp_path):
    """Issue 22: an operator's conf.d/ocsp-stapling.conf was overwritten by present and removed by absent."""
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    theirs = os.path.join(root, "conf.d", "ocsp-stapling.conf")
    with open(theirs, "w") as f:
        f.write("# my own notes on stapling\n")
    with pytest.raises(StaplingError, match="conf.d/ocsp-stapling.conf: it exists without the '# Managed by "
                                            "ocsp.stapling' header.*snippet_name"):
        sc.plan_changes(params(), facts)
    other = sc.plan_changes(params(snippet_name="ocsp-stapling-ansible.conf"), facts)
    assert theirs not in other["changes"] and os.path.join(root, "conf.d", "ocsp-stapling-ansible.conf") in \
        other["changes"]
    absent = sc.plan_changes(params(state="absent"), facts)
    assert theirs not in absent["changes"] and [p["code"] for p in absent["problems"]] == ["not_ours"]
    taken = sc.plan_changes(params(take_over=True), facts)
    assert taken["changes"][theirs][1].startswith(sc.MARKER)
    with pytest.raises(StaplingError, match="snippet_name '../x.conf' must be a plain file name"):
        sc.plan_changes(params(snippet_name="../x.conf"), facts)


def test_proxy_credentials_are_masked_and_the_snippet_private(tmp_path):
    """Issue 24 #8: a proxy URL with user:password was written 0644 and shown whole in --diff."""
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    proxy = "http://ops:s3cret@proxy.example:3128/"
    plan = sc.plan_changes(params(proxy_url=proxy), facts)
    snippet = os.path.join(root, "conf.d", "ocsp-stapling.conf")
    assert plan["private"] == set([snippet]) and b"s3cret" in plan["changes"][snippet][1]
    diff = sc._diff(plan["changes"])
    assert "s3cret" not in str(diff) and "http://ops:********@proxy.example:3128/" in str(diff)
    sc._write(snippet, plan["changes"][snippet], snippet in plan["private"])
    assert os.stat(snippet).st_mode & 0o777 == 0o600
    with pytest.raises(StaplingError) as err:
        sc.plan_changes(params(proxy_url="ftp://ops:s3cret@proxy"), facts)
    assert "s3cret" not in err.value.msg


def test_cache_size_is_stable_across_small_changes():
    assert sc.cache_size_for(0) == 131072 and sc.cache_size_for(16) == 131072
    assert sc.cache_size_for(17) == 262144 and sc.cache_size_for(30) == 262144
    assert sc.cache_size_for(1000) == 8388608


def test_restore_and_commit_take_what_they_need_from_the_journal(tmp_path):
    """The journal records the instance, its layout and what the change left in force: a restore needs no read of
    Apache (only its configtest after the files are back), a commit nothing but the journal. Written before 1.1.0's
    journals held no facts (facts_from_manifest: None, Apache is read as before)."""
    root, run = install("rhel9", tmp_path)
    facts = _apache.gather(run, "/usr/sbin/httpd", server_root=root, openssl="/usr/bin/openssl")
    www = plan_for(facts, "www.example.org")
    before = read(www["file"])
    commands = []

    def recorded(argv, env):
        commands.append(argv)
        if argv[-1] == "-t":
            return 0, "", "Syntax OK\n"
        return run(argv, env)
    instance = ApacheInstance("/usr/sbin/httpd", server_root=root, config_file=facts["layout"]["config_file"],
                              run=recorded)
    journal = str(tmp_path / "journal")
    p = params(vhosts=[www], take_over=True, journal_dir=journal)
    first = sc.apply_change(p, facts, instance, recorded)
    recorded_facts = sc.facts_from_manifest(dict(p, transaction=first["transaction"]))
    assert recorded_facts["layout"]["server_root"] == root and recorded_facts["apache"]["version"]
    assert recorded_facts["files_read"] == facts["files_read"]
    assert recorded_facts["global_stapling"]["SSLStaplingCache"]["file"] == os.path.join(root, "conf.d",
                                                                                         "ocsp-stapling.conf")
    del commands[:]
    restored = sc.restore_change(dict(p, state="restored", transaction=first["transaction"]), recorded_facts,
                                 instance, recorded)
    assert restored["changed"] and read(www["file"]) == before
    assert commands == [instance.configtest_argv()]  # the configtest after the restore, nothing else of Apache's
    # commit: the journal alone (its manifest names the instance); another instance's options are refused
    second = sc.apply_change(p, facts, instance, recorded)
    del commands[:]
    committed = sc.commit_change(dict(p, state="committed", transaction=second["transaction"], server_root=root))
    assert committed["changed"] and commands == []
    assert sc.commit_change(dict(p, state="committed", transaction=second["transaction"]))["changed"] is False
    with pytest.raises(StaplingError, match="belongs to another Apache instance"):
        sc.commit_change(dict(p, state="committed", transaction=second["transaction"], server_root=str(tmp_path)))
    assert sc.commit_change(dict(p, state="committed", transaction=None)) is None  # no transaction: the instance is read
