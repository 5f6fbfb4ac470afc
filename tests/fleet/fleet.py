"""A fleet of real hosts on this machine, reached over SSH: see tests/fleet/README.md.

Each host is a network namespace with its own address on a bridge of ours, an overlay of the cached base image
(``image.py``) mounted in the root namespace, and its own mount, PID, UTS and IPC namespaces in which tini runs the
host's boot (firewall rules where its profile has them, Debian's init script for apache2, then sshd). The
controller (this machine's root namespace) holds the bridge's first address, an OCSP responder bound to it, and an
``unreachable`` route for the whole fleet range so that nothing aimed at a host ever leaves by the default route.

Everything the fleet makes is recorded in ``<state dir>/state.json`` as it is made, so ``down`` (from any process)
removes exactly that: processes by PID (checked against their start time, so a reused PID is never signalled),
mounts, namespaces, links, the route.
"""

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from lab import PKI, FaultResponder
from lab.procs import HTTP_PROBE, free_port, pid_alive, stop_pid

from . import image

BASE_DIR = os.environ.get("OCSP_FLEET_DIR", "/var/tmp/ocsp-stapling-fleet")
# Machine-wide, whatever the state directory: the guard route is shared by every fleet of ours on the machine.
GUARD_LOCK = "/run/lock/ocsp-stapling-fleet-guard.lock"
# Every fleet of ours lives in this range: one /24 per fleet (172.29.<index>.0/24), the guard covers it all.
RANGE = ipaddress.ip_network("172.29.0.0/16")
PREFIX = "ofl"  # every interface and namespace name we make starts with ofl<index>
HERE = os.path.dirname(os.path.abspath(__file__))
HOST_INIT = os.path.join(HERE, "files", "host-init.sh")
# Certificates of the lab PKI a host can serve (one TLS vhost each); missing_chain serves good's certificate
# without its chain file (mod_ssl cannot find the issuer: AH02217).
CERTIFICATES = ("good", "no_uri", "revoked", "must_staple", "missing_chain", "second_issuer")
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C"}
# The hosts' package source: each image's repository (image.repo_dir(suite)) served over HTTP on the bridge's address,
# one URL path per suite (http://BRIDGE:8080/<suite>/), so a trixie host gets trixie's packages.
REPO_PORT = 8080
# What a host runs (its profile's "os"): the image it is made from, Apache's layout and the tree a test hashes, the
# variables an operator's inventory gives the role for it (host_vars). "rhel" and "suse" are Red Hat's and SUSE's
# trees (tests/fleet/files/redhat, files/suse) on bookworm's image, driven by Debian's apache2 binary, whose
# compiled-in ServerRoot and configuration file (/etc/apache2, apache2.conf) are not theirs: their inventory names
# the tree, as it would for any Apache built with other defaults.
KINDS = {
    "bookworm": {"image": "bookworm", "family": "debian", "tree": "etc/apache2", "vars": {}},
    "trixie": {"image": "trixie", "family": "debian", "tree": "etc/apache2", "vars": {}},
    "rhel": {"image": "bookworm", "family": "redhat", "tree": "etc/httpd",
             "vars": {"apache_stapling_server_root": "/etc/httpd",
                      "apache_stapling_config_file": "/etc/httpd/conf/httpd.conf"}},
    "suse": {"image": "bookworm", "family": "suse", "tree": "etc/apache2",
             "vars": {"apache_stapling_server_root": "/etc/apache2",
                      "apache_stapling_config_file": "/etc/apache2/httpd.conf",
                      "apache_stapling_defines": ["SSL"]}},
}
LAYOUT_FILES = {"redhat": os.path.join(HERE, "files", "redhat"), "suse": os.path.join(HERE, "files", "suse")}
# Debian's apache2 tooling, which a Red Hat or SUSE host does not have (its own control commands replace it).
DEBIAN_APACHE_TOOLS = ("usr/sbin/apache2ctl", "usr/sbin/apachectl", "usr/sbin/a2enmod", "usr/sbin/a2dismod",
                       "usr/sbin/a2ensite", "usr/sbin/a2dissite", "usr/sbin/a2enconf", "usr/sbin/a2disconf",
                       "usr/sbin/a2query", "etc/init.d/apache2", "etc/init.d/apache-htcacheclean")
# What a profile's "python" takes away from a host (dpkg --purge in its overlay before it boots), as a stock node
# Python without our libraries until something installs them.
PYTHON_PROFILES = {None: (), "no_openssl": ("python3-openssl",),
                   "no_cryptography": ("python3-openssl", "python3-cryptography")}
# The seed how-to's stapling, by hand: the global cache (ServerRoot-relative logs/, which Debian's /etc/apache2 lacks)
# and SSLUseStapling in each vhost.
HOWTO_CACHE = 'SSLStaplingCache "shmcb:logs/stapling-cache(150000)"\n'

NFTABLES_DENY = """#!/usr/sbin/nft -f
# fleet host: default-deny egress (only loopback and replies leave)
flush ruleset
table inet filter {
    chain input {
        type filter hook input priority 0; policy accept;
    }
    chain output {
        type filter hook output priority 0; policy drop;
        oif "lo" accept
        ct state established,related accept
    }
}
"""
IPTABLES_DENY = """# fleet host: default-deny egress (only loopback and replies leave)
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT DROP [0:0]
-A OUTPUT -o lo -j ACCEPT
-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
COMMIT
"""


class FleetError(RuntimeError):
    """The fleet could not do what was asked; the message names what and how to fix it."""


def kind_of(profile):
    """The host's kind (KINDS) from its profile's "os" (default bookworm)."""
    return profile.get("os") or "bookworm"


def default_profile(index):
    """The default mix of stock hosts: every host serves good (certbot-style live/ links), no_uri and must_staple
    (its site file 0640 root:ssl-cert) beside Debian's default-ssl site; one in three adds revoked, the next
    missing_chain, the next second_issuer. Host 1 lacks python3-openssl, host 2 python3-cryptography too (the
    rollout installs them from the fleet's package source). No firewall.

    A profile: {"vhosts": [names of CERTIFICATES], "firewall": None | "nftables" | "iptables" (default-deny egress
    loaded at boot), "broken_config": bool (a bad line added to Apache's configuration after it started),
    "python": None | "no_openssl" | "no_cryptography" (packages purged before boot), "howto": bool (stapling
    configured by hand as the seed how-to says, Debian kinds only), "os": None | "bookworm" | "trixie" | "rhel" |
    "suse" (KINDS), "socache": bool (default true; false: a "rhel" host whose operator trimmed socache_shmcb out of
    conf.modules.d/00-base.conf, and the session cache with it)}."""
    extra = ("second_issuer", "revoked", "missing_chain")[index % 3]
    python = {1: "no_openssl", 2: "no_cryptography"}.get(index)
    return {"vhosts": ["good", "no_uri", "must_staple", extra], "firewall": None, "python": python}


