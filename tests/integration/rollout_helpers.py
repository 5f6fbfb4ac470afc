"""Shared by the role's integration tests: a rollout lab, the rollout playbook run on it, the config tree hash."""

import json
import os

import ansible_runner


def rollout_vars(lab, tmp_path, **extra):
    out = {
        "apache_stapling_server_root": lab.apache.confdir,
        "apache_stapling_egress": False,  # never the machine's own firewall; egress is tested in namespaces
        "apache_stapling_ca_file": lab.pki.ca_bundle_path,
        "apache_stapling_journal_dir": str(tmp_path / "journal"),
        "apache_stapling_report_dir": str(tmp_path / "reports"),
    }
    out.update(extra)
    return out


def run_rollout(lab, tmp_path, playbook="ocsp.stapling.rollout", args=(), **extra):
    rc, results, out = ansible_runner.run_playbook(
        playbook, extra_args=["-e", json.dumps(rollout_vars(lab, tmp_path, **extra))] + list(args))
    return rc, results, out


def latest_report(tmp_path, name="latest"):
    """The host's report in <report_dir>/<name>.json: latest (a real rollout), audit-latest, rollout-check-latest,
    verify-latest."""
    with open(os.path.join(str(tmp_path / "reports"), name + ".json")) as f:
        return json.load(f)["hosts"]["localhost"]
