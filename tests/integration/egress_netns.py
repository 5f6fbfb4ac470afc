"""A throwaway network namespace for firewall tests: its own loopback, its own nftables/iptables,
a real OCSP responder inside it (or in a peer namespace behind a veth pair), and an Ansible
inventory whose Python runs inside it. Everything it starts it stops (by PID), and the
namespaces are deleted."""

import os
import shutil
import subprocess
import tempfile
import time

import ansible_runner
from lab.procs import HTTP_PROBE, stop_pid

_COUNTER = [0]
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Addresses only ever exist inside two namespaces a test made (this side, the peer).
LOCAL_ADDRESS, PEER_ADDRESS = "10.231.0.1", "10.231.0.2"


class Netns(object):
    def __init__(self, tmpdir):
        _COUNTER[0] += 1
        self.name = "ocsp-eg-{0}-{1}".format(os.getpid(), _COUNTER[0])
        self.tmpdir = str(tmpdir)
        self.pids = []
        self.env = {}  # exported to everything run in the namespace (and to the Ansible module)
        self.private = []  # /etc/netns/<ns>/<name> entries we made
        self.made_dirs = []  # mount points we had to create (removed again)
        self.peers = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)

    def _env(self):
        return dict(os.environ, PYTHONPATH=TESTS, **self.env)

    def run(self, argv, check=False, data=None, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.name] + list(argv), input=data, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=check, timeout=timeout,
                              env=self._env())

    def start(self, argv, log_name):
        log = open(os.path.join(self.tmpdir, log_name), "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", self.name] + list(argv), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=self._env())
        log.close()
        self.pids.append(proc.pid)
        return proc

    def add_peer(self):
        """A second namespace joined to this one by a veth pair (this side LOCAL_ADDRESS, the peer PEER_ADDRESS):
        traffic to the peer leaves through a real interface, not lo, which ufw and firewalld always accept."""
        peer = Netns(self.tmpdir)
        self.peers.append(peer)
        subprocess.run(["ip", "-n", self.name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
                        "netns", peer.name], check=True)
        for ns, dev, address in ((self, "veth0", LOCAL_ADDRESS), (peer, "veth1", PEER_ADDRESS)):
            subprocess.run(["ip", "-n", ns.name, "addr", "add", address + "/30", "dev", dev], check=True)
            subprocess.run(["ip", "-n", ns.name, "link", "set", dev, "up"], check=True)
        return peer

    def can_connect(self, port, timeout=0.5, user=None, host="127.0.0.1"):
        # Connected, it sends a whole request and reads the answer (a bare close makes openssl ocsp spin: lab.procs).
        code = "import socket,sys\ntry:\n s=socket.create_connection(('{2}',{0}),timeout={1})\nexcept OSError:\n" \
               " sys.exit(1)\ntry:\n s.settimeout(2); s.sendall({3!r})\n while s.recv(4096): pass\nexcept OSError:\n" \
               " pass\n".format(port, timeout, host, HTTP_PROBE)
        prefix = ["runuser", "-u", user, "--"] if user else []
        return self.run(prefix + ["/usr/bin/python3", "-c", code]).returncode == 0

    def wait_listening(self, port, timeout=30, host="127.0.0.1"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.can_connect(port, 0.2, host=host):
                return
            time.sleep(0.05)
        raise RuntimeError("nothing listens on {0}:{1} in {2}".format(host, port, self.name))

    def inventory(self):
        wrapper = os.path.join(self.tmpdir, "python-in-" + self.name)
        exports = "".join("export {0}='{1}'\n".format(k, v) for k, v in sorted(self.env.items()))
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n{2}exec ip netns exec {0} {1} \"$@\"\n".format(self.name, ansible_runner.NODE_PYTHON, exports))
        os.chmod(wrapper, 0o755)
        path = os.path.join(self.tmpdir, "inventory-" + self.name)
        with open(path, "w") as f:
            f.write("nshost ansible_connection=local ansible_python_interpreter={0}\n".format(wrapper))
        return path

    @property
    def etc(self):
        return os.path.join("/etc/netns", self.name)

    def private_etc(self, name, copy=True):
        """Give processes run in this namespace their own /etc/<name> (a copy, or empty): ip netns exec
        bind-mounts /etc/netns/<ns>/<name> over /etc/<name>. The machine's own /etc/<name> is never written;
        when it does not exist, an empty directory is made as the mount point and removed again."""
        if not os.path.isdir("/etc/netns"):
            os.mkdir("/etc/netns")
            self.made_dirs.insert(0, "/etc/netns")
        target = os.path.join("/etc", name)
        if not os.path.exists(target):
            os.mkdir(target)
            self.made_dirs.insert(0, target)
        if copy:
            shutil.copytree(target, os.path.join(self.etc, name), symlinks=True)
        else:
            os.makedirs(os.path.join(self.etc, name))
        self.private.append(name)
        return os.path.join(self.etc, name)

    def close(self):
        for peer in self.peers:
            peer.close()
        for pid in self.pids:
            stop_pid(pid)
        out = subprocess.run(["ip", "netns", "pids", self.name], stdout=subprocess.PIPE, universal_newlines=True,
                             check=False).stdout.split()
        for pid in out:
            stop_pid(int(pid))
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        if self.private and os.path.isdir(self.etc):
            shutil.rmtree(self.etc)
        for path in self.made_dirs:  # only ever empty directories we made
            if os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={0}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class Firewalld(object):
    """A real firewalld inside the namespace: its own D-Bus system bus (a dbus-daemon with a socket in the
    test's directory, exported as DBUS_SYSTEM_BUS_ADDRESS to everything run in the namespace) and its own
    copy of /etc/firewalld (--system-config). The machine's bus and firewalld configuration are not used."""

    def __init__(self, ns):
        self.ns = ns
        self.dir = os.path.join(ns.tmpdir, "firewalld-" + ns.name)
        self.config = os.path.join(self.dir, "etc")
        shutil.copytree("/etc/firewalld", self.config)
        # A socket's path holds at most 107 bytes: under pytest-xdist the test's directory is longer than that
        # ("Socket name too long"), so the socket lives in a short private directory of its own.
        self.socket_dir = tempfile.mkdtemp(prefix="ocsp-bus-", dir="/tmp")
        socket_path = os.path.join(self.socket_dir, "bus.sock")
        with open(os.path.join(self.dir, "bus.conf"), "w") as f:
            f.write(BUS_CONFIG.format(socket_path))
        self.made_run = not os.path.exists("/run/firewalld")
        log = open(os.path.join(self.dir, "dbus.log"), "ab")
        self.bus = subprocess.Popen(["dbus-daemon", "--nofork", "--config-file", os.path.join(self.dir, "bus.conf")],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 10
        while not os.path.exists(socket_path):
            if time.monotonic() > deadline or self.bus.poll() is not None:
                raise RuntimeError("dbus-daemon did not start; see {0}/dbus.log".format(self.dir))
            time.sleep(0.02)
        ns.env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + socket_path
        self.proc = ns.start(["firewalld", "--nofork", "--nopid", "--system-config", self.config,
                              "--log-target", "file", "--log-file", os.path.join(self.dir, "firewalld.log")],
                             "firewalld.out")
        deadline = time.monotonic() + 60
        while self.cmd("--state").returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("firewalld did not start; see {0}".format(self.dir))
            time.sleep(0.2)

    def cmd(self, *args):
        return self.ns.run(["firewall-cmd"] + list(args))

    def close(self):
        stop_pid(self.proc.pid, timeout=20)
        stop_pid(self.bus.pid)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        self.ns.env.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        if self.made_run and os.path.isdir("/run/firewalld") and not os.listdir("/run/firewalld"):
            os.rmdir("/run/firewalld")
