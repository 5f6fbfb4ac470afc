"""ocsp.stapling.apache_stapling_config through ansible-playbook, on Debian's real apache2 in a sandbox.

Apache itself (configtest, a real start and graceful) and ocsp_staple_info (a real handshake) judge
the result; the whole configuration tree is hashed (bytes, modes, symlinks) to prove byte fidelity.
"""

import hashlib
import json
import os
import stat

import pytest

MODULE = "ocsp.stapling.apache_stapling_config"

ODD = ("# operator's file: CRLF, tabs, comments, two vhosts, one inside <IfModule>, no final newline\r\n"
       "<VirtualHost 127.0.0.1:{port}>\r\n"
       "\tServerName crlf-one.lab.test\r\n"
       "\t# a comment the operator keeps\r\n"
       "\tSSLEngine on\r\n"
       "\tSSLCertificateFile {cert}\r\n"
       "\tSSLCertificateKeyFile {key}\r\n"
       "\tSSLCertificateChainFile {chain}\r\n"
       "</VirtualHost>\r\n"
       "\r\n"
       "<IfModule ssl_module>\r\n"
       "  <VirtualHost 127.0.0.1:{port}>\r\n"
       "    ServerName crlf-two.lab.test\r\n"
       "    SSLEngine on\r\n"
       "    SSLCertificateFile {cert}\r\n"
       "    SSLCertificateKeyFile {key}\r\n"
       "  </VirtualHost>\r\n"
       "</IfModule>")

OWN = ("<VirtualHost 127.0.0.1:{port}>\n  ServerName own.lab.test\n  SSLEngine on\n  SSLCertificateFile {cert}\n"
       "  SSLCertificateKeyFile {key}\n  SSLUseStapling off\n</VirtualHost>\n")