def _run(argv, check=True, **kw):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          check=False, **kw)
    if check and proc.returncode != 0:
        raise FleetError("{0} exited {1}: {2}".format(" ".join(argv), proc.returncode, proc.stdout.strip()))
    return proc


def proc_start(pid):
    """The process's start time in clock ticks since boot (None when there is no such process); with the PID it
    identifies one process for good, so a recorded PID is never confused with a later one."""
    try:
        with open("/proc/{0}/stat".format(pid)) as f:
            return int(f.read().rsplit(") ", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def is_running(record):
    """record: {"pid", "start"}; True while that very process lives (a zombie does not count)."""
    if not record or not record.get("pid"):
        return False
    pid = record["pid"]
    if proc_start(pid) != record.get("start"):
        return False
    return pid_alive(pid)  # reaps it when it is ours and has exited; a zombie is not running


def stop_record(record, sig=signal.SIGTERM, timeout=5.0):
    """Stop the recorded process by PID (only if it is still that process)."""
    if is_running(record):
        stop_pid(record["pid"], timeout=timeout, sig=sig)


def netns_list():
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def link_names():
    out = _run(["ip", "-o", "link", "show"], check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            names.append(parts[1].strip().split("@")[0])
    return names


def routes():
    return _run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout.splitlines()


def guard_route_present():
    return any(line.split()[:2] == ["unreachable", str(RANGE)] for line in routes())


def mounts_below(path):
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(path + "/"):
                out.append(point)
    return out


@contextlib.contextmanager
def guard_lock():
    """Held while a fleet registers and brings up its guard and bridge, and while one takes its bridge down and
    decides about the guard: no fleet can come up between another's check and its removal of the guard."""
    os.makedirs(os.path.dirname(GUARD_LOCK), exist_ok=True)
    with open(GUARD_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fleet_bridges():
    """The bridges of every fleet of ours on the machine (ofl<index>br), whatever their state directory."""
    return [n for n in link_names() if n.startswith(PREFIX) and n.endswith("br") and n[len(PREFIX):-2].isdigit()]


def registered_fleets(base=BASE_DIR):
    if not os.path.isdir(base):
        return []
    return sorted(n for n in os.listdir(base) if os.path.exists(os.path.join(base, n, "state.json")))


class Host(object):
    """One host of a fleet (its record lives in the fleet's state)."""

    def __init__(self, fleet, record):
        self.fleet = fleet
        self.record = record

    name = property(lambda self: self.record["name"])
    ns = property(lambda self: self.record["ns"])
    address = property(lambda self: self.record["address"])
    root = property(lambda self: self.record["root"])
    profile = property(lambda self: self.record["profile"])

    def __repr__(self):
        return "<fleet host {0} {1}>".format(self.name, self.address)

    @property
    def kind(self):
        """bookworm, trixie, rhel or suse (KINDS)."""
        return kind_of(self.profile)

    @property
    def tree(self):
        """The Apache configuration tree of the host, relative to its root (etc/apache2, etc/httpd)."""
        return KINDS[self.kind]["tree"]

    @property
    def init(self):
        return self.record.get("init")

    def alive(self):
        return is_running(self.record.get("init"))

    def path(self, rel):
        """A path inside the host's filesystem, as the controller sees it (the merged overlay)."""
        return os.path.join(self.root, rel.lstrip("/"))

    def exec(self, argv, check=True, timeout=60, data=None):
        """Run argv inside the host: its network, mount, PID, UTS and IPC namespaces and its root (nsenter)."""
        if not self.alive():
            raise FleetError("host {0} is not running".format(self.name))
        return _run(["nsenter", "--target", str(self.init["pid"]), "--mount", "--uts", "--ipc", "--net", "--pid",
                     "--root", "--wd=/", "--"] + list(argv), check=check, timeout=timeout, input=data,
                    env=CLEAN_ENV)

    def processes(self):
        """[(pid as the controller sees it, pid inside the host, command name)] of every process in the host."""
        if not self.alive():
            return []
        try:
            mine = os.readlink("/proc/{0}/ns/pid".format(self.init["pid"]))
        except OSError:
            return []
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink("/proc/{0}/ns/pid".format(entry)) != mine:
                    continue
                with open("/proc/{0}/status".format(entry)) as f:
                    status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            except (OSError, ValueError):
                continue
            if status.get("State", "").startswith("Z"):
                continue
            out.append((int(entry), int(status["NSpid"].split()[-1]), status["Name"]))
        return sorted(out)

    def apache_pids(self):
        """Apache's processes (Debian's binary: apache2; on the Red Hat and SUSE layouts it runs as httpd)."""
        return [p for p, _nspid, name in self.processes() if name in ("apache2", "httpd")]

    def restart_apache(self, deadline=120):
        """A full restart as an operator makes it on Debian: `apache2ctl stop`, then `apache2ctl start` once every
        Apache process of the host is gone, then back when a TLS port of the host accepts. `apache2ctl stop` returns
        once it has signalled the parent, not when the parent has exited: a `start` right after it found the old pid
        file ("httpd (pid 57) already running"), did nothing, and the host was left without Apache until something
        started it (seen on a loaded machine: the load test counted the requests of that gap against our run)."""
        self.exec(["apache2ctl", "stop"])
        self._wait(lambda: not self.apache_pids(), deadline, "Apache's processes to exit after apache2ctl stop")
        self.exec(["apache2ctl", "start"])

        def serving():
            try:
                socket.create_connection((self.address, 443), timeout=2).close()
                return True
            except OSError:
                return False
        self._wait(serving, deadline, "Apache to accept on port 443 after apache2ctl start")

    def _wait(self, condition, deadline, what):
        end = time.monotonic() + deadline
        while not condition():
            if time.monotonic() > end:
                raise FleetError("{0}: gave up waiting for {1} after {2} s".format(self.name, what, deadline))
            time.sleep(0.2)

    def kill_apache(self):
        """Kill every apache2 process of the host (SIGKILL, by PID): Apache dies as in a crash."""
        pids = self.apache_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def link(self, up):
        """Take the host's network link down (SSH to it is cut, it reaches nothing) or up again."""
        _run(["ip", "-n", self.ns, "link", "set", "eth0", "up" if up else "down"])

    def can_connect(self, address, port, timeout=1.0):
        """Whether a process on the host can open a TCP connection to address:port (its firewall applies)."""
        # Connected, it sends a whole request and reads the answer (a bare close makes openssl ocsp spin: lab.procs).
        code = ("import socket,sys\ntry:\n s=socket.create_connection(({0!r},{1}),timeout={2})\nexcept OSError:\n"
                " sys.exit(1)\ntry:\n s.settimeout(2); s.sendall({3!r})\n while s.recv(4096): pass\nexcept OSError:\n"
                " pass\n").format(address, int(port), timeout, HTTP_PROBE)
        return self.exec(["/usr/bin/python3", "-c", code], check=False).returncode == 0


class Fleet(object):
    """See the module docstring. ``Fleet(name, index).up(n)``; ``Fleet.load(name).down()`` from any process."""

    def __init__(self, name="default", index=1, base_dir=None):
        if not 1 <= int(index) <= 254:
            raise FleetError("fleet index {0} is outside 1..254 (it is the third octet of {1})".format(index, RANGE))
        self.name = name
        self.index = int(index)
        self.base_dir = base_dir or BASE_DIR
        self.dir = os.path.join(self.base_dir, name)
        self.state_file = os.path.join(self.dir, "state.json")
        self.state = None
        first_two = ".".join(str(RANGE.network_address).split(".")[:2])
        net = ipaddress.ip_network("{0}.{1}.0/24".format(first_two, self.index))
        self.subnet = net
        self.bridge = "{0}{1}br".format(PREFIX, self.index)
        self.bridge_address = str(net.network_address + 1)

    # --- state ------------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, name="default", base_dir=None):
        base = base_dir or BASE_DIR
        path = os.path.join(base, name, "state.json")
        if not os.path.exists(path):
            raise FleetError("no fleet named {0!r} (no {1}); bring one up with: python -m fleet up N".format(
                name, path))
        with open(path) as f:
            state = json.load(f)
        fleet = cls(name, state["index"], base_dir=base)
        fleet.state = state
        return fleet

    def _save(self):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
        os.rename(tmp, self.state_file)

    @property
    def hosts(self):
        return [Host(self, r) for r in (self.state or {}).get("hosts", [])]

    def host(self, name):
        for h in self.hosts:
            if h.name == name:
                return h
        raise FleetError("fleet {0} has no host {1!r} (hosts: {2})".format(
            self.name, name, ", ".join(h.name for h in self.hosts)))

    def _ours_prefix(self):
        return "{0}{1}".format(PREFIX, self.index)

    def _leftovers(self):
        """Namespaces, links and routes of this fleet's index that exist on the machine right now."""
        p = self._ours_prefix()
        found = ["netns " + n for n in netns_list() if n.startswith(p + "-")]
        found += ["link " + n for n in link_names() if n == self.bridge or n.startswith(p + "v")]
        found += ["route " + line for line in routes() if line.split() and line.split()[0] == str(self.subnet)]
        return found

    # --- up ---------------------------------------------------------------------------------------------------
    def up(self, n, profiles=None, log=None):
        """Build (or reuse) the image and bring up n hosts. profiles: {index: profile} or a function of the
        index (default_profile). Refuses to start over anything it did not create."""
        if os.geteuid() != 0:
            raise FleetError("the fleet needs root (network namespaces, mounts)")
        n = int(n)
        if not 1 <= n <= 240:
            raise FleetError("fleet size {0} is outside 1..240 (one /24 per fleet)".format(n))
        if os.path.exists(self.state_file):
            old = Fleet.load(self.name, self.base_dir)
            if old.anything_alive():
                raise FleetError("fleet {0!r} is already up ({1}); run: python -m fleet --name {0} down".format(
                    self.name, self.dir))
            old.down()  # a stale record (machine rebooted, process killed): clear what is left of it
        others = [f for f in registered_fleets(self.base_dir) if f != self.name]
        for other in others:
            if Fleet.load(other, self.base_dir).index == self.index:
                raise FleetError("fleet {0!r} already uses index {1}; choose another --index".format(
                    other, self.index))
        leftovers = self._leftovers()
        if leftovers:
            raise FleetError("refusing to start fleet {0!r}: {1} exist but this fleet did not create them; remove "
                             "them (ip netns del / ip link del / ip route del) or choose another --index".format(
                                 self.name, ", ".join(leftovers)))
        for line in routes():
            words = line.split()
            if words and words[0] == str(RANGE) and words[0:1] != ["unreachable"] and "unreachable" not in words[:1]:
                raise FleetError("refusing to start: {0} is routed on this machine ({1}); the fleet range must be "
                                 "unused".format(RANGE, line))
        rootfs = image.build(log_stream=log)
        self._log = log
        started = time.monotonic()
        os.makedirs(self.dir, exist_ok=True)
        self.state = {"name": self.name, "index": self.index, "subnet": str(self.subnet), "bridge": None,
                      "bridge_address": self.bridge_address, "guard": False, "image": rootfs,
                      "image_hash": image.recipe_hash(), "images": {image.SUITE: rootfs}, "hosts": [],
                      "responder": None, "repo": None}
        self._save()
        try:
            with guard_lock():
                self._save()  # registered: from now on another fleet's down() leaves the guard
                self._up_network()
            self._up_keys()
            self._up_pki()
            self.start_responder()
            self.start_repo()
            for i in range(1, n + 1):
                prof = profiles(i) if callable(profiles) else (profiles or {}).get(i) or default_profile(i)
                self._add_host(i, prof)
            self.boot(self.hosts)
            self._write_ansible_files()
        except BaseException:
            self.down()
            raise
        self.state["up_seconds"] = round(time.monotonic() - started, 2)
        self._save()
        return self

    def _up_network(self):
        # The guard first: from now on traffic to the range never leaves by the default route.
        if not guard_route_present():
            _run(["ip", "route", "add", "unreachable", str(RANGE)])
            self.state["guard"] = True
            self._save()
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.state["bridge"] = self.bridge
        self._save()
        _run(["ip", "addr", "add", "{0}/{1}".format(self.bridge_address, self.subnet.prefixlen), "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])

    def _up_keys(self):
        keys = os.path.join(self.dir, "ssh")
        os.makedirs(keys, mode=0o700, exist_ok=True)
        self.state["ssh_key"] = os.path.join(keys, "id_ed25519")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ocsp-stapling-fleet-" + self.name,
              "-f", self.state["ssh_key"]])
        self.state["known_hosts"] = os.path.join(keys, "known_hosts")
        self.state["control_path_dir"] = os.path.join(self.dir, "cp")
        os.makedirs(self.state["control_path_dir"], mode=0o700, exist_ok=True)
        self._save()

    def _up_pki(self):
        port = free_port(self.bridge_address)
        self.state["responder_port"] = port
        self.state["ocsp_url"] = "http://{0}:{1}/".format(self.bridge_address, port)
        pki_dir = os.path.join(self.dir, "pki")
        PKI.create(pki_dir, self.state["ocsp_url"])
        self.state["pki_dir"] = pki_dir
        self._save()

    @property
    def pki(self):
        return PKI.load(self.state["pki_dir"])

    # --- the OCSP responder on the bridge ---------------------------------------------------------------------
    def start_responder(self, mode="good"):
        """Our fault-mode OCSP responder bound to the bridge's address, at the URL the certificates name."""
        if is_running(self.state.get("responder")):
            raise FleetError("the fleet's responder already runs (pid {0})".format(self.state["responder"]["pid"]))
        responder = FaultResponder(self.state["pki_dir"], self.dir, port=self.state["responder_port"], mode=mode,
                                   address=self.bridge_address).start()
        self.state["responder"] = {"pid": responder.pid, "start": proc_start(responder.pid)}
        self._save()
        return responder

    def _repo_link(self, suite):
        """<fleet dir>/repo/<suite> -> the suite's image repository (what http://BRIDGE:8080/<suite>/ serves)."""
        directory = os.path.join(os.path.dirname(self.state["images"][suite]), "repo")
        if not os.path.exists(os.path.join(directory, "Packages")):
            raise FleetError("{0} has no Packages index: rebuild the image (python -m fleet.image --force {1})".format(
                directory, suite))
        link = os.path.join(self.dir, "repo", suite)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.islink(link):
            os.symlink(directory, link)

    def image_for(self, kind):
        """The rootfs of the image a host of this kind is made from, built (cached) when first needed; its package
        source served from then on."""
        suite = KINDS[kind]["image"]
        images = self.state.setdefault("images", {})
        if suite not in images:
            images[suite] = image.build(log_stream=getattr(self, "_log", None), suite=suite)
            self._save()
        self._repo_link(suite)
        return images[suite]

    def start_repo(self):
        """The hosts' package source: each image's flat repository (apt-get download + dpkg-scanpackages) served by
        one static HTTP server on the bridge's address, one path per suite, so that installing a missing library on
        a host is real."""
        if is_running(self.state.get("repo")):
            raise FleetError("the fleet's package source already runs (pid {0})".format(self.state["repo"]["pid"]))
        for suite in self.state["images"]:
            self._repo_link(suite)
        directory = os.path.join(self.dir, "repo")
        with open(os.path.join(self.dir, "repo.log"), "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", self.bridge_address,
                                     "--directory", directory, str(REPO_PORT)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, cwd=directory)
        self.state["repo"] = {"pid": proc.pid, "start": proc_start(proc.pid)}
        self._save()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.bridge_address, REPO_PORT), timeout=1) as sock:
                    sock.sendall("HEAD /{0}/Packages HTTP/1.0\r\n\r\n".format(image.SUITE).encode())
                    if sock.recv(12).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise FleetError("the fleet's package source did not answer on {0}:{1}; see {2}".format(
            self.bridge_address, REPO_PORT, os.path.join(self.dir, "repo.log")))

    def responder(self):
        """A client of the running responder (set_mode, stats)."""
        r = FaultResponder(self.state["pki_dir"], self.dir, port=self.state["responder_port"],
                           address=self.bridge_address)
        r.pid = (self.state.get("responder") or {}).get("pid")
        return r

    def kill_responder(self):
        """The responder dies (SIGKILL, by PID), as in a crash."""
        record = self.state.get("responder")
        if is_running(record):
            os.kill(record["pid"], signal.SIGKILL)
            stop_record(record)
        self.state["responder"] = None
        self._save()

    # --- hosts ------------------------------------------------------------------------------------------------
    def _add_host(self, i, profile):
        for v in profile.get("vhosts", ()):
            if v not in CERTIFICATES:
                raise FleetError("unknown vhost {0!r} in the profile of host {1}; one of {2}".format(
                    v, i, ", ".join(CERTIFICATES)))
        if profile.get("firewall") not in (None, "nftables", "iptables"):
            raise FleetError("unknown firewall {0!r} for host {1}: nftables, iptables or none".format(
                profile.get("firewall"), i))
        if profile.get("python") not in PYTHON_PROFILES:
            raise FleetError("unknown python profile {0!r} for host {1}: one of {2}".format(
                profile.get("python"), i, ", ".join(str(k) for k in PYTHON_PROFILES)))
        _check_kind(profile, i)
        name = "h{0:02d}".format(i)
        hdir = os.path.join(self.dir, "hosts", name)
        record = {"name": name, "index": i, "ns": "{0}-{1}".format(self._ours_prefix(), name),
                  "veth": "{0}v{1}".format(self._ours_prefix(), i), "address": str(self.subnet.network_address + 10 + i),
                  "mac": "02:0f:ce:{0:02x}:{1:02x}:{2:02x}".format(self.index, i >> 8, i & 255),
                  "dir": hdir, "root": os.path.join(hdir, "root"), "profile": profile, "netns": False,
                  "mounted": False, "unshare": None, "init": None}
        self.state["hosts"].append(record)
        self._save()
        os.makedirs(hdir)
        self._make_netns(record)
        keys = os.path.join(hdir, "hostkey")
        os.makedirs(keys)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + name, "-f",
              os.path.join(keys, "ssh_host_ed25519_key")])
        with open(os.path.join(keys, "ssh_host_ed25519_key.pub")) as f:
            pub = f.read().split()
        with open(self.state["known_hosts"], "a") as f:
            f.write("{0} {1} {2}\n".format(record["address"], pub[0], pub[1]))
        self._prepare_root(Host(self, record))

    def _make_netns(self, record):
        """The host's network namespace, made new (its firewall rules, conntrack and routes start empty)."""
        if record["veth"] in link_names():
            # Deleted here, synchronously: a namespace's devices go asynchronously after `ip netns del`, and the
            # name would still be taken when the pair is made again.
            _run(["ip", "link", "del", record["veth"]])
        if record.get("netns") and record["ns"] in netns_list():
            _run(["ip", "netns", "del", record["ns"]])
        _run(["ip", "netns", "add", record["ns"]])
        record["netns"] = True
        self._save()
        # Fixed MAC: a host made again answers ARP with the same address (stale ARP entries stay right).
        _run(["ip", "link", "add", record["veth"], "type", "veth", "peer", "name", "eth0", "address", record["mac"],
              "netns", record["ns"]])
        _run(["ip", "link", "set", record["veth"], "master", self.bridge, "up"])
        _run(["ip", "-n", record["ns"], "link", "set", "lo", "up"])
        _run(["ip", "-n", record["ns"], "addr", "add", "{0}/{1}".format(record["address"], self.subnet.prefixlen),
              "dev", "eth0"])
        _run(["ip", "-n", record["ns"], "link", "set", "eth0", "up"])

    def _prepare_root(self, host):
        """A fresh overlay of the image for the host, with its identity, certificates, vhosts and boot steps."""
        r = host.record
        for d in ("upper", "work"):
            path = os.path.join(r["dir"], d)
            if os.path.exists(path):
                shutil.rmtree(path)
            os.makedirs(path)
        os.makedirs(r["root"], exist_ok=True)
        lower = self.image_for(host.kind)
        _run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir={0},upperdir={1},workdir={2}".format(
            lower, os.path.join(r["dir"], "upper"), os.path.join(r["dir"], "work")), r["root"]])
        r["mounted"] = True
        self._save()
        self._deploy(host)

    def _write(self, host, rel, text, mode=0o644):
        path = host.path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def _deploy(self, host):
        r, prof = host.record, host.record["profile"]
        self._write(host, "etc/hostname", r["name"] + "\n")
        self._write(host, "etc/hosts", "127.0.0.1 localhost\n{0} {1}\n".format(r["address"], r["name"]))
        os.makedirs(host.path("root/.ssh"), mode=0o700, exist_ok=True)
        with open(self.state["ssh_key"] + ".pub") as f:
            self._write(host, "root/.ssh/authorized_keys", f.read(), 0o600)
        for name in ("ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"):
            with open(os.path.join(r["dir"], "hostkey", name), "rb") as f:
                self._write(host, "etc/ssh/" + name, f.read(), 0o600 if not name.endswith(".pub") else 0o644)
        pki = self.pki
        with open(pki.ca_bundle_path, "rb") as f:
            self._write(host, "etc/ssl/fleet/ca-bundle.pem", f.read())
        # A stock web server: its package source (here the fleet's repository of its image's suite, on the bridge),
        # the libraries its profile takes away, its Apache as its distribution lays it out.
        self._write(host, "etc/apt/sources.list", "# fleet host: its package source is sources.list.d/fleet.list\n")
        self._write(host, "etc/apt/sources.list.d/fleet.list", "deb [trusted=yes] http://{0}:{1}/{2}/ ./\n".format(
            self.bridge_address, REPO_PORT, KINDS[host.kind]["image"]))
        purge = PYTHON_PROFILES[prof.get("python")]
        if purge:
            _run(["chroot", r["root"], "dpkg", "--purge"] + list(purge), env=CLEAN_ENV)
        family = KINDS[host.kind]["family"]
        sites = []
        for vhost in prof.get("vhosts", ()):
            leaf = pki.certs["good" if vhost == "missing_chain" else vhost]
            server_name = "missing-chain.lab.test" if vhost == "missing_chain" else leaf.server_name
            if vhost == "good":
                files = self._certbot_live(host, leaf)
            else:
                for src, ext, mode in ((leaf.cert_path, ".crt", 0o644), (leaf.key_path, ".key", 0o600),
                                       (leaf.chain_path, ".chain.pem", 0o644)):
                    with open(src, "rb") as f:
                        self._write(host, "etc/ssl/fleet/{0}{1}".format(vhost, ext), f.read(), mode)
                files = {"cert": "/etc/ssl/fleet/{0}.crt".format(vhost), "key": "/etc/ssl/fleet/{0}.key".format(vhost),
                         "chain": None if vhost == "missing_chain" else "/etc/ssl/fleet/{0}.chain.pem".format(vhost)}
            chain = "    SSLCertificateChainFile {0}\n".format(files["chain"]) if files["chain"] else ""
            howto = "    SSLUseStapling on\n" if prof.get("howto") else ""
            text = ("<VirtualHost *:443>\n    ServerName {0}\n    DocumentRoot /var/www/html\n    SSLEngine on\n"
                    "    SSLCertificateFile {1}\n    SSLCertificateKeyFile {2}\n{3}{4}</VirtualHost>\n").format(
                        server_name, files["cert"], files["key"], chain, howto)
            sites.append({"vhost": vhost, "sni": server_name, "text": text})
        r["sites"] = [{"vhost": site["vhost"], "sni": site["sni"]} for site in sites]
        os.makedirs(host.path("etc/fleet/boot.d"), exist_ok=True)
        local_conf, start = {"debian": self._apache_debian, "redhat": self._apache_redhat,
                             "suse": self._apache_suse}[family](host, sites)
        self._write(host, local_conf, "# fleet host\nServerName {0}\nLogLevel warn ssl:info\n".format(r["name"]))
        # Package lists from the fleet's repository, as a stock host has its mirror's (default-deny egress hosts
        # cannot reach it: their step fails, logged, and the boot goes on).
        self._write(host, "etc/fleet/boot.d/05-apt-update",
                    "#!/bin/sh\nexec apt-get -qq -o Acquire::Retries=2 -o Acquire::http::Timeout=5 update\n", 0o755)
        if prof.get("firewall") == "nftables":
            self._write(host, "etc/nftables.conf", NFTABLES_DENY, 0o755)
            self._write(host, "etc/fleet/boot.d/10-firewall", "#!/bin/sh\nexec nft -f /etc/nftables.conf\n", 0o755)
        elif prof.get("firewall") == "iptables":
            self._write(host, "etc/iptables/rules.v4", IPTABLES_DENY)
            self._write(host, "etc/fleet/boot.d/10-firewall",
                        "#!/bin/sh\nexec iptables-restore /etc/iptables/rules.v4\n", 0o755)
        self._write(host, "etc/fleet/boot.d/20-apache", start, 0o755)
        if prof.get("broken_config"):
            # Apache runs, then someone breaks a file of its configuration: the next configtest fails.
            self._write(host, "etc/fleet/boot.d/30-break-config",
                        "#!/bin/sh\necho 'ThisIsNotADirective on' >> /{0}\n".format(local_conf), 0o755)
        self._save()

    def _apache_debian(self, host, sites):
        """Debian's own tree: sites in sites-available enabled by a2ensite (default-ssl among them), the how-to's
        stapling where the profile has it. Returns (the host's local conf file, its Apache boot step)."""
        r, prof = host.record, host.record["profile"]
        ssl_cert_gid = _group_id(host.path("etc/group"), "ssl-cert")
        for site in sites:
            path = self._write(host, "etc/apache2/sites-available/{0}.conf".format(site["vhost"]), site["text"])
            if site["vhost"] == "must_staple":
                os.chown(path, 0, ssl_cert_gid)  # an operator's 0640 root:ssl-cert site file
                os.chmod(path, 0o640)
        _run(["chroot", r["root"], "a2ensite", "-q", "default-ssl"] + [site["vhost"] for site in sites], env=CLEAN_ENV)
        if prof.get("howto"):
            self._write(host, "etc/apache2/conf-available/ssl-stapling.conf",
                        "# OCSP stapling, as the how-to says\n" + HOWTO_CACHE)
            _run(["chroot", r["root"], "a2enconf", "-q", "ssl-stapling"], env=CLEAN_ENV)
        os.symlink("../conf-available/fleet.conf", host.path("etc/apache2/conf-enabled/fleet.conf"))
        return "etc/apache2/conf-available/fleet.conf", "#!/bin/sh\nexec /etc/init.d/apache2 start\n"

    def _replace_debian_apache(self, host, binary):
        """Take Debian's Apache tooling and tree away and keep its binary as another distribution's (binary: its
        path relative to the root). What a Red Hat or SUSE host has in their place comes from files/<family>."""
        for rel in DEBIAN_APACHE_TOOLS:
            if os.path.lexists(host.path(rel)):
                os.unlink(host.path(rel))
        for rel in ("etc/apache2", "var/lib/apache2", "var/log/apache2"):
            if os.path.isdir(host.path(rel)):
                shutil.rmtree(host.path(rel))
        os.rename(host.path("usr/sbin/apache2"), host.path(binary))

    def _layout_files(self, host, family):
        """Copy files/<family> into the host's root (modes as in the repository)."""
        src_root = LAYOUT_FILES[family]
        for base, _dirs, names in os.walk(src_root):
            for name in names:
                src = os.path.join(base, name)
                rel = os.path.relpath(src, src_root)
                with open(src, "rb") as f:
                    self._write(host, rel, f.read(), 0o755 if os.access(src, os.X_OK) else 0o644)

    def _system_user(self, host, user, group, home):
        _run(["chroot", host.root, "groupadd", "-r", group], env=CLEAN_ENV)
        _run(["chroot", host.root, "useradd", "-r", "-g", group, "-d", home, "-s", "/usr/sbin/nologin", user],
             env=CLEAN_ENV)
        return _group_id(host.path("etc/group"), group)

    def _apache_redhat(self, host, sites):
        """Red Hat Enterprise Linux 9's tree (files/redhat): /etc/httpd with conf/httpd.conf, conf.modules.d/,
        conf.d/ (the sites, mod_ssl's ssl.conf with its _default_ vhost on localhost.crt), the links logs, modules
        (-> /usr/lib64/httpd/modules -> the binary's module directory), run (-> /run/httpd) and state; the apache
        user; httpd (Debian's binary) and apachectl as its control commands; /run/httpd made at boot as
        systemd-tmpfiles does, httpd started as httpd.service does."""
        prof = host.record["profile"]
        self._replace_debian_apache(host, "usr/sbin/httpd")
        self._layout_files(host, "redhat")
        gid = self._system_user(host, "apache", "apache", "/usr/share/httpd")
        for rel, target in (("etc/httpd/logs", "../../var/log/httpd"),
                            ("etc/httpd/modules", "../../usr/lib64/httpd/modules"), ("etc/httpd/run", "/run/httpd"),
                            ("etc/httpd/state", "../../var/lib/httpd"),
                            ("usr/lib64/httpd/modules", "../../lib/apache2/modules")):
            os.makedirs(os.path.dirname(host.path(rel)), exist_ok=True)
            os.symlink(target, host.path(rel))
        for rel, mode, group in (("var/log/httpd", 0o700, 0), ("var/lib/httpd", 0o700, gid),
                                 ("etc/pki/tls/certs", 0o755, 0), ("etc/pki/tls/private", 0o755, 0)):
            os.makedirs(host.path(rel), exist_ok=True)
            os.chmod(host.path(rel), mode)
            os.chown(host.path(rel), 0, group)
        # What httpd-init makes on first start for mod_ssl's default vhost (Debian's snakeoil here).
        for src, dst, mode in (("etc/ssl/certs/ssl-cert-snakeoil.pem", "etc/pki/tls/certs/localhost.crt", 0o644),
                               ("etc/ssl/private/ssl-cert-snakeoil.key", "etc/pki/tls/private/localhost.key", 0o600)):
            with open(host.path(src), "rb") as f:
                self._write(host, dst, f.read(), mode)
        if prof.get("socache") is False:
            # The operator trimmed socache_shmcb out of 00-base.conf, and mod_ssl's session cache with it.
            _edit(host.path("etc/httpd/conf.modules.d/00-base.conf"),
                  "LoadModule socache_shmcb_module", "#LoadModule socache_shmcb_module")
            _edit(host.path("etc/httpd/conf.d/ssl.conf"),
                  "SSLSessionCache         shmcb:/run/httpd/sslcache(512000)", "SSLSessionCache         none")
        for site in sites:
            path = self._write(host, "etc/httpd/conf.d/{0}.conf".format(site["vhost"]), site["text"])
            if site["vhost"] == "must_staple":
                os.chown(path, 0, gid)  # an operator's 0640 root:apache site file
                os.chmod(path, 0o640)
        start = ("#!/bin/sh\n# Red Hat's boot: systemd-tmpfiles makes /run/httpd, httpd.service starts httpd $OPTIONS\n"
                 "install -d -m 0710 -o root -g apache /run/httpd\n. /etc/sysconfig/httpd\n"
                 "exec /usr/sbin/httpd $OPTIONS -k start\n")
        return "etc/httpd/conf.d/fleet.conf", start

    def _apache_suse(self, host, sites):
        """SUSE Linux Enterprise 15's tree (files/suse): /etc/apache2/httpd.conf with uid.conf, listen.conf,
        ssl-global.conf, default-server.conf (which includes conf.d/), sysconfig.d/ written at every start from
        /etc/sysconfig/apache2 (APACHE_MODULES, APACHE_SERVER_FLAGS=SSL) by start_apache2, the sites in vhosts.d/
        inside <IfDefine SSL>; the wwwrun user; httpd (-> httpd-event, Debian's binary), apachectl and apache2ctl as
        its control commands; modules from /usr/lib64/apache2 (-> the binary's module directory); /var/lib/apache2
        its run directory."""
        self._replace_debian_apache(host, "usr/sbin/httpd-event")
        os.symlink("httpd-event", host.path("usr/sbin/httpd"))
        self._layout_files(host, "suse")
        os.symlink("apachectl", host.path("usr/sbin/apache2ctl"))
        os.symlink("../lib/apache2/modules", host.path("usr/lib64/apache2"))
        gid = self._system_user(host, "wwwrun", "www", "/var/lib/wwwrun")
        for rel, mode in (("etc/apache2/conf.d", 0o755), ("etc/apache2/vhosts.d", 0o755), ("var/lib/apache2", 0o755),
                          ("var/log/apache2", 0o750), ("srv/www/htdocs", 0o755)):
            os.makedirs(host.path(rel), exist_ok=True)
            os.chmod(host.path(rel), mode)
        for site in sites:
            # As SUSE's vhost-ssl.template has it, the site in <IfDefine SSL>, its documents under /srv/www.
            text = "<IfDefine SSL>\n<IfDefine !NOSSL>\n{0}</IfDefine>\n</IfDefine>\n".format(
                site["text"].replace("DocumentRoot /var/www/html", "DocumentRoot /srv/www/htdocs"))
            path = self._write(host, "etc/apache2/vhosts.d/{0}.conf".format(site["vhost"]), text)
            if site["vhost"] == "must_staple":
                os.chown(path, 0, gid)  # an operator's 0640 root:www site file
                os.chmod(path, 0o640)
        return ("etc/apache2/conf.d/fleet.conf",
                "#!/bin/sh\n# SUSE's apache2.service runs start_apache2\nexec /usr/sbin/start_apache2 -k start\n")

    def _certbot_live(self, host, leaf):
        """The leaf as certbot keeps it on the host: archive/NAME/*1.pem and live/NAME/*.pem relative links."""
        name = leaf.server_name
        sources = {"cert": leaf.cert_path, "chain": leaf.chain_path, "fullchain": leaf.fullchain_path,
                   "privkey": leaf.key_path}
        for kind, src in sources.items():
            with open(src, "rb") as f:
                self._write(host, "etc/letsencrypt/archive/{0}/{1}1.pem".format(name, kind), f.read(),
                            0o600 if kind == "privkey" else 0o644)
            link = host.path("etc/letsencrypt/live/{0}/{1}.pem".format(name, kind))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("../../archive/{0}/{1}1.pem".format(name, kind), link)
        live = "/etc/letsencrypt/live/{0}/".format(name)
        return {"cert": live + "fullchain.pem", "key": live + "privkey.pem", "chain": None}

    def boot(self, hosts, timeout=120):
        """Start each host's init (in parallel) and wait until every sshd answers."""
        for host in hosts:
            r = host.record
            log = open(os.path.join(r["dir"], "boot.log"), "ab")
            proc = subprocess.Popen(["ip", "netns", "exec", r["ns"], "unshare", "--mount", "--uts", "--ipc", "--pid",
                                     "--fork", "--propagation", "private", "/bin/sh", HOST_INIT, r["root"], r["name"]],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=CLEAN_ENV,
                                    start_new_session=True)
            log.close()
            r["unshare"] = {"pid": proc.pid, "start": proc_start(proc.pid)}
            r["init"] = None
            self._save()
        deadline = time.monotonic() + timeout
        waiting = list(hosts)
        while waiting:
            for host in list(waiting):
                r = host.record
                if r["init"] is None:
                    kids = _children(r["unshare"]["pid"])
                    if kids:
                        r["init"] = {"pid": kids[0], "start": proc_start(kids[0])}
                        self._save()
                if not is_running(r["unshare"]):
                    raise FleetError("host {0} stopped while booting; see {1}".format(
                        r["name"], os.path.join(r["dir"], "boot.log")))
                if r["init"] is not None and _ssh_banner(r["address"]):
                    waiting.remove(host)
            if waiting and time.monotonic() > deadline:
                raise FleetError("hosts {0} did not answer on port 22 within {1}s; see their boot.log".format(
                    ", ".join(h.name for h in waiting), timeout))
            if waiting:
                time.sleep(0.05)

    def stop_host(self, host):
        """Stop the host's processes (its init, by PID: everything in its PID namespace dies with it)."""
        r = host.record
        if is_running(r.get("init")):
            try:
                os.kill(r["init"]["pid"], signal.SIGKILL)  # unshare --fork ignores SIGTERM; the PID 1 does not
            except ProcessLookupError:
                pass
        stop_record(r.get("unshare"))
        stop_record(r.get("init"), sig=signal.SIGKILL)
        r["init"] = r["unshare"] = None
        self._save()

    def unmount_host(self, host):
        r = host.record
        if r.get("mounted") or mounts_below(r["root"]):
            for point in sorted(mounts_below(r["root"]), reverse=True):
                _run(["umount", point])
            r["mounted"] = False
            self._save()

    def reset(self, profiles=None):
        """Every host made again from the image and in a new network namespace (same names, addresses, MACs and
        host keys), with new profiles where given ({index: profile} or a function); the responder (re)started in mode good."""
        hosts = self.hosts
        for host in hosts:
            self.stop_host(host)
            self.unmount_host(host)
        for host in hosts:
            if profiles is not None:
                prof = profiles(host.record["index"]) if callable(profiles) else profiles.get(host.record["index"])
                if prof is not None:
                    _check_kind(prof, host.record["index"])
                    host.record["profile"] = prof
            self._make_netns(host.record)  # a fresh network namespace: no firewall rules of an earlier test
            self._prepare_root(host)
        if not is_running(self.state.get("responder")):
            self.start_responder()
        else:
            self.responder().set_mode("good")
        self.boot(hosts)
        self._write_ansible_files()
        return self

    # --- Ansible ----------------------------------------------------------------------------------------------
    def _write_ansible_files(self):
        lines = ["# ocsp.stapling fleet {0}: written by tests/fleet for this run".format(self.name), "[fleet]"]
        for h in self.hosts:
            lines.append("{0} ansible_host={1}".format(h.name, h.address))
        lines += ["", "[fleet:vars]", "ansible_user=root", "ansible_python_interpreter=/usr/bin/python3",
                  "ansible_ssh_private_key_file=" + self.state["ssh_key"],
                  "ansible_ssh_common_args='-o UserKnownHostsFile={0} -o GlobalKnownHostsFile=/dev/null "
                  "-o StrictHostKeyChecking=yes'".format(self.state["known_hosts"]), ""]
        self.state["inventory"] = os.path.join(self.dir, "inventory.ini")
        with open(self.state["inventory"], "w") as f:
            f.write("\n".join(lines))
        # What an operator's inventory says of a host whose Apache was built with other defaults (host_vars beside
        # the inventory: the rhel and suse hosts name their tree, KINDS).
        host_vars = os.path.join(self.dir, "host_vars")
        if os.path.isdir(host_vars):
            shutil.rmtree(host_vars)
        os.makedirs(host_vars)
        for h in self.hosts:
            if KINDS[h.kind]["vars"]:
                with open(os.path.join(host_vars, h.name + ".yml"), "w") as f:
                    f.write("# {0}: a {1} host (its layout on Debian's apache2, tests/fleet/README.md)\n".format(
                        h.name, h.kind))
                    json.dump(KINDS[h.kind]["vars"], f, indent=1, sort_keys=True)
                    f.write("\n")
        self.state["ansible_cfg"] = os.path.join(self.dir, "ansible.cfg")
        with open(self.state["ansible_cfg"], "w") as f:
            f.write(ANSIBLE_CFG.format(forks=max(len(self.hosts), 5), inventory=self.state["inventory"],
                                       control_path_dir=self.state["control_path_dir"]))
        self._save()

    @property
    def inventory(self):
        return self.state["inventory"]

    @property
    def ansible_cfg(self):
        return self.state["ansible_cfg"]

    def ssh_argv(self, host):
        return ["ssh", "-i", self.state["ssh_key"], "-o", "UserKnownHostsFile=" + self.state["known_hosts"],
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10", "root@" + host.address]

    def ssh(self, host, command, check=True, timeout=60):
        return _run(self.ssh_argv(host) + ["--", command], check=check, timeout=timeout)

    # --- status and down --------------------------------------------------------------------------------------
    def anything_alive(self):
        st = self.state or {}
        if is_running(st.get("responder")):
            return True
        for r in st.get("hosts", []):
            if is_running(r.get("init")) or is_running(r.get("unshare")):
                return True
        return False

    def status(self):
        st = self.state or {}
        hosts = []
        for h in self.hosts:
            alive = h.alive()
            hosts.append({"name": h.name, "address": h.address, "netns": h.ns, "alive": alive,
                          "ssh": alive and _ssh_banner(h.address), "apache": alive and bool(h.apache_pids()),
                          "vhosts": h.profile.get("vhosts"), "firewall": h.profile.get("firewall"), "os": h.kind,
                          "pid": (h.init or {}).get("pid")})
        return {"name": self.name, "dir": self.dir, "subnet": st.get("subnet"), "bridge": st.get("bridge"),
                "guard_route": guard_route_present(), "image": st.get("image"), "ocsp_url": st.get("ocsp_url"),
                "responder": is_running(st.get("responder")), "inventory": st.get("inventory"),
                "ansible_cfg": st.get("ansible_cfg"), "hosts": hosts,
                "running": self.anything_alive()}

    def down(self):
        """Remove everything the fleet made (from any process): processes by PID, mounts, namespaces, links,
        the bridge, the guard route when no other fleet of ours remains (none registered in this state directory,
        no other fleet's bridge on the machine), the state directory."""
        st = self.state or {}
        errors = []
        if st.get("responder"):
            stop_record(st["responder"])
        if st.get("repo"):
            stop_record(st["repo"])
        for host in self.hosts:
            try:
                self.stop_host(host)
                self.unmount_host(host)
            except FleetError as exc:
                errors.append(str(exc))
            if host.record.get("netns") and host.ns in netns_list():
                _run(["ip", "netns", "del", host.ns], check=False)  # takes its end of the veth pair along
            if host.record.get("veth") in link_names():
                _run(["ip", "link", "del", host.record["veth"]], check=False)
        with guard_lock():
            if st.get("bridge") and st["bridge"] in link_names():
                _run(["ip", "link", "del", st["bridge"]], check=False)
            others = [f for f in registered_fleets(self.base_dir) if f != self.name]
            if not others and not fleet_bridges() and guard_route_present():
                _run(["ip", "route", "del", "unreachable", str(RANGE)], check=False)
        left = mounts_below(self.dir)
        if left:
            errors.append("still mounted: " + ", ".join(left))
        elif os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        self.state = None
        if errors:
            raise FleetError("fleet {0} down incomplete: {1}".format(self.name, "; ".join(errors)))


ANSIBLE_CFG = """# ocsp.stapling fleet: the controller's Ansible configuration for this fleet
[defaults]
inventory = {inventory}
forks = {forks}
host_key_checking = True
timeout = 20
retry_files_enabled = False
interpreter_python = /usr/bin/python3

[ssh_connection]
pipelining = True
control_path_dir = {control_path_dir}
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=5 -o ServerAliveCountMax=3
"""


def _check_kind(profile, index):
    kind = kind_of(profile)
    if kind not in KINDS:
        raise FleetError("unknown os {0!r} in the profile of host {1}: one of {2}".format(
            kind, index, ", ".join(sorted(KINDS))))
    family = KINDS[kind]["family"]
    if profile.get("howto") and family != "debian":
        raise FleetError("howto (the seed how-to's stapling by hand) is for Debian hosts; host {0} is {1}".format(
            index, kind))
    if profile.get("socache", True) is False and family != "redhat":
        raise FleetError("socache: false (socache_shmcb trimmed out of conf.modules.d) is for rhel hosts; host {0} "
                         "is {1}".format(index, kind))


def _edit(path, old, new):
    with open(path) as f:
        text = f.read()
    if old not in text:
        raise FleetError("{0} has no {1!r} to replace".format(path, old))
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def _group_id(group_file, name):
    with open(group_file) as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == name:
                return int(fields[2])
    raise FleetError("no group {0} in {1}".format(name, group_file))


def _children(pid):
    try:
        with open("/proc/{0}/task/{0}/children".format(pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _ssh_banner(address, timeout=0.5):
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _eprint(*args):
    sys.stderr.write(" ".join(str(a) for a in args) + "\n")
