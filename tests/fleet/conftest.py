"""Fixtures of the fleet stage: one fleet per session (N hosts, $OCSP_FLEET_N, default 6), made again from the image
before each test that needs fresh hosts. $OCSP_FLEET_INDEX (default 2) is the session fleet's index, the third octet
of its /24: a second session on the same machine takes another one (its fleet is then named "test<index>", or
$OCSP_FLEET_NAME; the harness's own fleet takes the first index above it that nothing on the machine uses)."""

import os
import threading

import pytest

from fleet import Fleet, default_profile, image

FLEET_N = int(os.environ.get("OCSP_FLEET_N", "6"))
FLEET_INDEX = int(os.environ.get("OCSP_FLEET_INDEX", "2"))
FLEET_NAME = os.environ.get("OCSP_FLEET_NAME") or ("test" if FLEET_INDEX == 2 else "test{0}".format(FLEET_INDEX))
# Tests whose hosts need Debian 13's image (the others use bookworm's).
NEEDS_TRIXIE = ("test_platforms.py", "test_trixie_image")


def _prebuild(suite, failed):
    try:
        image.build(suite=suite)
    except (image.ImageError, OSError) as exc:
        failed.append(exc)  # the test that needs the image builds it again and fails with the message


@pytest.fixture(scope="session")
def fleet(request):
    """The session's fleet ("test", 172.29.2.0/24, or "test<K>", 172.29.K.0/24), taken down at the end whatever
    happened. On a machine without trixie's image, when a collected test needs it, it is built beside bookworm's and
    the session's hosts (a build mostly waits on downloads and disk): on a fresh machine that saves the second build's
    minutes."""
    prebuild = None
    if image.rootfs("trixie") is None and any(any(n in item.nodeid for n in NEEDS_TRIXIE)
                                              for item in request.session.items):
        prebuild = threading.Thread(target=_prebuild, args=("trixie", []), name="fleet-image-trixie")
        prebuild.start()
    the_fleet = Fleet(FLEET_NAME, index=FLEET_INDEX)
    try:
        the_fleet.up(FLEET_N)
        yield the_fleet
    finally:
        the_fleet.down()
        if prebuild is not None:
            prebuild.join()  # its debootstrap and apt processes end with the build


@pytest.fixture
def fresh_fleet(fleet):
    """The session's fleet with every host made again from the image in the default profile (no stapling)."""
    return fleet.reset(default_profile)


def pytest_terminal_summary(terminalreporter):
    """Print the load test's table (requests sent and failed per host) at the end of the run."""
    from fleet.test_load import REPORT
    for line in REPORT:
        terminalreporter.write_line(line)
