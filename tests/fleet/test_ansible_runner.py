"""The rollout through ansible-runner (as AWX/AAP run playbooks): a private data directory with the inventory,
the environment and the extra variables, nothing interactive, the summary written inside that directory, and the
run's artifacts (status, rc, job events) saying every host succeeded.

ansible-runner is a PyPI package outside the project's requirements: it is installed into a virtual environment of
its own, `.venv-fleet/`, the first time (it calls the ansible-playbook of the project's ansible-core venv)."""

import glob
import json
import os
import subprocess
import sys

import pytest

from fleet.testing import CA_FILE, TESTS

REPO = os.path.dirname(TESTS)
VENV = os.path.join(REPO, ".venv-fleet")


@pytest.fixture(scope="session")
def ansible_runner_bin():
    binary = os.path.join(VENV, "bin", "ansible-runner")
    if not os.path.exists(binary):
        subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
        proc = subprocess.run([os.path.join(VENV, "bin", "python"), "-m", "pip", "install", "-q", "ansible-runner"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        assert proc.returncode == 0, "pip install ansible-runner into {0} failed:\n{1}".format(VENV, proc.stdout)
    return binary


def test_rollout_through_ansible_runner(fresh_fleet, tmp_path, ansible_runner_bin):
    import collection_path
    fleet = fresh_fleet
    pdd = tmp_path / "runner"
    for d in ("project", "inventory", "env"):
        (pdd / d).mkdir(parents=True)
    with open(fleet.inventory) as src, open(str(pdd / "inventory" / "hosts"), "w") as dst:
        dst.write(src.read())
    (pdd / "project" / "rollout.yml").write_text(
        "---\n- name: The collection's rollout, by FQCN\n  ansible.builtin.import_playbook: ocsp.stapling.rollout\n")
    (pdd / "env" / "envvars").write_text(json.dumps({
        "ANSIBLE_CONFIG": fleet.ansible_cfg, "ANSIBLE_COLLECTIONS_PATH": collection_path.ensure(),
        "OCSP_STAPLING_REPORT_DIR": str(pdd / "reports")}))
    (pdd / "env" / "extravars").write_text(json.dumps({"apache_stapling_ca_file": CA_FILE, "apache_stapling_batch": "100%"}))
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([ansible_runner_bin, "run", str(pdd), "-p", "rollout.yml", "--ident", "fleet"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=env, timeout=1200, check=False)
    artifacts = pdd / "artifacts" / "fleet"
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert (artifacts / "status").read_text().strip() == "successful"
    assert (artifacts / "rc").read_text().strip() == "0"
    stats = [json.load(open(p)) for p in glob.glob(str(artifacts / "job_events" / "*.json"))]
    stats = [e["event_data"] for e in stats if e.get("event") == "playbook_on_stats"]
    assert stats and not stats[0].get("failures") and not stats[0].get("dark"), stats
    assert sorted(stats[0]["changed"]) == sorted(h.name for h in fleet.hosts)
    with open(str(pdd / "reports" / "latest.json")) as f:
        summary = json.load(f)
    assert sorted(summary["hosts"]) == sorted(h.name for h in fleet.hosts)
    assert all(r["status"] == "changed" for r in summary["hosts"].values()), summary["totals"]
