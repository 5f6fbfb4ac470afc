"""Fixtures of the fleet stage: one fleet per session (N hosts, $OCSP_FLEET_N, default 6), made again from the image
before each test that needs fresh hosts.

$OCSP_FLEET_INDEX (default 2) chooses the session fleet's /24 (172.29.INDEX.0/24) and name ("test" for 2, else
"test<INDEX>"), so two sessions can run side by side; never two with the same index. The harness's own fleet takes
the next index (3 for the default)."""

import os

import pytest

from fleet import Fleet, default_profile

from fleet.testing import FLEET_INDEX, FLEET_NAME

FLEET_N = int(os.environ.get("OCSP_FLEET_N", "6"))


@pytest.fixture(scope="session")
def fleet():
    """The session's fleet ("test", 172.29.2.0/24 by default), taken down at the end whatever happened."""
    the_fleet = Fleet(FLEET_NAME, index=FLEET_INDEX)
    the_fleet.up(FLEET_N)
    try:
        yield the_fleet
    finally:
        the_fleet.down()


@pytest.fixture
def fresh_fleet(fleet):
    """The session's fleet with every host made again from the image in the default profile (no stapling)."""
    return fleet.reset(default_profile)


def pytest_terminal_summary(terminalreporter):
    """Print the load test's table (requests sent and failed per host) at the end of the run."""
    from fleet.test_load import REPORT
    for line in REPORT:
        terminalreporter.write_line(line)
