"""Faults during the rollout, injected at a task of the second batch (after the canary): the responder killed
before verification; one host's Apache killed after its reload, before verification, while SSH to another host is
cut (its link down) before the configuration step and to a third before its reload (its configuration written,
never loaded: the re-run finds that change never confirmed, reloads and verifies it). Apache killed *before* the
reload is no fault for the rollout: `apache2ctl graceful` starts a server that is not running, and the new
configuration is verified. Every failed host ends rolled back or untouched, never half-configured (its
configuration tree hashed), Apache serving; the others finish; a re-run converges the failed ones."""

import subprocess

from fleet.testing import (KEPT, STAPLE_TASK, config_digests, fault_env, latest_summary, recap, rollout_vars,
                           run_on_fleet)

CONFIG_TASK = "Stapling configuration (validated by configtest before it is kept)"
RELOAD_TASK = "Reload as the change demands (graceful, or a full stop/start for AH00820) and prove Apache serves"


def serves(fleet, host):
    """A TLS handshake and an HTTP answer from the host's Apache, from the controller."""
    proc = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cacert", fleet.pki.root_path,
                           "--resolve", "good.lab.test:443:" + host.address, "https://good.lab.test/"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    return proc.returncode == 0


def converges(fleet, tmp_path, expect_changed):
    """A re-run: every host ok, the named ones changed (and verified), the others not."""
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path))
    assert rc == 0, out[-5000:]
    summary = latest_summary(tmp_path)["hosts"]
    per_host = recap(out)
    for h in fleet.hosts:
        status = "changed" if h.name in expect_changed else "ok"
        assert summary[h.name]["status"] == status, (h.name, summary[h.name]["status"], summary[h.name]["failure"])
        assert (per_host[h.name]["changed"] > 0) == (h.name in expect_changed), (h.name, per_host[h.name])
        valid = [v for v in summary[h.name]["vhosts"] if v["decision"] == "staple"]
        assert valid and all(v["staple"]["valid"] for v in valid), (h.name, valid)


def test_responder_killed_before_verification(fresh_fleet, tmp_path):
    fleet = fresh_fleet
    before, before_but_kept = config_digests(fleet), config_digests(fleet, KEPT)
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path),
                                     env=fault_env(fleet, (STAPLE_TASK, 2, "responder", "kill")))
    assert rc != 0 and "fleet_fault" in out, out[-3000:]
    summary = latest_summary(tmp_path)["hosts"]
    after = config_digests(fleet)
    assert summary["h01"]["status"] == "changed" and after["h01"] != before["h01"]  # the canary, before the fault
    rest = [h for h in fleet.hosts if h.name != "h01"]
    for h in rest:
        report = summary[h.name]
        assert report["status"] == "rolled_back" and report["rolled_back"] is True, (h.name, report["failure"])
        # Restored byte for byte, but our inert cache, kept for the running parent (a graceful reload, issue 25).
        assert config_digests(fleet, KEPT)[h.name] == before_but_kept[h.name] and report["cache_kept"], h.name
        assert report["reload"] != "restart" and serves(fleet, h), h.name
    fleet.start_responder()
    converges(fleet, tmp_path, expect_changed=set(h.name for h in rest))


def test_apache_killed_and_ssh_cut_mid_run(fresh_fleet, tmp_path):
    fleet = fresh_fleet
    before = config_digests(fleet)
    crashed, cut, cut_late = fleet.host("h03"), fleet.host("h04"), fleet.host("h05")
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path),
                                     env=fault_env(fleet, (STAPLE_TASK, 2, "h03", "kill-apache"),
                                                   (CONFIG_TASK, 2, "h04", "link-down"),
                                                   (RELOAD_TASK, 2, "h05", "link-down")))
    assert rc != 0 and out.count("fleet_fault") >= 3, out[-3000:]
    per_host = recap(out)
    summary = latest_summary(tmp_path)["hosts"]
    after = config_digests(fleet)

    # Apache died after its reload: verification fails, the change is rolled back, Apache is started again.
    assert summary["h03"]["status"] == "rolled_back", summary["h03"]["failure"]
    assert after["h03"] == before["h03"] and crashed.apache_pids() and serves(fleet, crashed)
    # SSH cut before the configuration step: unreachable, and nothing of the change reached it.
    assert per_host["h04"]["unreachable"] == 1, per_host["h04"]
    assert after["h04"] == before["h04"]
    # SSH cut before the reload: its configuration was written (atomically, configtest passed) and never loaded.
    assert per_host["h05"]["unreachable"] == 1, per_host["h05"]
    assert after["h05"] != before["h05"]
    for name in ("h01", "h02", "h06"):
        if name in summary:
            assert summary[name]["status"] == "changed", (name, summary[name]["failure"])

    cut.link(True)
    cut_late.link(True)
    converges(fleet, tmp_path, expect_changed={"h03", "h04", "h05"})
    # Never half-configured: what the cut left on h05 was the whole change, the one the re-run verified and kept.
    assert config_digests(fleet)["h05"] == after["h05"]
