"""Every playbook runs by FQCN: ansible-playbook --syntax-check ocsp.stapling.NAME (ansible-core of this venv)."""

import os
import subprocess

import pytest

import ansible_runner

PLAYBOOKS = ("rollout", "audit", "verify", "report")


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_syntax_check_by_fqcn(name, tmp_path):
    inventory = ansible_runner.localhost_inventory(str(tmp_path))
    proc = subprocess.run(
        [os.path.join(ansible_runner.BIN, "ansible-playbook"), "-i", inventory, "--syntax-check",
         "ocsp.stapling." + name],
        env=ansible_runner.ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=120, check=False)
    ansible_runner.check_deprecations(proc.stdout)
    assert proc.returncode == 0, proc.stdout
    assert "playbook: " in proc.stdout


def test_every_playbook_is_tested():
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "playbooks")
    assert sorted(f[:-4] for f in os.listdir(here) if f.endswith(".yml")) == sorted(PLAYBOOKS)


def test_unknown_playbook_fails_the_syntax_check(tmp_path):
    """The oracle can fail: a playbook that does not exist is refused."""
    inventory = ansible_runner.localhost_inventory(str(tmp_path))
    proc = subprocess.run(
        [os.path.join(ansible_runner.BIN, "ansible-playbook"), "-i", inventory, "--syntax-check",
         "ocsp.stapling.no_such_playbook"],
        env=ansible_runner.ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=120, check=False)
    assert proc.returncode != 0
