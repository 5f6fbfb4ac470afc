"""ocsp.stapling.verify as a monitoring check on the lab: its exit status for every case a monitoring system meets
(all valid, one invalid, a must-staple certificate without a staple, nothing to verify, a staple close to its
nextUpdate), and the run as Prometheus metrics: read back by prometheus_client's parser, and served by Debian's real
node_exporter (its textfile collector) on loopback."""

import json
import os
import re
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import ansible_runner
from lab.procs import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def verify(tmp_path, **extra):
    reports = tmp_path / "reports"
    rc, _results, out = ansible_runner.run_playbook(
        "ocsp.stapling.verify", extra_args=["-e", json.dumps(dict({"apache_stapling_report_dir": str(reports)},
                                                                  **extra))])
    with open(str(reports / "verify-latest.json")) as f:
        return rc, out, json.load(f)["hosts"]["localhost"]


def families(path):
    with open(path) as f:
        return dict((f.name, f) for f in text_string_to_metric_families(f.read()))


def test_all_valid_exits_0_and_writes_metrics(lab, tmp_path):
    targets = [lab.vhosts[n] for n in ("good", "must_staple", "second_issuer")]
    metrics = tmp_path / "textfile" / "ocsp_stapling.prom"
    metrics.parent.mkdir()
    rc, out, host = verify(tmp_path, ocsp_stapling_verify_targets=targets,
                           ocsp_stapling_verify_ca_file=lab.pki.ca_bundle_path,
                           ocsp_stapling_verify_metrics_file=str(metrics))
    assert rc == 0, out[-3000:]
    assert host["outcome"] == "ok" and host["cause"] is None
    fam = families(str(metrics))
    stapled = fam["ssl_ocsp_response_stapled"].samples
    assert sorted(s.labels["vhost"] for s in stapled) == sorted(t["sni"] for t in targets)  # one per verified vhost
    assert [s.value for s in stapled] == [1, 1, 1]
    by = dict((v["server_name"], v) for v in host["vhosts"])
    for s in fam["ssl_ocsp_response_next_update"].samples:
        staple = by[s.labels["vhost"]]["staple"]
        assert s.value > time.time() and staple["valid"] and s.labels["serial"] == \
            by[s.labels["vhost"]]["certificate"]["serial"]
    assert len(fam["ssl_ocsp_response_produced_at"].samples) == 3
    assert fam["ocsp_stapling_verify_success"].samples[0].value == 1
    assert os.listdir(str(metrics.parent)) == ["ocsp_stapling.prom"]  # no temporary left


def test_one_invalid_target_exits_non_zero(lab, tmp_path):
    rc, out, host = verify(tmp_path, ocsp_stapling_verify_targets=[lab.vhosts["good"], lab.vhosts["no_uri"]],
                           ocsp_stapling_verify_ca_file=lab.pki.ca_bundle_path)
    assert rc != 0, out[-3000:]
    assert host["outcome"] == "failed" and host["cause"]["code"] == "verification_failed"
    assert host["cause"]["msg"] == "1 target(s) without a valid staple: {0} (no_staple)".format(
        lab.vhosts["no_uri"]["sni"])
    assert "Fix: make the responder reachable" in out


def test_must_staple_without_a_staple_fails_even_when_not_required(rollout_lab, tmp_path):
    """The rollout lab staples nothing yet: the must-staple certificate is served without a staple."""
    rc, out, host = verify(tmp_path, ocsp_stapling_verify_targets=[rollout_lab.apache.vhosts["must_staple"]],
                           ocsp_stapling_verify_require=False,
                           ocsp_stapling_verify_ca_file=rollout_lab.pki.ca_bundle_path)
    assert rc != 0, out[-3000:]
    assert host["outcome"] == "failed"
    assert "must_staple_unsatisfied" in host["vhosts"][0]["staple"]["error_codes"]


def test_nothing_to_verify_fails_unless_allowed(rollout_lab, tmp_path):
    """No vhost of this Apache has stapling in force: before the fix the run exited 0 and the page said "1 ok"."""
    common = {"apache_stapling_server_root": rollout_lab.apache.confdir}
    rc, out, host = verify(tmp_path, **common)
    assert rc != 0, out[-3000:]
    assert host["outcome"] == "failed" and host["cause"]["code"] == "nothing_to_verify"
    assert "no TLS vhost of this Apache has stapling in force" in host["cause"]["msg"]
    with open(str(tmp_path / "reports" / "verify-latest.md")) as f:
        md = f.read()
    assert "nothing to verify" in md and "ocsp\\_stapling\\_verify\\_allow\\_empty" in md
    rc, out, host = verify(tmp_path, ocsp_stapling_verify_allow_empty=True, **common)
    assert rc == 0, out[-3000:]
    assert host["outcome"] == "ok" and host["vhosts"] == []


