"""Fixtures of the fleet stage: one fleet per session (N hosts, $OCSP_FLEET_N, default 6), made again from the image
before each test that needs fresh hosts."""

import os

import pytest

from fleet import Fleet, default_profile

FLEET_N = int(os.environ.get("OCSP_FLEET_N", "6"))
# One fleet per index on this machine (172.29.INDEX.0/24): a second session runs its own with another index and name.
FLEET_INDEX = int(os.environ.get("OCSP_FLEET_INDEX", "2"))
FLEET_NAME = os.environ.get("OCSP_FLEET_NAME") or ("test" if FLEET_INDEX == 2 else "test{0}".format(FLEET_INDEX))


@pytest.fixture(scope="session")
def fleet():
    """The session's fleet ("test", 172.29.2.0/24, unless $OCSP_FLEET_INDEX names another index), taken down at the
    end whatever happened."""
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
