"""The rollout (ocsp.stapling.rollout, role ocsp.stapling.apache_stapling) on the lab's Apache, started with no
stapling configured: fresh rollout verified by ocsp_staple_info *and* curl --cert-status; a converged re-run with
changed=0, no reload, at most 5 module executions; check mode changing nothing (tree hashed); state absent
restoring the tree; and failure paths ending with the previous configuration restored byte for byte and Apache
serving. Egress is off here (the machine's own firewall is never touched); ocsp_egress is tested in namespaces."""

import os
import re
import subprocess

import pytest

from lab.trees import tree_digest
from rollout_helpers import latest_report, run_rollout

# Our snippet and its a2enconf link: kept (the cache alone, inert) after absent and a rollback while the Apache parent
# that started with the cache runs (issue 25).
KEPT = ("conf-available/ocsp-stapling.conf", "conf-enabled/ocsp-stapling.conf")

# Names of the role's tasks that run a module on the managed host.
MODULE_TASKS = {
    "Detect the Apache instance, the certificates it serves and the node's Python libraries (one module execution)",
    "Read the host again, with the libraries installed",
    "Egress to the planned responders",
    "Stapling configuration (validated by configtest before it is kept)",
    "Reload as the change demands (graceful, or a full stop/start for AH00820) and prove Apache serves",
    "Handshake with every planned vhost and judge its staple (bounded retries for the lazy first fetch)",
    "Commit the change that was verified (the journal alone; kept for a manual restore, older ones pruned)",
    "Restore the configuration this run changed, byte for byte (what it needs is in the journal's manifest)",
    "Reload into the restored configuration and prove Apache serves",
    "Remove the egress rules this run added",
}


def recap(out):
    m = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out)
    assert m, out[-2000:]
    return {"ok": int(m.group(1)), "changed": int(m.group(2)), "failed": int(m.group(4))}


def task_name(result):
    return result["task"].split(" : ", 1)[-1]  # role tasks are named "ocsp.stapling.apache_stapling : NAME"


def module_runs(results):
    return [task_name(r) for r in results if task_name(r) in MODULE_TASKS and r["status"] != "skipped"]


def curl_cert_status(lab, name):
    t = lab.apache.vhosts[name]
    proc = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cert-status",
                           "--cacert", lab.pki.root_path, "--resolve", "{0}:{1}:127.0.0.1".format(t["sni"], t["port"]),
                           "https://{0}:{1}/".format(t["sni"], t["port"])],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout


def resumes(lab):
    return lab.apache.log_text().count("resuming normal operations")


@pytest.mark.core_matrix
def test_fresh_rollout_then_converged(rollout_lab, tmp_path):
    lab = rollout_lab
    for name in ("good", "must_staple"):
        assert curl_cert_status(lab, name)[0] != 0  # no staple before: curl --cert-status refuses
    rc, results, out = run_rollout(lab, tmp_path)
    assert rc == 0, out[-4000:]
    report = latest_report(tmp_path)
    assert report["status"] == "changed" and report["transaction"] and report["rolled_back"] is False
    v = {x["server_name"]: x for x in report["vhosts"]}
    for name in ("good", "must_staple", "second_issuer"):
        sni = lab.apache.vhosts[name]["sni"]
        assert v[sni]["decision"] == "staple" and v[sni]["staple"]["valid"] is True, v[sni]
        assert v[sni]["staple"]["cert_status"] == "good"
        rc_curl, curl_out = curl_cert_status(lab, name)
        assert rc_curl == 0, (name, curl_out)
    assert v["no-uri.lab.test"]["decision"] == "no_ocsp_uri" and v["no-uri.lab.test"]["staple"]["checked"] is False
    assert v["missing-chain.lab.test"]["code"] == "missing_issuer"
    assert v["revoked.lab.test"]["code"] == "certificate_revoked"
    assert lab.apache.alive()

    digest, generations, pid = tree_digest(lab.apache.confdir), resumes(lab), lab.apache._read_pid()
    rc, results, out = run_rollout(lab, tmp_path)
    assert rc == 0, out[-4000:]
    assert recap(out)["changed"] == 0
    assert resumes(lab) == generations and lab.apache._read_pid() == pid  # no reload
    assert tree_digest(lab.apache.confdir) == digest
    runs = module_runs(results)
    assert len(runs) <= 5, runs
    assert "Handshake with every planned vhost and judge its staple (bounded retries for the lazy first fetch)" in runs
    assert not [r for r in runs if r.startswith("Reload")]
    assert latest_report(tmp_path)["status"] == "ok" and latest_report(tmp_path)["outcome"] == "converged"
    # Issue 27: a converged host runs five tasks of the role (detect, egress, configure, verify, report), Ansible's
    # validation of its argument spec, and its batch's one summary; the plan is not printed per vhost unless asked.
    ran = [task_name(r) for r in results if r["host"] == "localhost" and r["status"] != "skipped"
           and r["task"] != "Note when the run started (names the summary file)"]
    assert len(ran) <= 7, ran
    assert "good.lab.test: staple" not in out
    rc, results, out = run_rollout(lab, tmp_path, apache_stapling_show_plan=True)
    assert rc == 0 and "good.lab.test: staple (http:// OCSP URI" in out, out[-4000:]


