"""Integration fixtures: run modules through ansible-playbook against the lab."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ansible_runner  # noqa: E402


@pytest.fixture
def run_module():
    return ansible_runner.run_module


@pytest.fixture
def run_playbook():
    return ansible_runner.run_playbook
