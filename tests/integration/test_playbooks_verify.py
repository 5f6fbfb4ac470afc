"""ocsp.stapling.verify against the lab: targets default from apache_info; the JSON summary is written (its own
verify-*.json, never the rollout's latest.json)."""

import glob
import json
import os

import pytest

import ansible_runner


@pytest.mark.core_matrix
def test_verify_defaults_its_targets_from_apache_info(lab, tmp_path):
    reports = str(tmp_path / "reports")
    rc, results, out = ansible_runner.run_playbook(
        "ocsp.stapling.verify",
        extra_args=["-e", json.dumps({"apache_stapling_server_root": lab.apache.confdir,
                                      "ocsp_stapling_verify_require": False,
                                      "ocsp_stapling_verify_ca_file": lab.pki.ca_bundle_path,
                                      "apache_stapling_report_dir": reports})])
    assert rc == 0, out
    staple = [r for r in results if r["task"] == "Handshake with each target and judge its staple"][0]["result"]
    got = {(r["sni"], r["port"]) for r in staple["results"]}
    # every lab vhost has SSLUseStapling on: all of them are targets, on their own address and port
    assert got == {(t["sni"], t["port"]) for t in lab.vhosts.values()}
    valid = {r["sni"]: r["valid"] for r in staple["results"]}
    assert valid[lab.vhosts["good"]["sni"]] is True and valid[lab.vhosts["no_uri"]["sni"]] is False

    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(reports, "*.json")))
    assert "verify-latest.json" in files and any(f.startswith("verify-2") for f in files) and len(files) == 2
    with open(os.path.join(reports, "verify-latest.json")) as f:
        doc = json.load(f)
    assert doc["schema"] == "ocsp.stapling/report/1" and doc["playbook"] == "verify"
    host = doc["hosts"]["localhost"]
    assert host["apache"]["version"] and host["status"] == "ok" and host["outcome"] == "ok"
    v = {x["server_name"]: x for x in host["vhosts"]}
    assert v[lab.vhosts["good"]["sni"]]["staple"]["valid"] is True
    assert v[lab.vhosts["good"]["sni"]]["staple"]["signer"] in ("issuer", "delegated")
    assert v[lab.vhosts["no_uri"]["sni"]]["staple"]["present"] is False


def test_verify_with_require_fails_the_host_and_still_reports(lab, tmp_path):
    reports = str(tmp_path / "reports")
    no_uri = lab.vhosts["no_uri"]
    rc, _results, out = ansible_runner.run_playbook(
        "ocsp.stapling.verify",
        extra_args=["-e", json.dumps({"ocsp_stapling_verify_targets": [no_uri], "apache_stapling_report_dir": reports})])
    assert rc != 0, out
    with open(os.path.join(reports, "verify-latest.json")) as f:
        doc = json.load(f)
    host = doc["hosts"]["localhost"]
    assert host["status"] == "failed" and host["vhosts"][0]["staple"]["present"] is False


def test_a_relative_report_dir_is_the_controllers_working_directory(lab, tmp_path):
    """Not beside the playbook (inside the installed collection when it runs by FQCN): where ansible-playbook runs."""
    good = lab.vhosts["good"]
    rc, _results, out = ansible_runner.run_playbook(
        "ocsp.stapling.verify", cwd=str(tmp_path),
        extra_args=["-e", json.dumps({"ocsp_stapling_verify_targets": [good], "apache_stapling_report_dir": "reports",
                                      "ocsp_stapling_verify_ca_file": lab.pki.ca_bundle_path})])
    assert rc == 0, out
    assert os.path.isfile(os.path.join(str(tmp_path), "reports", "verify-latest.json"))
    assert "{0}/reports/verify-latest.json".format(tmp_path) in out