def test_check_mode_changes_nothing(rollout_lab, tmp_path):
    lab = rollout_lab
    before, generations = tree_digest(lab.apache.confdir), resumes(lab)
    rc, results, out = run_rollout(lab, tmp_path, args=["--check", "--diff"])
    assert rc == 0, out[-4000:]
    assert tree_digest(lab.apache.confdir) == before and resumes(lab) == generations
    config = [r for r in results if task_name(r) == "Stapling configuration (validated by configtest before it is kept)"]
    assert config and config[0]["result"]["changed"] is True
    assert config[0]["result"].get("diff"), sorted(config[0]["result"])
    # A dry run is named as one and never replaces the record of a real rollout (latest.*).
    names = os.listdir(str(tmp_path / "reports"))
    assert "rollout-check-latest.json" in names and [n for n in names if re.match(r"rollout-check-\d{8}T", n)]
    assert not [n for n in names if n.startswith("latest.") or re.match(r"rollout-\d", n)], names
    assert latest_report(tmp_path, "rollout-check-latest")["outcome"] == "drift"


@pytest.mark.core_matrix
def test_audit_reports_drift_and_exits_0(rollout_lab, tmp_path):
    lab = rollout_lab
    before = tree_digest(lab.apache.confdir)
    rc, _results, out = run_rollout(lab, tmp_path, playbook="ocsp.stapling.audit")
    assert rc == 0, out[-4000:]
    report = latest_report(tmp_path, "audit-latest")
    assert report["status"] == "drift" and report["drift"] is True and report["outcome"] == "drift"
    assert not os.path.exists(str(tmp_path / "reports" / "latest.json"))  # a dry run never writes a rollout's
    assert tree_digest(lab.apache.confdir) == before
    rc, _results, out = run_rollout(lab, tmp_path, playbook="ocsp.stapling.audit",
                                    args=["-e", "apache_stapling_audit_fail_on_drift=true"])
    assert rc != 0 and "drift found" in out


def test_state_absent_restores_the_tree(rollout_lab, tmp_path):
    lab = rollout_lab
    before = tree_digest(lab.apache.confdir)
    before_but_kept = tree_digest(lab.apache.confdir, ignore=KEPT)
    rc, _results, out = run_rollout(lab, tmp_path)
    assert rc == 0, out[-4000:]
    assert tree_digest(lab.apache.confdir) != before
    pid = lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_state="absent")
    assert rc == 0, out[-4000:]
    # Everything of ours is gone but the inert cache, kept for the running parent (issue 25): no request dropped.
    assert tree_digest(lab.apache.confdir, ignore=KEPT) == before_but_kept
    assert lab.apache.alive() and lab.apache._read_pid() == pid
    lab.apache.wait_serving(timeout=10)
    assert curl_cert_status(lab, "good")[0] != 0  # no staple any more


def assert_rolled_back(lab, tmp_path, before, rc, out, pid=None):
    """Rolled back: the tree as before but our inert cache snippet (kept for a running parent that started with it,
    issue 25), Apache serving, and with ``pid`` the same parent (graceful reloads only)."""
    assert rc != 0, out[-4000:]
    assert "Rolled back" in out, out[-4000:]
    assert tree_digest(lab.apache.confdir, ignore=KEPT) == before
    assert lab.apache.alive()
    if pid is not None:
        assert lab.apache._read_pid() == pid
    lab.apache.wait_serving(timeout=10)
    report = latest_report(tmp_path)
    assert report["status"] == "rolled_back" and report["rolled_back"] is True
    return report


@pytest.mark.parametrize("mode", ["down", "wrong_signer"])
def test_responder_fault_rolls_back(rollout_lab, tmp_path, mode):
    """second_issuer's responder is the fault responder: down (nothing stapled: the safe profile) or signing with a
    key that is not the issuer's (Apache staples it; our verification refuses it)."""
    lab = rollout_lab
    lab.fault.set_mode(mode)
    before, pid = tree_digest(lab.apache.confdir, ignore=KEPT), lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_verify_attempts=2)
    report = assert_rolled_back(lab, tmp_path, before, rc, out, pid)
    v = {x["server_name"]: x for x in report["vhosts"]}
    assert v["second-issuer.lab.test"]["staple"]["valid"] is False


def test_revoked_certificate_without_probe_rolls_back(rollout_lab, tmp_path):
    lab = rollout_lab
    before, pid = tree_digest(lab.apache.confdir, ignore=KEPT), lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_probe=False)
    report = assert_rolled_back(lab, tmp_path, before, rc, out, pid)
    v = {x["server_name"]: x for x in report["vhosts"]}
    assert v["revoked.lab.test"]["staple"]["cert_status"] == "revoked"


