"""apache_info on a second Debian instance made by Debian's own setup-instance.

The instance lives in a private mount namespace whose /etc, /run, /var/log and /usr/local/sbin are
overlays over the machine's (upper layers on a tmpfs of the test): setup-instance, a2enmod-NAME and
apache2ctl-NAME run for real and write what they always write, yet nothing of the machine's own
/etc, /run or /var/log changes. The module runs inside that namespace (interpreter wrapper through
nsenter), the instance's Apache too; both are stopped by PID, and the namespace goes with its
holder process.
"""

import os
import subprocess
import time

import pytest

import ansible_runner
from lab.procs import free_port, pid_alive, stop_pid

SETUP_INSTANCE = "/usr/share/doc/apache2/examples/setup-instance"
OVERLAID = ("/etc", "/run", "/var/log", "/usr/local/sbin")

pytestmark = pytest.mark.skipif(not os.path.exists(SETUP_INSTANCE), reason="needs Debian's apache2 package")


class MountNamespace(object):
    """A holder process in a private mount namespace with the overlays above."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        scratch = os.path.join(tmpdir, "overlays")
        os.makedirs(scratch)
        script = ["set -e", 'mount -t tmpfs ocsp-test-overlays "$0"']
        for i, path in enumerate(OVERLAID):
            script.append('mkdir "$0/u{0}" "$0/w{0}"'.format(i))
            script.append('mount -t overlay overlay -o "lowerdir={1},upperdir=$0/u{0},workdir=$0/w{0}" {1}'.format(
                i, path))
        script.append("echo ready")
        script.append("exec sleep 3600")
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                                      "\n".join(script), scratch], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     universal_newlines=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError("mount namespace not ready: {0}{1}".format(line, self.proc.stdout.read()))

    def run(self, argv, check=True, env=None, timeout=60):
        proc = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--"] + list(argv), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("{0} failed ({1}):\n{2}".format(argv, proc.returncode, proc.stdout))
        return proc

    def read(self, path):
        return self.run(["cat", path]).stdout

    def write(self, path, text):
        subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--", "/bin/sh", "-c", 'cat > "$0"', path],
                       input=text, universal_newlines=True, check=True)

    def exists(self, path):
        return self.run(["test", "-e", path], check=False).returncode == 0

    def inventory(self):
        wrapper = os.path.join(self.tmpdir, "python-in-mountns")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec nsenter -t {0} -m -- {1} \"$@\"\n".format(self.proc.pid, ansible_runner.NODE_PYTHON))
        os.chmod(wrapper, 0o755)
        path = os.path.join(self.tmpdir, "inventory-mountns")
        with open(path, "w") as f:
            f.write("localhost ansible_connection=local ansible_python_interpreter={0}\n".format(wrapper))
        return path

    def close(self):
        stop_pid(self.proc.pid, timeout=10)
        self.proc.stdout.close()


@pytest.fixture
def second_instance(tmp_path, lab):
    """/etc/apache2-NAME by Debian's setup-instance, one TLS vhost on loopback, not started."""
    ns = MountNamespace(str(tmp_path))
    name = "ocsp{0}".format(os.getpid())
    confdir = "/etc/apache2-" + name
    apache_pid = []
    try:
        ns.run(["sh", SETUP_INSTANCE, name])
        port, plain = free_port(), free_port()
        good = lab.pki.certs["good"]
        ns.write(confdir + "/ports.conf", "Listen 127.0.0.1:{0}\nListen 127.0.0.1:{1}\n".format(plain, port))
        ns.run(["/usr/local/sbin/a2dissite-" + name, "-q", "000-default"])
        for mod in ("ssl", "socache_shmcb"):
            ns.run(["/usr/local/sbin/a2enmod-" + name, "-q", mod])
        ns.write(confdir + "/sites-available/tls.conf",
                 "<VirtualHost 127.0.0.1:{0}>\n    ServerName second.lab.test\n    SSLEngine on\n"
                 "    SSLCertificateFile {1}\n    SSLCertificateKeyFile {2}\n    SSLCertificateChainFile {3}\n"
                 "</VirtualHost>\n".format(port, good.cert_path, good.key_path, good.chain_path))
        ns.run(["/usr/local/sbin/a2ensite-" + name, "-q", "tls"])
        ns.name, ns.confdir, ns.port, ns.apache_pid = name, confdir, port, apache_pid
        yield ns
    finally:
        for pid in apache_pid:
            stop_pid(pid, timeout=15)
        ns.close()


