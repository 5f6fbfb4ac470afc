"""The harness itself: a fleet comes up isolated (own namespaces, no route out, the guard route), refuses to start
over what it did not create, and `down` leaves nothing behind."""

import os
import subprocess

import pytest

from fleet import Fleet, FleetError, image
from fleet.testing import SELFTEST_INDEX, SELFTEST_NAME
from fleet.fleet import BASE_DIR, PREFIX, RANGE, guard_route_present, link_names, mounts_below, netns_list, routes


def machine_snapshot():
    """What of ours exists on the machine (other suites make and remove their own namespaces meanwhile): namespaces
    and links named ofl*, routes into the fleet range, mounts below the fleets' directory or the image cache."""
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(line.split()[4] for line in f
                        if line.split()[4].startswith((BASE_DIR, image.CACHE_ROOT)))
    prefix = str(RANGE.network_address).rsplit(".", 2)[0] + "."
    return {"netns": sorted(n for n in netns_list() if n.startswith(PREFIX)),
            "links": sorted(n for n in link_names() if n.startswith(PREFIX)),
            "routes": sorted(r for r in routes() if prefix in r), "mounts": mounts}


def test_up_isolated_then_down_leaves_nothing():
    before = machine_snapshot()
    fleet = Fleet(SELFTEST_NAME, index=SELFTEST_INDEX)
    try:
        fleet.up(2)
        hosts = fleet.hosts
        pids = [fleet.state["responder"]["pid"]]
        for h in hosts:
            assert h.alive()
            procs = h.processes()
            names = dict((nspid, name) for _pid, nspid, name in procs)
            assert names[1] == "tini", procs  # the host's own PID namespace, tini as its init
            assert "sshd" in names.values() and "apache2" in names.values(), procs
            pids += [pid for pid, _nspid, _name in procs] + [h.record["unshare"]["pid"]]
            # Its own UTS and mount namespaces, its own root.
            assert h.exec(["hostname"]).stdout.strip() == h.name
            assert os.readlink("/proc/{0}/ns/mnt".format(h.init["pid"])) != os.readlink("/proc/self/ns/mnt")
            assert h.exec(["cat", "/etc/hostname"]).stdout.strip() == h.name
            # No default route: nothing leaves the bridge; the machine's own network is unreachable from the host.
            assert "default" not in h.exec(["ip", "route"]).stdout
            assert h.exec(["ip", "route", "get", "192.0.2.1"], check=False).returncode != 0
            # Key-based root SSH from the controller, host key checked against the fleet's known_hosts.
            assert fleet.ssh(h, "cat /etc/hostname").stdout.strip() == h.name
        # The guard: an address of the range outside every fleet's /24 is unreachable from this machine.
        assert guard_route_present()
        probe = subprocess.run(["ip", "route", "get", str(RANGE.network_address + 250 * 256 + 9)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        assert probe.returncode != 0 or "unreachable" in probe.stdout, probe.stdout
        with open(fleet.inventory) as f:
            inventory = f.read()
        assert all("{0} ansible_host={1}".format(h.name, h.address) in inventory for h in hosts)
        state_dir = fleet.dir
    finally:
        fleet.down()
    assert machine_snapshot() == before
    assert not os.path.exists(state_dir) and not mounts_below(state_dir)
    alive = [p for p in pids if os.path.exists("/proc/{0}".format(p))
             and open("/proc/{0}/stat".format(p)).read().rsplit(") ", 1)[1][0] != "Z"]
    assert not alive


def test_up_refuses_over_what_it_did_not_create():
    before = machine_snapshot()
    bridge = "{0}{1}br".format(PREFIX, SELFTEST_INDEX)
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)  # someone else's, by its name
    try:
        with pytest.raises(FleetError) as err:
            Fleet(SELFTEST_NAME, index=SELFTEST_INDEX).up(1)
        assert "did not create" in str(err.value) and bridge in str(err.value)
        assert not [n for n in netns_list() if n.startswith("{0}{1}-".format(PREFIX, SELFTEST_INDEX))]
        assert not os.path.exists(Fleet(SELFTEST_NAME, index=SELFTEST_INDEX).dir)
    finally:
        subprocess.run(["ip", "link", "del", bridge], check=True)
    assert machine_snapshot() == before


def test_up_refuses_a_second_fleet_of_the_same_name(fleet):
    with pytest.raises(FleetError) as err:
        Fleet(fleet.name, index=fleet.index).up(1)
    assert "already up" in str(err.value)
    assert all(h.alive() for h in fleet.hosts)


def test_image_is_cached_by_recipe_hash():
    path = image.build()
    assert path == os.path.join(image.CACHE_ROOT, image.recipe_hash(), "rootfs")
    stamp = os.path.join(os.path.dirname(path), "complete.json")
    mtime = os.stat(stamp).st_mtime
    assert image.build() == path and os.stat(stamp).st_mtime == mtime  # reused, not rebuilt
    for tool in ("usr/bin/tini", "usr/sbin/sshd", "usr/sbin/apache2", "usr/sbin/nft", "usr/sbin/iptables",
                 "usr/bin/curl", "etc/apache2/mods-enabled/ssl.load", "etc/apache2/mods-enabled/socache_shmcb.load"):
        assert os.path.lexists(os.path.join(path, tool)), tool
    assert not [n for n in os.listdir(os.path.join(path, "etc/ssh")) if n.startswith("ssh_host_")]


def test_trixie_image_beside_bookworm():
    """Debian 13's image: its own recipe hash (the suite is part of it), Python 3.13, mod_ssl enabled (stock trixie has
    it off), and its own package source of trixie's .debs."""
    path = image.build(suite="trixie")
    assert image.recipe_hash("trixie") != image.recipe_hash() and path == image.rootfs("trixie")
    assert os.path.exists(os.path.join(path, "usr/bin/python3.13"))
    assert os.path.lexists(os.path.join(path, "etc/apache2/mods-enabled/ssl.load"))
    debs = sorted(n for n in os.listdir(image.repo_dir("trixie")) if n.endswith(".deb"))
    assert [n.split("_")[0] for n in debs] == ["python3-cffi-backend", "python3-cryptography", "python3-openssl"]
    assert [n for n in debs if n.startswith("python3-openssl_25.")], debs
