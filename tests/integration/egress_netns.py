"""A throwaway network namespace for firewall tests: its own loopback, its own nftables/iptables,
a real OCSP responder inside it, and an Ansible inventory whose Python runs inside it.
Everything it starts it stops (by PID), and the namespace is deleted."""

import os
import subprocess
import sys
import time

from lab.procs import stop_pid

_COUNTER = [0]
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Netns(object):
    def __init__(self, tmpdir):
        _COUNTER[0] += 1
        self.name = "ocsp-eg-{0}-{1}".format(os.getpid(), _COUNTER[0])
        self.tmpdir = str(tmpdir)
        self.pids = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)

    def run(self, argv, check=False, data=None, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.name] + list(argv), input=data, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=check, timeout=timeout)

    def start(self, argv, log_name):
        log = open(os.path.join(self.tmpdir, log_name), "ab")
        env = dict(os.environ, PYTHONPATH=TESTS)
        proc = subprocess.Popen(["ip", "netns", "exec", self.name] + list(argv), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        log.close()
        self.pids.append(proc.pid)
        return proc

    def can_connect(self, port, timeout=0.5, user=None):
        code = "import socket,sys\ntry:\n socket.create_connection(('127.0.0.1',{0}),timeout={1}).close()\n" \
               "except OSError:\n sys.exit(1)\n".format(port, timeout)
        prefix = ["runuser", "-u", user, "--"] if user else []
        return self.run(prefix + ["/usr/bin/python3", "-c", code]).returncode == 0

    def wait_listening(self, port, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.can_connect(port, 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("nothing listens on {0} in {1}".format(port, self.name))

    def inventory(self):
        wrapper = os.path.join(self.tmpdir, "python-in-" + self.name)
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec ip netns exec {0} {1} \"$@\"\n".format(self.name, sys.executable))
        os.chmod(wrapper, 0o755)
        path = os.path.join(self.tmpdir, "inventory-" + self.name)
        with open(path, "w") as f:
            f.write("nshost ansible_connection=local ansible_python_interpreter={0}\n".format(wrapper))
        return path

    def private_etc(self, name):
        """Give processes run in this namespace their own copy of /etc/<name>: ip netns exec bind-mounts
        /etc/netns/<ns>/<name> over /etc/<name>. The machine's own /etc/<name> is never written."""
        import shutil
        self.etc = os.path.join("/etc/netns", self.name)
        self.made_etc_netns = not os.path.isdir("/etc/netns")
        shutil.copytree(os.path.join("/etc", name), os.path.join(self.etc, name), symlinks=True)

    def close(self):
        etc = getattr(self, "etc", None)
        if etc and os.path.isdir(etc):
            import shutil
            shutil.rmtree(etc)
            if self.made_etc_netns and not os.listdir("/etc/netns"):
                os.rmdir("/etc/netns")
        for pid in self.pids:
            stop_pid(pid)
        out = subprocess.run(["ip", "netns", "pids", self.name], stdout=subprocess.PIPE, universal_newlines=True,
                             check=False).stdout.split()
        for pid in out:
            stop_pid(int(pid))
        subprocess.run(["ip", "netns", "del", self.name], check=False)
