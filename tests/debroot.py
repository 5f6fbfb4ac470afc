"""Debian root file systems made with debootstrap and cached: the steps the controller lanes' roots
(``tests/rootfs``) and the fleet's images (``tests/fleet/image.py``) share.

A build runs in two phases, so no package script ever starts a daemon on this machine: ``debootstrap
--variant=minbase`` (no services), then ``apt-get install`` of the rest inside the new root with a ``policy-rc.d``
that forbids starting anything. Both run in private mount and PID namespaces (``unshare``): the ``/proc`` and
``/dev`` they mount in the new root vanish with them. The result is built beside its final place
(``<dir>.building``), recorded in ``complete.json`` and renamed into place, under a lock, so concurrent callers wait
for one build and a half-made root is never used.
"""

import fcntl
import json
import os
import shutil
import subprocess
import time

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
PRIVATE = ("unshare", "--mount", "--pid", "--fork", "--propagation", "private")


def complete(directory):
    """The root file system of a finished build in ``directory`` (None when there is none)."""
    return os.path.join(directory, "rootfs") if os.path.exists(os.path.join(directory, "complete.json")) else None


def run_logged(argv, log, error, **kw):
    """Run argv with its output in the build log; raise ``error`` naming the command and the log when it fails."""
    log.write(("$ " + " ".join(argv) + "\n").encode())
    log.flush()
    proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False, **kw)
    if proc.returncode != 0:
        raise error("{0} exited {1}; see {2}".format(" ".join(argv[:3]), proc.returncode, log.name))


def bootstrap(suite, root, log, error, purpose):
    """Phase one: a minimal Debian ``suite`` in ``root`` with the suite's updates and security sources, and a
    ``policy-rc.d`` that forbids starting daemons (``purpose`` says in it what the root is for)."""
    if shutil.which("debootstrap") is None:
        raise error("debootstrap is not installed: apt-get install debootstrap (scripts/apt-packages.txt)")
    run_logged(list(PRIVATE) + ["debootstrap", "--variant=minbase", "--components=main", suite, root, MIRROR],
               log, error)
    with open(os.path.join(root, "etc/apt/sources.list"), "w") as f:
        f.write("deb {0} {1} main\ndeb {0} {1}-updates main\ndeb {2} {1}-security main\n".format(
            MIRROR, suite, SECURITY))
    policy = os.path.join(root, "usr/sbin/policy-rc.d")
    with open(policy, "w") as f:
        f.write("#!/bin/sh\n# {0}: no package script starts a daemon\nexit 101\n".format(purpose))
    os.chmod(policy, 0o755)


def install(root, script, name, packages, log, error, env=None):
    """Phase two: ``script`` (sh; ``$1`` the root, then the packages) in private namespaces, then the root may start
    daemons again."""
    run_logged(list(PRIVATE) + ["/bin/sh", "-c", script, name, root] + list(packages), log, error, env=env)
    os.unlink(os.path.join(root, "usr/sbin/policy-rc.d"))


def clean(root, resolv_conf):
    """What is per machine or per run does not belong in a cached root: apt's lists, the machine id, the build's
    resolv.conf (replaced by ``resolv_conf``, a comment that says how the root gets one)."""
    lists = os.path.join(root, "var/lib/apt/lists")
    for entry in os.listdir(lists):
        path = os.path.join(lists, entry)
        if os.path.isfile(path):
            os.unlink(path)
    for rel in ("etc/machine-id", "var/lib/dbus/machine-id"):
        path = os.path.join(root, rel)
        if os.path.exists(path):
            open(path, "w").close()
    with open(os.path.join(root, "etc/resolv.conf"), "w") as f:
        f.write(resolv_conf)


def build_cached(final, lock_path, steps, record, force=False):
    """Build into ``final`` unless a finished build is there (or ``force``); return its root file system.

    ``steps(root, tmp, log)`` makes the root (``tmp`` is the build's directory, ``log`` its open build log) and
    returns what to add to ``complete.json`` beside ``record``, the build's seconds and time."""
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and complete(final):
            return complete(final)
        tmp = final + ".building"
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
        os.makedirs(tmp)
        started = time.monotonic()
        with open(os.path.join(tmp, "build.log"), "wb") as log:
            extra = steps(os.path.join(tmp, "rootfs"), tmp, log) or {}
        with open(os.path.join(tmp, "complete.json"), "w") as f:
            json.dump(dict(record, seconds=round(time.monotonic() - started, 1),
                           built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra), f, indent=1)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
        return os.path.join(final, "rootfs")
