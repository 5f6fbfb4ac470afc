"""The rollout on a stock Debian host (issues 22 and 25): sites in sites-available enabled by a2ensite, the stock
default-ssl site, a certbot-style live/ certificate, a 0640 root:ssl-cert site file, an operator's file with our
snippet's name, a node Python without our libraries. What the rollout must leave as it found it, it does; removal and
rollback go by graceful reload (the Apache parent stays), keeping only our inert cache snippet until Apache restarts."""

import json
import os
import subprocess
import sys

import pytest

from lab.trees import tree_diff, tree_entries
from rollout_helpers import latest_report, run_rollout

SNIPPET = "conf-available/ocsp-stapling.conf"
SNIPPET_LINK = "conf-enabled/ocsp-stapling.conf"
# What state=absent and a rollback leave behind while the Apache parent that stapled runs (issue 25).
KEPT = (SNIPPET, SNIPPET_LINK)


def a2(lab, tool, name):
    return subprocess.run([tool, "-q", name], env=lab.apache.ctl_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)


def same_except(before, after, allowed=()):
    return [p for p in tree_diff(before, after) if p not in allowed]


@pytest.mark.core_matrix
def test_rollout_keeps_a2ensite_links_modes_and_owners_and_absent_restores_the_tree(rollout_lab, tmp_path):
    lab = rollout_lab
    conf = lab.apache.confdir
    before = tree_entries(conf)
    pid = lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path)
    assert rc == 0, out[-4000:]
    after = tree_entries(conf)
    for name in ("good", "must_staple", "revoked", "no_uri", "second_issuer", "missing_chain", "default-ssl"):
        link = "sites-enabled/{0}.conf".format(name)
        assert after[link] == before[link], (link, after[link][:1])  # still a2ensite's relative symlink
    assert b"# BEGIN ocsp.stapling" in after["sites-available/good.conf"][4]
    ms = after["sites-available/must_staple.conf"]
    assert ms[1] == 0o640 and ms[3] == before["sites-available/must_staple.conf"][3]  # 0640 root:ssl-cert kept
    assert b"SSLUseStapling on" in ms[4]
    report = latest_report(tmp_path)
    v = {x["server_name"]: x for x in report["vhosts"]}
    assert v["good.lab.test"]["edited_file"] == os.path.join(conf, "sites-available", "good.conf")
    assert v["good.lab.test"]["staple"]["valid"] is True  # certbot's live/fullchain.pem link read through
    # Debian's tools still work on the operator's links.
    dis = a2(lab, "a2dissite", "good")
    assert dis.returncode == 0 and not os.path.lexists(os.path.join(conf, "sites-enabled", "good.conf")), dis.stdout
    en = a2(lab, "a2ensite", "good")
    assert en.returncode == 0 and os.readlink(os.path.join(conf, "sites-enabled", "good.conf")) == \
        "../sites-available/good.conf", en.stdout

    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_state="absent")
    assert rc == 0, out[-4000:]
    assert same_except(before, tree_entries(conf), KEPT) == []
    assert lab.apache._read_pid() == pid  # graceful all the way: the same parent
    kept = latest_report(tmp_path)["cache_kept"]
    assert kept and kept["parent_pid"] == pid and "AH00820" in kept["reason"], kept
    text = open(os.path.join(conf, SNIPPET)).read()
    assert "SSLStaplingCache" in text and "SSLUseStapling" not in text and "ResponderTimeout" not in text
    lab.apache.wait_serving(timeout=10)

    # Apache restarted (by the operator, a package upgrade, a reboot): the next run removes the cache gracefully and
    # the tree is the one before the first rollout.
    lab.apache.stop()
    lab.apache.start()
    pid = lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_state="absent")
    assert rc == 0, out[-4000:]
    assert tree_diff(before, tree_entries(conf)) == []
    assert lab.apache._read_pid() == pid and latest_report(tmp_path)["cache_kept"] is None
    lab.apache.wait_serving(timeout=10)


def test_restart_allowed_removes_everything_at_once(rollout_lab, tmp_path):
    lab = rollout_lab
    conf = lab.apache.confdir
    before = tree_entries(conf)
    rc, _results, out = run_rollout(lab, tmp_path)
    assert rc == 0, out[-4000:]
    pid = lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_state="absent",
                                    apache_stapling_restart_allowed=True)
    assert rc == 0, out[-4000:]
    assert tree_diff(before, tree_entries(conf)) == []
    report = latest_report(tmp_path)
    assert report["reload"] == "restart" and report["downtime"] is not None and report["cache_kept"] is None
    assert lab.apache._read_pid() != pid
    lab.apache.wait_serving(timeout=10)