def test_a_staple_closer_to_next_update_than_the_margin_warns(lab, tmp_path):
    """The lab's responder signs responses valid for one hour: a margin of two hours puts every staple inside it."""
    metrics = tmp_path / "m.prom"
    rc, out, host = verify(tmp_path, ocsp_stapling_verify_targets=[lab.vhosts["good"]],
                           ocsp_stapling_verify_ca_file=lab.pki.ca_bundle_path,
                           ocsp_stapling_verify_min_validity=7200, ocsp_stapling_verify_metrics_file=str(metrics))
    assert rc == 0, out[-3000:]  # a warning, not a failure
    staple = host["vhosts"][0]["staple"]
    assert staple["valid"] and staple["expiring"] is True and 0 < staple["left"] < 7200
    assert "WARNING: staples close to their nextUpdate" in out and "closer to nextUpdate than 7200" in out
    with open(str(tmp_path / "reports" / "verify-latest.md")) as f:
        assert "verified, expiring" in f.read()
    rc, out, host = verify(tmp_path, ocsp_stapling_verify_targets=[lab.vhosts["good"]],
                           ocsp_stapling_verify_ca_file=lab.pki.ca_bundle_path)
    assert rc == 0 and host["vhosts"][0]["staple"]["expiring"] is False  # one third of an hour: not yet
    assert "closer to nextUpdate than" not in out


# --- Debian's node_exporter reads the file -------------------------------------------------------------------------

def node_exporter_binary():
    """prometheus-node-exporter from Debian, unpacked once under .cache/ (not installed: its package starts a daemon
    on every interface)."""
    cache = os.path.join(ROOT, ".cache", "node-exporter")
    binary = os.path.join(cache, "root", "usr", "bin", "prometheus-node-exporter")
    if os.path.isfile(binary):
        return binary
    os.makedirs(cache, exist_ok=True)
    proc = subprocess.run(["apt-get", "download", "prometheus-node-exporter"], cwd=cache, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    assert proc.returncode == 0, "apt-get download prometheus-node-exporter failed: " + proc.stdout[-2000:]
    deb = [n for n in os.listdir(cache) if n.endswith(".deb")][0]
    subprocess.run(["dpkg-deb", "-x", os.path.join(cache, deb), os.path.join(cache, "root")], check=True, timeout=120)
    assert os.path.isfile(binary)
    return binary


@pytest.fixture
def node_exporter(tmp_path):
    directory = tmp_path / "textfile"
    directory.mkdir()
    port = free_port()
    proc = subprocess.Popen([node_exporter_binary(), "--web.listen-address=127.0.0.1:{0}".format(port),
                             "--collector.disable-defaults", "--collector.textfile",
                             "--collector.textfile.directory={0}".format(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:{0}/metrics".format(port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "node_exporter did not start"
                time.sleep(0.1)
        yield directory, url
    finally:
        proc.terminate()  # by its PID
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_node_exporter_serves_the_metrics(lab, tmp_path, node_exporter):
    directory, url = node_exporter
    targets = [lab.vhosts[n] for n in ("good", "second_issuer", "no_uri")]
    rc, out, host = verify(tmp_path, ocsp_stapling_verify_targets=targets, ocsp_stapling_verify_require=False,
                           ocsp_stapling_verify_ca_file=lab.pki.ca_bundle_path,
                           ocsp_stapling_verify_metrics_file=str(directory / "ocsp_stapling.prom"))
    assert rc == 0, out[-3000:]
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert re.search(r"^node_textfile_scrape_error 0$", text, re.M), text[-2000:]
    served = dict((f.name, f) for f in text_string_to_metric_families(text))
    stapled = dict((s.labels["vhost"], s.value) for s in served["ssl_ocsp_response_stapled"].samples)
    assert stapled == {lab.vhosts["good"]["sni"]: 1, lab.vhosts["second_issuer"]["sni"]: 1,
                       lab.vhosts["no_uri"]["sni"]: 0}
    assert len(served["ssl_ocsp_response_next_update"].samples) == 2
    assert served["ocsp_stapling_verify_success"].samples[0].value == 1
    # the alerting rule of the README: a staple closer than an hour to nextUpdate (the lab's are valid for one hour)
    now = time.time()
    assert all(s.value - now < 3600 for s in served["ssl_ocsp_response_next_update"].samples)