def tree_hash(root):
    """Every path below root with its mode and bytes or link target."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[path] = ("file", oct(st.st_mode), hashlib.sha256(f.read()).hexdigest())
            else:
                out[path] = ("dir", oct(st.st_mode))
    return out


@pytest.fixture
def site(apache_sandbox, lab, tmp_path):
    """A sandbox with TLS vhosts and no stapling at all, plus an odd operator file."""
    s = apache_sandbox
    pki = lab.pki.certs
    s.add_vhost("good", pki["good"].cert_path, pki["good"].key_path, chain_path=pki["good"].chain_path,
                server_name="good.lab.test")
    s.add_vhost("nouri", pki["no_uri"].cert_path, pki["no_uri"].key_path, chain_path=pki["no_uri"].chain_path,
                server_name="nouri.lab.test")
    port = s.vhosts["good"]["port"]
    s.write_conf("sites-enabled/odd.conf", ODD.format(port=port, cert=pki["revoked"].cert_path,
                                                      key=pki["revoked"].key_path, chain=pki["revoked"].chain_path))
    s.write_conf("sites-enabled/own.conf", OWN.format(port=port, cert=pki["good"].cert_path,
                                                      key=pki["good"].key_path))
    os.chmod(os.path.join(s.confdir, "sites-enabled/odd.conf"), 0o640)
    ok, out = s.configtest()
    assert ok, out
    s.journal = str(tmp_path / "journal")
    return s


def facts(run_module, s):
    result = run_module("ocsp.stapling.apache_info", {"server_root": s.confdir})
    assert not result["failed"], result["_output"]
    return result


def plan(info, stapling=None):
    stapling = stapling or {}
    return [{"file": v["file"], "line": v["line"], "server_name": v["server_name"],
             "stapling": stapling.get(v["server_name"], "on")} for v in info["vhosts"] if v["tls"]
            and v["server_name"] != "own.lab.test"]


def apply(run_module, s, vhosts, check=False, diff=False, **extra):
    args = dict({"server_root": s.confdir, "vhosts": vhosts, "journal_dir": s.journal}, **extra)
    return run_module(MODULE, args, check=check, diff=diff)


def test_apply_converge_remove_byte_for_byte(run_module, site, lab):
    s = site
    start = tree_hash(s.confdir)
    info = facts(run_module, s)
    vhosts = plan(info, {"nouri.lab.test": "off"})
    # Check mode: everything computed, nothing written.
    checked = apply(run_module, s, vhosts, check=True, diff=True)
    assert not checked["failed"], checked["_output"]
    assert checked["changed"] is True and checked["reload"] == "graceful" and checked["transaction"] is None
    assert tree_hash(s.confdir) == start and not os.path.exists(s.journal)
    assert any("SSLStaplingCache" in d["after"] for d in checked["diff"])
    # The real run.
    applied = apply(run_module, s, vhosts)
    assert not applied["failed"], applied["_output"]
    assert applied["changed"] and applied["reload"] == "graceful" and applied["transaction"]
    assert applied["configtest"]["ok"] is True
    actions = {v["server_name"]: v["action"] for v in applied["vhosts"]}
    assert actions == {"good.lab.test": "added", "nouri.lab.test": "added", "crlf-one.lab.test": "added",
                       "crlf-two.lab.test": "added"}
    snippet = os.path.join(s.confdir, "conf-available/ocsp-stapling.conf")
    assert os.readlink(os.path.join(s.confdir, "conf-enabled/ocsp-stapling.conf")) == \
        "../conf-available/ocsp-stapling.conf"
    text = s.read_conf("conf-available/ocsp-stapling.conf")
    assert 'SSLStaplingCache "shmcb:{0}/ocsp_stapling_cache(131072)"'.format(s.run_dir) in text
    assert "SSLStaplingReturnResponderErrors off" in text and "SSLStaplingFakeTryLater off" in text
    assert "SSLStaplingResponderTimeout 2" in text
    with open(os.path.join(s.confdir, "sites-enabled/odd.conf"), "rb") as f:
        odd = f.read()
    # Our block in the file's own line endings and indentation; every other byte as it was.
    assert b"\t# BEGIN ocsp.stapling" in odd and b"\tSSLUseStapling on\r\n" in odd and b"    SSLUseStapling on\r\n" in odd
    assert odd.endswith(b"</IfModule>") and b"\n\n" not in odd.replace(b"\r\n", b"")
    assert oct(os.stat(os.path.join(s.confdir, "sites-enabled/odd.conf")).st_mode & 0o777) == "0o640"
    assert "SSLUseStapling off" in s.read_conf("sites-enabled/nouri.conf")
    assert s.read_conf("sites-enabled/own.conf").count("SSLUseStapling") == 1  # not planned: untouched
    journal = os.path.join(s.journal, applied["transaction"])
    assert oct(os.stat(s.journal).st_mode & 0o777) == "0o700" and oct(os.stat(journal).st_mode & 0o777) == "0o700"
    with open(os.path.join(journal, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["state"] == "applied" and snippet in [e["path"] for e in manifest["entries"]]
    assert all(not e["path"].endswith(".key") for e in manifest["entries"])  # key files never journaled
    # Apache serves it, and staples a valid response for the good vhost.
    s.start()
    staple = run_module("ocsp.stapling.ocsp_staple_info", {"targets": [s.vhosts["good"]], "ca_file": lab.pki.root_path})
    assert not staple["failed"], staple["_output"]
    assert staple["results"][0]["valid"] is True, staple["results"]
    after_apply = tree_hash(s.confdir)
    # Not committed yet (as when a run lost its host before the reload): the same plan changes nothing, and hands
    # the earlier change back to be reloaded and proven.
    pending = apply(run_module, s, plan(facts(run_module, s), {"nouri.lab.test": "off"}))
    assert pending["changed"] is False and pending["adopted"] is True, pending["_output"]
    assert pending["transaction"] == applied["transaction"] and pending["reload"] == "graceful"
    committed = run_module(MODULE, {"server_root": s.confdir, "state": "committed", "journal_dir": s.journal,
                                    "transaction": applied["transaction"]})
    assert committed["changed"] is True and not committed["failed"]
    # Converged and committed: nothing changes, nothing to reload, no journal.
    again = apply(run_module, s, plan(facts(run_module, s), {"nouri.lab.test": "off"}))
    assert again["changed"] is False and again["reload"] == "none" and again["transaction"] is None
    assert again["adopted"] is False
    assert {v["action"] for v in again["vhosts"]} == {"unchanged"}
    assert tree_hash(s.confdir) == after_apply
    # Drift: someone removes our line and our enabling link; the same plan puts both back.
    s.write_conf("sites-enabled/good.conf", s.read_conf("sites-enabled/good.conf").replace(
        "    SSLUseStapling on\n", ""))
    os.unlink(os.path.join(s.confdir, "conf-enabled/ocsp-stapling.conf"))
    drift = apply(run_module, s, plan(facts(run_module, s), {"nouri.lab.test": "off"}))
    assert drift["changed"] and drift["reload"] == "graceful", drift["_output"]
    assert tree_hash(s.confdir) == after_apply
    # Absent under the running Apache that started with our cache: everything of ours goes but the cache, kept for
    # that parent (removing it by a graceful reload kills Apache, AH00820); the reload stays graceful.
    absent = apply(run_module, s, [], state="absent")
    assert not absent["failed"], absent["_output"]
    assert absent["changed"] and absent["reload"] == "graceful" and absent["cache_kept"] is True
    assert absent["cache_kept_parent"]["pid"] == s._read_pid() and "AH00820" in absent["cache_kept_reason"]
    kept = (snippet, os.path.join(s.confdir, "conf-enabled/ocsp-stapling.conf"))
    now = tree_hash(s.confdir)
    but_kept = dict((p, v) for p, v in start.items() if p not in kept)
    assert dict((p, v) for p, v in now.items() if p not in kept) == but_kept
    assert "SSLUseStapling" not in s.read_conf("conf-available/ocsp-stapling.conf")
    s.graceful()  # the kept cache is what keeps Apache alive here
    again = apply(run_module, s, [], state="absent")
    assert again["changed"] is False and again["cache_kept"] is True  # the same parent: nothing to do
    # A maintenance window: the cache goes at once, with a full stop and start.
    window = apply(run_module, s, [], state="absent", restart_allowed=True)
    assert window["changed"] and window["reload"] == "restart" and window["cache_kept"] is False
    assert tree_hash(s.confdir) == start


def test_restored_after_a_half_applied_change(run_module, site):
    s = site
    start = tree_hash(s.confdir)
    applied = apply(run_module, s, plan(facts(run_module, s)))
    assert applied["changed"], applied["_output"]
    # As if the module had been killed between writes: one file already back at its old bytes.
    good = os.path.join(s.confdir, "sites-enabled/good.conf")
    with open(good) as f:
        text = f.read()
    with open(good, "w") as f:
        f.write(text.replace(text[text.index("    # BEGIN"):text.index("# END ocsp.stapling\n") + 20], ""))
    checked = run_module(MODULE, {"server_root": s.confdir, "state": "restored", "journal_dir": s.journal,
                                  "transaction": applied["transaction"]}, check=True)
    assert checked["changed"] is True and tree_hash(s.confdir) != start
    restored = run_module(MODULE, {"server_root": s.confdir, "state": "restored", "journal_dir": s.journal,
                                   "transaction": applied["transaction"]})
    assert not restored["failed"], restored["_output"]
    # Apache does not run here: nothing to keep, everything goes back (a graceful reload starts it).
    assert restored["changed"] and restored["reload"] == "graceful" and restored["cache_kept"] is False
    assert tree_hash(s.confdir) == start
    committed = run_module(MODULE, {"server_root": s.confdir, "state": "committed", "journal_dir": s.journal,
                                    "transaction": applied["transaction"]})
    assert committed["changed"] is True and not committed["failed"]


@pytest.mark.core_matrix
def test_refused_by_apache_means_restored(run_module, site):
    s = site
    start = tree_hash(s.confdir)
    result = apply(run_module, s, plan(facts(run_module, s)), proxy_url="http://proxy.lab.test:notaport/")
    assert result["failed"]
    assert "Apache rejects the changed configuration" in result["msg"] and "SSLOCSPProxyURL" in result["msg"]
    assert "restored byte for byte" in result["msg"]
    assert tree_hash(s.confdir) == start
    journals = os.listdir(s.journal)
    with open(os.path.join(s.journal, journals[0], "manifest.json")) as f:
        assert json.load(f)["state"] == "failed"


def test_own_lines_left_alone_unless_take_over(run_module, site):
    s = site
    own = [v for v in facts(run_module, s)["vhosts"] if v["server_name"] == "own.lab.test"]
    vhosts = [{"file": own[0]["file"], "line": own[0]["line"], "server_name": "own.lab.test", "stapling": "on"}]
    left = apply(run_module, s, vhosts)
    assert left["vhosts"][0]["action"] == "refused" and "take_over" in left["vhosts"][0]["reason"]
    assert "SSLUseStapling off" in s.read_conf("sites-enabled/own.conf")
    taken = apply(run_module, s, vhosts, take_over=True)
    assert taken["vhosts"][0]["action"] == "replaced" or taken["vhosts"][0]["action"] == "added"
    text = s.read_conf("sites-enabled/own.conf")
    assert "SSLUseStapling off" not in text and "SSLUseStapling on" in text


@pytest.mark.parametrize("args, fragment", [
    ({"engine": "mod_foo"}, "engine"),
    ({"cache_size": 0}, "cache_size 0 must be a positive"),
    ({"proxy_url": "https://proxy:3128/"}, "not an http:// URL"),
    ({"journal_dir": "relative/dir"}, "is relative"),
    ({"engine": "mod_md"}, "engine mod_md cannot be used here"),
    ({"vhosts": [{"file": "/nonexistent/x.conf", "line": 1, "server_name": "x"}]}, "changed under the plan"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(run_module, site, args, fragment):
    s = site
    start = tree_hash(s.confdir)
    result = run_module(MODULE, dict({"server_root": s.confdir, "journal_dir": s.journal}, **args))
    assert result["failed"] and fragment in result["msg"], result.get("msg")
    assert tree_hash(s.confdir) == start and "Traceback" not in result["_output"]


def test_a_vhost_that_moved_is_refused(run_module, site):
    s = site
    vhosts = plan(facts(run_module, s))
    good = [v for v in vhosts if v["server_name"] == "good.lab.test"][0]
    result = apply(run_module, s, [dict(good, server_name="other.lab.test")])
    assert result["failed"] and "good.lab.test" in result["msg"] and "changed under the plan" in result["msg"]


@pytest.fixture
def md_store(tmp_path):
    """A store for mod_md whose parents www-data can traverse (pytest's own tmp dirs are 0700), removed afterwards."""
    import shutil
    import tempfile
    base = tempfile.mkdtemp(prefix="ocsp-md-", dir="/tmp")
    os.chmod(base, 0o755)
    yield os.path.join(base, "md")
    shutil.rmtree(base)


def test_mod_md_engine_staples_and_opts_a_vhost_out(run_module, apache_sandbox, lab, md_store, tmp_path):
    """engine mod_md on the lab's Apache with mod_md enabled: MDStapling/MDStapleOthers in <IfModule md_module>, an
    explicit MDStoreDir, a vhost planned off gets MDStapling off; Apache staples what mod_md fetched; absent restores
    the tree."""
    s = apache_sandbox
    pki = lab.pki.certs
    s.enable_module("md")
    s.add_vhost("good", pki["good"].cert_path, pki["good"].key_path, chain_path=pki["good"].chain_path,
                server_name="good.lab.test")
    s.add_vhost("second", pki["second_issuer"].cert_path, pki["second_issuer"].key_path,
                chain_path=pki["second_issuer"].chain_path, server_name="second.lab.test")
    start = tree_hash(s.confdir)
    s.journal = str(tmp_path / "journal")
    vhosts = plan(facts(run_module, s), {"second.lab.test": "off"})
    applied = apply(run_module, s, vhosts, engine="mod_md", md_store_dir=md_store)
    assert not applied["failed"], applied["_output"]
    text = s.read_conf("conf-available/ocsp-stapling.conf")
    assert "<IfModule md_module>" in text and "MDStapling on" in text and "MDStapleOthers on" in text
    assert 'MDStoreDir "{0}"'.format(md_store) in text and "SSLStaplingCache" not in text
    second = s.read_conf("sites-enabled/second.conf")
    assert "MDStapling off" in second and "<IfModule md_module>" in second
    assert "Stapling" not in s.read_conf("sites-enabled/good.conf").replace("# BEGIN ocsp.stapling", "")
    s.start()
    # mod_md fetches ahead of handshakes (about 0.1 s after start); retries cover the first moments.
    staple = run_module("ocsp.stapling.ocsp_staple_info", {"targets": [s.vhosts["good"], s.vhosts["second"]],
                                                           "ca_file": lab.pki.ca_bundle_path, "attempts": 10,
                                                           "delay": 0.5, "require": False})
    assert not staple["failed"], staple["_output"]
    by_sni = {r["sni"]: r for r in staple["results"]}
    assert by_sni["good.lab.test"]["valid"] is True, by_sni["good.lab.test"]
    assert by_sni["second.lab.test"]["stapled"] is False, by_sni["second.lab.test"]
    assert os.path.isdir(os.path.join(md_store, "ocsp"))  # responses kept on disk across reloads
    s.stop()
    absent = apply(run_module, s, [], state="absent", engine="mod_md")
    assert not absent["failed"] and absent["reload"] == "graceful", absent["_output"]  # no SSLStaplingCache moved
    assert tree_hash(s.confdir) == start


def test_mod_md_store_the_apache_user_cannot_reach_is_refused(run_module, apache_sandbox, lab, tmp_path):
    s = apache_sandbox
    good = lab.pki.certs["good"]
    s.enable_module("md")
    s.add_vhost("good", good.cert_path, good.key_path, chain_path=good.chain_path, server_name="good.lab.test")
    start = tree_hash(s.confdir)
    s.journal = str(tmp_path / "journal")
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    result = apply(run_module, s, plan(facts(run_module, s)), engine="mod_md", md_store_dir=str(closed / "md"))
    assert result["failed"] and "the Apache user www-data cannot traverse" in result["msg"], result["msg"]
    # The first closed directory on the way (pytest's own tmp root is 0700 too), never one www-data can enter.
    blocked = result["msg"].split("cannot traverse ")[1].split(" (mode")[0]
    assert str(closed).startswith(blocked) and not os.stat(blocked).st_mode & 0o001
    assert "chmod o+x" in result["msg"] and tree_hash(s.confdir) == start


MACROS = ("<Macro TLSSite $name $port>\n"
          "  <VirtualHost 127.0.0.1:$port>\n"
          "    ServerName $name\n"
          "    SSLEngine on\n"
          "    SSLCertificateFile {cert}\n"
          "    SSLCertificateKeyFile {key}\n"
          "  </VirtualHost>\n"
          "</Macro>\n"
          "Use TLSSite one.macro.lab.test {port}\n"
          "Use TLSSite two.macro.lab.test {port}\n")


def test_a_macro_made_vhost_is_refused_with_its_macro_and_use_line(run_module, site, lab):
    """A per-vhost line in a macro-made vhost would go into the macro (every vhost it makes): refused per vhost,
    naming the macro and the Use line; the other vhosts are done; no byte of the macro file changes."""
    s = site
    s.enable_module("macro")
    pki = lab.pki.certs
    text = MACROS.format(cert=pki["good"].cert_path, key=pki["good"].key_path, port=s.vhosts["good"]["port"])
    path = s.write_conf("sites-enabled/macros.conf", text)
    ok, out = s.configtest()
    assert ok, out
    with open(path, "rb") as f:
        before = f.read()
    info = facts(run_module, s)
    made = [v for v in info["vhosts"] if v["macro"]]
    assert [(v["server_name"], v["file"], v["line"], v["macro"]) for v in made] == [
        ("one.macro.lab.test", path, 9, {"name": "tlssite", "file": path, "line": 1}),
        ("two.macro.lab.test", path, 10, {"name": "tlssite", "file": path, "line": 1})]
    assert info["cross_check"]["disagreements"] == 0, info["problems"]
    result = apply(run_module, s, plan(info))
    assert not result["failed"], result["_output"]
    actions = {v["server_name"]: (v["action"], v.get("reason")) for v in result["vhosts"]}
    assert actions["good.lab.test"][0] == "added"
    for name, line in (("one.macro.lab.test", 9), ("two.macro.lab.test", 10)):
        action, reason = actions[name]
        assert action == "refused"
        assert "defined by macro tlssite at {0}:1 (Use at {0}:{1})".format(path, line) in reason
    with open(path, "rb") as f:
        assert f.read() == before
    ok, out = s.configtest()
    assert ok, out


def test_two_instances_keep_their_own_journals(run_module, lab, tmp_path):
    """Issue 22: one shared journal directory, two Apache instances. Committing B's changes with keep_journals: 1
    prunes nothing of A's, and A's applied (never committed) journal, its only record of how to restore, survives."""
    from lab import ApacheSandbox
    journal = str(tmp_path / "journal")
    a, b = ApacheSandbox(str(tmp_path / "a")), ApacheSandbox(str(tmp_path / "b"))
    good = lab.pki.certs["good"]
    for s in (a, b):
        s.add_vhost("good", good.cert_path, good.key_path, chain_path=good.chain_path, server_name="good.lab.test")
        s.journal = journal
    a_applied = apply(run_module, a, plan(facts(run_module, a)), journal_dir=journal)
    assert a_applied["transaction"], a_applied["_output"]
    for stapling in ("on", "off", "on"):
        b_applied = apply(run_module, b, plan(facts(run_module, b), {"good.lab.test": stapling}), journal_dir=journal,
                          keep_journals=1)
        assert b_applied["transaction"], b_applied["_output"]
        committed = run_module(MODULE, {"server_root": b.confdir, "state": "committed", "journal_dir": journal,
                                        "transaction": b_applied["transaction"], "keep_journals": 1})
        assert not committed["failed"], committed["_output"]
    left = sorted(os.listdir(journal))
    assert a_applied["transaction"] in left and b_applied["transaction"] in left and len(left) == 2, left
    # A's change is still A's to restore, byte for byte; B's journal is not A's.
    restored = run_module(MODULE, {"server_root": a.confdir, "state": "restored", "journal_dir": journal,
                                   "transaction": a_applied["transaction"]})
    assert restored["changed"] and not restored["failed"], restored["_output"]
    foreign = run_module(MODULE, {"server_root": a.confdir, "state": "restored", "journal_dir": journal,
                                  "transaction": b_applied["transaction"]})
    assert foreign["failed"] and "belongs to another Apache instance" in foreign["msg"], foreign["msg"]