def test_a_rollback_keeps_the_parent_and_restores_all_but_our_cache(rollout_lab, tmp_path):
    """Issue 25: the rollback of a failed first rollout stopped and started Apache. Now: graceful, same parent."""
    lab = rollout_lab
    conf = lab.apache.confdir
    lab.fault.set_mode("down")  # second_issuer's responder: no staple, verification fails
    before = tree_entries(conf)
    pid = lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_verify_attempts=2)
    assert rc != 0 and "Rolled back" in out, out[-4000:]
    assert same_except(before, tree_entries(conf), KEPT) == []
    assert lab.apache._read_pid() == pid
    lab.apache.wait_serving(timeout=10)
    report = latest_report(tmp_path)
    assert report["rolled_back"] is True and report["cache_kept"]["parent_pid"] == pid


def test_an_operators_file_with_our_name_is_left_byte_for_byte(rollout_lab, tmp_path):
    """Issue 22: a disabled conf-available/ocsp-stapling.conf of the operator's was replaced by present and removed by
    absent. Now present refuses before any change (naming the way out), and a free name works beside it."""
    lab = rollout_lab
    conf = lab.apache.confdir
    theirs = os.path.join(conf, SNIPPET)
    with open(theirs, "w") as f:
        f.write("# stapling, the way the how-to said (disabled for now)\nSSLStaplingCache shmcb:/tmp/x(512000)\n")
    before = tree_entries(conf)
    pid = lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path)
    assert rc != 0 and "apache_stapling_snippet_name" in out and theirs in out, out[-4000:]
    assert tree_diff(before, tree_entries(conf)) == [] and lab.apache._read_pid() == pid
    report = latest_report(tmp_path)
    assert report["failure"]["task"] == "preflight" and [e["code"] for e in report["errors"]] == ["not_ours"]

    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_snippet_name="ocsp-stapling-ansible.conf")
    assert rc == 0, out[-4000:]
    assert tree_entries(conf)[SNIPPET] == before[SNIPPET]
    assert os.path.exists(os.path.join(conf, "conf-enabled", "ocsp-stapling-ansible.conf"))
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_snippet_name="ocsp-stapling-ansible.conf",
                                    apache_stapling_state="absent", apache_stapling_restart_allowed=True)
    assert rc == 0, out[-4000:]
    assert tree_diff(before, tree_entries(conf)) == []


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A node Python without cryptography and pyOpenSSL (a venv without the system's site packages)."""
    path = str(tmp_path_factory.mktemp("bare") / "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    return os.path.join(path, "bin", "python")


@pytest.mark.core_matrix
def test_a_node_without_our_libraries_is_refused_before_any_change(rollout_lab, tmp_path, bare_python):
    """Issue 22: a missing pyOpenSSL was found at verification, after the reload, and rolled back with a restart; the
    libraries were named one per run. Now the preflight names both, and nothing is written or reloaded."""
    lab = rollout_lab
    conf = lab.apache.confdir
    before, pid = tree_entries(conf), lab.apache._read_pid()
    generations = lab.apache.log_text().count("resuming normal operations")
    interp = ["-e", json.dumps({"ansible_python_interpreter": bare_python})]
    rc, _results, out = run_rollout(lab, tmp_path, args=interp, apache_stapling_install_dependencies=False)
    assert rc != 0, out[-4000:]
    report = latest_report(tmp_path)
    assert report["failure"]["task"] == "preflight" and report["transaction"] is None, report["failure"]
    msg = report["failure"]["msg"]
    assert "cryptography >= " in msg and "pyOpenSSL >= " in msg and "python3-openssl" in msg, msg
    assert [e["code"] for e in report["errors"]] == ["missing_library"]
    assert tree_diff(before, tree_entries(conf)) == [] and lab.apache._read_pid() == pid
    assert lab.apache.log_text().count("resuming normal operations") == generations  # no reload at all
    # The audit refuses the same host for the same reason.
    rc, _results, out = run_rollout(lab, tmp_path, playbook="ocsp.stapling.audit", args=interp,
                                    apache_stapling_install_dependencies=False)
    report = latest_report(tmp_path)
    assert report["failure"]["task"] == "preflight" and "pyOpenSSL >= " in report["failure"]["msg"]
    assert tree_diff(before, tree_entries(conf)) == []


def test_an_unusable_journal_directory_is_a_preflight_gap(rollout_lab, tmp_path):
    lab = rollout_lab
    conf = lab.apache.confdir
    journal = tmp_path / "journal"
    journal.mkdir()
    os.chmod(str(journal), 0o777)
    before = tree_entries(conf)
    rc, _results, out = run_rollout(lab, tmp_path)
    assert rc != 0, out[-4000:]
    report = latest_report(tmp_path)
    assert report["failure"]["task"] == "preflight" and [e["code"] for e in report["errors"]] == ["journal_unusable"]
    assert "writable by group or others" in report["failure"]["msg"]
    assert tree_diff(before, tree_entries(conf)) == []