def apache_info(run_playbook, ns, args):
    play = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: facts
      ocsp.stapling.apache_info: {0}
      register: facts
""".format(args)
    rc, results, output = run_playbook(play, inventory=ns.inventory())
    task = [r for r in results if r["task"] == "facts"]
    assert task, output
    result = task[0]["result"]
    result.setdefault("failed", task[0]["status"] == "failed")
    return rc, result, output


def test_second_instance_stopped_since_boot_then_running(run_playbook, second_instance):
    ns = second_instance
    run_dir = "/var/run/apache2-" + ns.name
    # A host whose instance has not run since boot: apache2ctl would create these before any command.
    assert not ns.exists(run_dir) and not ns.exists("/var/lock/apache2-" + ns.name)
    rc, facts, output = apache_info(run_playbook, ns, "{{server_root: {0}}}".format(ns.confdir))
    assert rc == 0, output
    layout = facts["layout"]
    assert layout["server_root"] == ns.confdir and layout["envvars"] == ns.confdir + "/envvars"
    assert layout["run_dir"] == run_dir and layout["pid_file"] == run_dir + "/apache2.pid"
    assert layout["lock_dir"] == "/var/lock/apache2-" + ns.name
    assert layout["log_dir"] == "/var/log/apache2-" + ns.name
    assert layout["error_log"] == "/var/log/apache2-{0}/error.log".format(ns.name)
    assert layout["env"]["APACHE_CONFDIR"] == ns.confdir and layout["service"] == "apache2-" + ns.name
    assert layout["created_dirs"] == [run_dir, run_dir + "/socks", "/var/lock/apache2-" + ns.name]
    assert [v["server_name"] for v in facts["vhosts"]] == ["second.lab.test"]
    assert facts["vhosts"][0]["file"] == ns.confdir + "/sites-enabled/tls.conf"
    assert facts["cross_check"] == {"ran": True, "apache_vhosts": 1, "disagreements": 0}
    assert facts["problems"] == []
    assert facts["changed"] is False

    # Start it the Debian way (apache2ctl-NAME honours its suffix), then find it by that script alone.
    ns.run(["/usr/local/sbin/apache2ctl-" + ns.name, "start"])
    deadline = time.monotonic() + 15
    pid = None
    while time.monotonic() < deadline and not pid:
        if ns.exists(run_dir + "/apache2.pid"):
            text = ns.read(run_dir + "/apache2.pid").strip()
            pid = int(text) if text.isdigit() and pid_alive(int(text)) else None
        time.sleep(0.05)
    assert pid, ns.run(["cat", "/var/log/apache2-{0}/error.log".format(ns.name)], check=False).stdout
    ns.apache_pid.append(pid)
    with open("/proc/{0}/cmdline".format(pid), "rb") as f:
        assert b"apache2" in f.read().split(b"\0")[0]
    rc, running, output = apache_info(run_playbook, ns, "{{binary: /usr/local/sbin/apache2ctl-{0}}}".format(ns.name))
    assert rc == 0, output
    assert running["layout"]["server_root"] == ns.confdir
    # The pid file the module names is the one the running instance really wrote.
    assert int(ns.read(running["layout"]["pid_file"]).strip()) == pid
    assert running["layout"]["created_dirs"] == []
    assert [v["server_name"] for v in running["vhosts"]] == ["second.lab.test"]
    # The machine's main instance is not what was read.
    assert all(not f.startswith("/etc/apache2/") for f in running["files_read"]), running["files_read"]


def test_envvars_that_exit_fail_clearly(run_playbook, second_instance):
    ns = second_instance
    ns.write(ns.confdir + "/envvars", ns.read(ns.confdir + "/envvars") + "\nexit 4\n")
    rc, facts, output = apache_info(run_playbook, ns, "{{server_root: {0}}}".format(ns.confdir))
    assert rc != 0 and facts["failed"]
    assert ns.confdir + "/envvars" in facts["msg"] and "rc=4" in facts["msg"]
    assert "Traceback" not in output