def test_must_staple_without_a_staple_rolls_back(rollout_lab, tmp_path):
    lab = rollout_lab
    leaf = lab.pki.issue_leaf("must_staple_down", must_staple=True, ocsp_uris=[lab.fault.url("down")])
    lab.apache.add_vhost("must_staple_down", leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                         server_name=leaf.server_name)
    lab.apache.graceful()
    before, pid = tree_digest(lab.apache.confdir, ignore=KEPT), lab.apache._read_pid()
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_verify_attempts=2)
    assert_rolled_back(lab, tmp_path, before, rc, out, pid)
    assert "must-staple-down.lab.test" in out


def test_rollback_false_leaves_the_change(rollout_lab, tmp_path):
    lab = rollout_lab
    lab.fault.set_mode("down")
    before = tree_digest(lab.apache.confdir)
    rc, _results, out = run_rollout(lab, tmp_path, args=["-e", "apache_stapling_rollback=false"],
                                    apache_stapling_verify_attempts=2)
    assert rc != 0 and "NOT rolled back" in out
    assert tree_digest(lab.apache.confdir) != before
    assert latest_report(tmp_path)["status"] == "failed"


def _edit(path, fn):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(fn(text))


def test_drift_is_corrected(rollout_lab, tmp_path):
    """After a rollout someone deletes our vhost block, disables our global snippet, and adds a misplaced cache; the
    next rollout (fix_misplaced_cache on) puts it right, verifies, and the one after that changes nothing."""
    import os
    lab = rollout_lab
    rc, _results, out = run_rollout(lab, tmp_path)
    assert rc == 0, out[-4000:]
    converged = tree_digest(lab.apache.confdir)
    good = os.path.join(lab.apache.confdir, "sites-enabled", "good.conf")
    _edit(good, lambda t: re.sub(r"[ \t]*# BEGIN ocsp\.stapling.*?# END ocsp\.stapling[^\n]*\n", "", t, flags=re.S))
    assert "ocsp.stapling" not in open(good).read()
    enabled = [p for p in os.listdir(os.path.join(lab.apache.confdir, "conf-enabled")) if "ocsp-stapling" in p]
    assert enabled, os.listdir(os.path.join(lab.apache.confdir, "conf-enabled"))
    for name in enabled:
        os.unlink(os.path.join(lab.apache.confdir, "conf-enabled", name))
    second = os.path.join(lab.apache.confdir, "sites-enabled", "second_issuer.conf")
    _edit(second, lambda t: t.replace("</VirtualHost>", "    SSLStaplingCache shmcb:/tmp/misplaced(32768)\n</VirtualHost>"))
    assert not lab.apache.configtest()[0]

    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_fix_misplaced_cache=True)
    assert rc == 0, out[-4000:]
    assert tree_digest(lab.apache.confdir) == converged
    report = latest_report(tmp_path)
    assert report["status"] == "changed"
    assert all(v["staple"]["valid"] for v in report["vhosts"] if v["decision"] == "staple")
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_fix_misplaced_cache=True)
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]


def test_configtest_refusing_the_change_restores_it(rollout_lab, tmp_path):
    """A change Apache refuses (SSLOCSPProxyURL with a port that is not a number): apache_stapling_config restores
    every path itself, nothing is reloaded, and the host fails as rolled back."""
    lab = rollout_lab
    before, generations = tree_digest(lab.apache.confdir, ignore=KEPT), resumes(lab)
    rc, _results, out = run_rollout(lab, tmp_path, apache_stapling_probe=False,
                                    apache_stapling_proxy_url="http://proxy.lab.test:notaport/")
    assert_rolled_back(lab, tmp_path, before, rc, out)
    assert "Apache rejects the changed configuration" in out and "SSLOCSPProxyURL" in out
    assert resumes(lab) == generations  # nothing was reloaded


@pytest.mark.core_matrix
def test_reload_killing_apache_is_rolled_back_and_apache_serves(rollout_lab, tmp_path):
    """An apache2.conf that does not include conf-enabled/: our global snippet (the cache) is not read, the vhosts'
    SSLUseStapling on is; configtest passes, and the graceful kills Apache about a second later (AH01958, the trap in
    LAB-NOTES). apache_reload sees it die; the rollback restores the tree and starts Apache again."""
    lab = rollout_lab
    main = os.path.join(lab.apache.confdir, "apache2.conf")
    _edit(main, lambda t: t.replace("IncludeOptional conf-enabled/*.conf", "# no conf-enabled here"))
    lab.apache.graceful()
    before = tree_digest(lab.apache.confdir, ignore=KEPT)
    rc, _results, out = run_rollout(lab, tmp_path)
    report = assert_rolled_back(lab, tmp_path, before, rc, out)
    assert "AH01958" in out or "exited after" in out, out[-4000:]
    assert report["status"] == "rolled_back"
    assert curl_cert_status(lab, "good")[0] != 0  # serving as before: no stapling
