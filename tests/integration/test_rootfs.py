"""The root file systems of the controller lanes (tests/rootfs; Debian 13, where 2.20-2.22 run on Debian 12): what a run inside sees, and that it
leaves nothing behind: no process, no mount, no change to the cached root, the machine's /etc/apache2 untouched.

Built with debootstrap on first use (cached; scripts/setup.sh builds it when a line runs there)."""

import os
import subprocess
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import rootfs  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the root file system needs root (namespaces, mounts)")


@pytest.fixture(scope="module")
def root():
    return rootfs.build()


def run_inside(tmp_path, script, binds=(), env=None):
    """Run a sh script inside (binds: directories at the same path); (status, what it wrote to tmp_path/out)."""
    out = tmp_path / "out"
    status = rootfs.run(["sh", "-c", '{ ' + script + '\n} > "$OUT" 2>&1', "inner"], binds=[str(tmp_path)] + list(binds),
                        cwd=str(tmp_path), env=dict(env or {}, OUT=str(out)))
    return status, out.read_text() if out.exists() else ""


def host_processes_with(marker):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/{0}/cmdline".format(pid), "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


def test_inside_is_debian_13_with_its_own_pid_namespace_and_etc(root, tmp_path):
    status, out = run_inside(tmp_path, ". /etc/os-release; echo version=$VERSION_ID; cat /proc/1/comm; "
                                       "ls /proc | grep -c '^[0-9]'; python3 -c 'import sys; print(sys.version_info[:2])'; "
                                       "apache2 -v | head -1; test -e /etc/apache2/apache2.conf && echo apache2-conf")
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0] == "version=13", out
    assert lines[1] == "tini", out  # PID 1 of the run's own PID namespace
    assert int(lines[2]) < 10, out  # only the run's processes, none of the machine's (its Apache among them)
    assert lines[3] == "(3, 13)", out
    assert "Apache/2.4" in lines[4] and lines[5] == "apache2-conf", out


def test_the_checkout_is_at_the_same_path_and_writable(root, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "marker").write_text("from the host\n")
    status, out = run_inside(tmp_path, 'cat "$CHECKOUT/marker"; echo inside > "$CHECKOUT/written"',
                             binds=[str(checkout)], env={"CHECKOUT": str(checkout)})
    assert status == 0, out
    assert out == "from the host\n"
    assert (checkout / "written").read_text() == "inside\n"


def test_the_package_index_is_reached_as_the_host_reaches_it(root, tmp_path):
    """pip inside has this machine's configuration (files, CA bundle) and finds a package on the index."""
    status, out = run_inside(tmp_path, "python3 -m venv /tmp/v && /tmp/v/bin/python -m pip download -q --no-deps "
                                       "-d /tmp/dl jmespath && ls /tmp/dl")
    assert status == 0, out
    assert "jmespath-" in out


def test_a_run_leaves_no_process_no_mount_and_no_change(root, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setattr(rootfs, "RUN_ROOT", str(runs))
    marker = "3017.{0}".format(uuid.uuid4().int % 10 ** 6)
    probe = "/etc/apache2/ocsp-rootfs-probe-{0}".format(uuid.uuid4().hex)
    status, out = run_inside(tmp_path, "sleep {0} & sleep {0} & touch {1} /written-by-the-run; "
                                       "echo started".format(marker, probe))
    assert status == 0 and "started" in out, out
    # The two sleeps outlived the command: the end of the run's PID namespace ended them.
    assert host_processes_with("sleep\0" + marker) == []
    assert not os.path.exists(probe), "the machine's /etc/apache2 was written"
    assert not os.path.exists(os.path.join(root, probe.lstrip("/")))
    assert not os.path.exists(os.path.join(root, "written-by-the-run")), "the cached root was written"
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    assert str(runs) not in mounts and root not in mounts
    assert os.listdir(str(runs)) == []  # the run's overlay upper and work directories are gone


def test_a_failing_command_reports_its_status(root, tmp_path):
    status, _out = run_inside(tmp_path, "exit 7")
    assert status == 7


def test_info_records_the_versions_of_the_root(root):
    found = rootfs.info()
    assert found["suite"] == "trixie" and found["name"] == "trixie"
    assert found["versions"]["python3"].startswith("3.13")
    assert set(found["versions"]) >= {"apache2", "openssl", "python3-cryptography"}
    said = subprocess.run([sys.executable, "-m", "rootfs", "python"], cwd=os.path.dirname(HERE), check=True,
                          stdout=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)))
    assert said.stdout == "3.13\n"


def test_on_debian_13_set_up_runs_2_16_in_the_debian_12_root(root, tmp_path):
    """A Debian 13 machine (this root's userland: Python 3.13 and nothing older) has no Python for the floor, 2.16
    (3.10-3.12): set-up places it in the Debian 12 root file system (bookworm's 3.11), and every other line on the
    machine's own Python. The plan only: nothing is installed or built."""
    repo = os.path.dirname(os.path.dirname(HERE))
    status, out = run_inside(tmp_path, "cd {0} && OCSP_SETUP_PLAN=1 ./scripts/setup.sh".format(repo), binds=[repo])
    assert status == 0, out
    where = dict(line.split(" ", 1) for line in out.splitlines() if line[:2] == "2.")
    assert where.pop("2.16") == "rootfs:bookworm", out
    assert where and all(w.startswith("host ") for w in where.values()), out
    # Without root file systems (OCSP_ROOTFS=0) the floor is not run, and set-up says why.
    status, out = run_inside(tmp_path, "cd {0} && OCSP_SETUP_PLAN=1 OCSP_ROOTFS=0 ./scripts/setup.sh 2.16".format(repo),
                             binds=[repo])
    assert status == 0 and out.startswith("2.16 none needs Python 3.10, 3.11, 3.12; found 3.13"), out
