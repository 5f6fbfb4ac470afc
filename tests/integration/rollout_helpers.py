"""Shared by the role's integration tests: a rollout lab, the rollout playbook run on it, the config tree hash."""

import hashlib
import json
import os

import ansible_runner


def tree_digest(root):
    """sha256 over every path, file content and symlink target below root (byte-identical trees compare equal)."""
    h = hashlib.sha256()
    for base, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            h.update(os.path.relpath(path, root).encode() + b"\0")
            if os.path.islink(path):
                h.update(b"L" + os.readlink(path).encode() + b"\0")
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    h.update(b"F" + f.read() + b"\0")
    return h.hexdigest()


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


def latest_report(tmp_path):
    with open(os.path.join(str(tmp_path / "reports"), "latest.json")) as f:
        return json.load(f)["hosts"]["localhost"]
