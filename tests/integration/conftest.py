"""Integration fixtures: run modules through ansible-playbook against the lab."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import ansible_runner  # noqa: E402
from lab import ROLLOUT_VHOSTS, ApacheSandbox, FaultResponder, Lab  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "toolchain: uses ansible-builder, ansible-navigator or ansible-runner, which only the ansible-core "
        "2.19 venv carries (the integration-2.16 stage deselects these)")
    config.addinivalue_line(
        "markers", "core_matrix: the tests the integration-2.16 stage runs on the oldest ansible-core line: every "
        "module, the role (rollout, rollback, gate, audit) and every playbook once, through ansible-core's own "
        "argument parsing, check/diff mode, templating and callbacks; the full set runs on 2.19")


# The longest tests (a minute or more each: whole playbook runs, the toolchain recipes) go first, so that under
# pytest-xdist the workers do not wait at the end for one worker's last long test.
SLOW_FIRST = ("test_recipes.py", "test_execution_environment.py", "test_role_rollout.py", "test_report_outcomes.py",
              "test_report_playbooks.py", "test_verify_monitoring.py", "test_apache_config_cases.py",
              "test_ocsp_egress.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = os.path.basename(str(item.fspath))
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)
    items.sort(key=rank)  # stable: the order within a file and among the rest stays


@pytest.fixture
def run_module():
    return ansible_runner.run_module


@pytest.fixture
def run_playbook():
    return ansible_runner.run_playbook


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """The default lab (PKI, openssl ocsp, fault responder, Apache with one stapling vhost per leaf),
    started once per test session and stopped at its end, even on failure."""
    the_lab = Lab(str(tmp_path_factory.mktemp("lab")))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def rollout_lab(tmp_path):
    """A lab of its own as the rollout finds it (the role's vhosts, no stapling configured anywhere), for a test
    that changes it; taken down afterwards."""
    the_lab = Lab(str(tmp_path / "lab"))
    the_lab.up(vhosts=ROLLOUT_VHOSTS, stapling=False)
    try:
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def apache_sandbox(tmp_path):
    """A fresh, stopped Apache sandbox for one test; stopped (by PID) afterwards."""
    sandbox = ApacheSandbox(str(tmp_path))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def fault_responder(lab, tmp_path):
    """A private fault responder over the lab's PKI (switch its mode freely); stopped afterwards."""
    responder = FaultResponder(lab.pki.directory, str(tmp_path)).start()
    try:
        yield responder
    finally:
        responder.stop()
