"""The guard route stays while any other fleet of ours exists on the machine: taking one fleet down never removes it
while another fleet is registered (in the same state directory) or has its bridge up (a fleet of another checkout or
session, $OCSP_FLEET_DIR / $OCSP_FLEET_INDEX). Two sessions may run fleets on one machine.

These tests make no hosts: fleets registered by their state file only (indexes 250 and 251, in a directory of the
test's own), and a bare bridge named as a fleet's (index 200-249). The machine's guard route is left as it was found."""

import json
import os
import subprocess

import pytest

from fleet import Fleet
from fleet.fleet import RANGE, guard_route_present, link_names

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="routes and links need root")


def register(base, name, index):
    """A fleet known by its state file only (what up() writes first), with nothing made yet."""
    fleet = Fleet(name, index=index, base_dir=str(base))
    os.makedirs(fleet.dir)
    fleet.state = {"name": name, "index": index, "hosts": [], "responder": None, "bridge": None, "guard": False}
    with open(fleet.state_file, "w") as f:
        json.dump(fleet.state, f)
    return fleet


def other_fleets_on_the_machine(*ours):
    """Bridges of fleets this test did not make (the fleet stage may run beside it)."""
    return [n for n in link_names() if n.startswith("ofl") and n.endswith("br") and n not in ours]


@pytest.fixture
def guard():
    """The guard route present for the test; afterwards as it was found (removed only if this test added it and no
    fleet of ours exists now)."""
    had = guard_route_present()
    if not had:
        subprocess.run(["ip", "route", "add", "unreachable", str(RANGE)], check=True)
    try:
        yield
    finally:
        if not had and guard_route_present() and not other_fleets_on_the_machine():
            subprocess.run(["ip", "route", "del", "unreachable", str(RANGE)], check=False)


def test_down_keeps_the_guard_while_another_fleet_is_registered(tmp_path, guard):
    first = register(tmp_path, "guard-a", 250)
    second = register(tmp_path, "guard-b", 251)
    first.down()
    assert guard_route_present()
    assert not os.path.exists(first.dir) and os.path.exists(second.dir)
    second.down()
    # The last fleet of this state directory: the guard goes unless a fleet elsewhere on the machine still needs it.
    assert guard_route_present() == bool(other_fleets_on_the_machine())


def test_down_keeps_the_guard_while_a_fleet_of_another_state_directory_is_up(tmp_path, guard):
    """Another checkout's or session's fleet is not in this state directory; its bridge shows it exists."""
    bridge = "ofl{0}br".format(200 + os.getpid() % 50)  # two sessions running this test do not meet
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        register(tmp_path, "guard-a", 250).down()
        assert guard_route_present()
    finally:
        subprocess.run(["ip", "link", "del", bridge], check=False)
