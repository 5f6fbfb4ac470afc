"""Debian root file systems for the controller lanes: made once with debootstrap, cached, entered per run.

On a Debian 12 machine (Python 3.11) ansible-core 2.20 and later cannot run: they need Python 3.12+ (2.22: 3.13+).
``scripts/setup.sh`` then builds their virtual environments inside a Debian 13 (trixie) root file system, and
``scripts/test.sh`` runs their stages in it, against the lab, whose Apache there is Debian 13's own apache2 (the lab
copies ``/etc/apache2`` of the root it runs in).

A recipe (suite, mirrors, package list, this module's build steps) is hashed; the root lives at
``/var/cache/ocsp-stapling-rootfs/<recipe>-<hash>/rootfs`` and is reused while the recipe is unchanged (like the
fleet's image, ``tests/fleet/image.py``). Building it takes a minute or three and needs the Debian package
registry: ``debootstrap --variant=minbase``, then ``apt-get install`` of the recipe's packages inside it with a
``policy-rc.d`` that forbids starting any daemon, in private mount and PID namespaces.

``run(argv)`` enters it without changing it:

- an overlay of the cached root (writes go to a per-run upper directory under ``/var/tmp/ocsp-stapling-rootfs/``,
  removed afterwards), in private mount and PID namespaces (``unshare``): every mount made for the run is the
  namespace's and goes with it, and when the run ends the kernel ends every process left in it; tini is its PID 1;
- ``/proc`` (of the new PID namespace), ``/dev``, ``/sys``, a private ``/run``;
- the checkout (and any ``binds``) at the same path as outside, read-write; a persistent home
  (``/var/cache/ocsp-stapling-rootfs/home/<recipe>``: pip's cache, ansible-test's venvs) at ``/root``;
- the package index as this machine reaches it: pip's configuration files (``/etc/pip.conf``, ``/etc/xdg/pip/``,
  ``~/.config/pip/pip.conf``, ``~/.pip/pip.conf``, ``$PIP_CONFIG_FILE``) copied in, the local directories they
  name (``find-links``, ``file://`` indexes) bound read-only, the files they name (constraints) copied, the host's
  CA bundle copied over the root's and named by ``PIP_CERT``/``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE``, and
  ``resolv.conf``/``hosts``.

Nothing of the machine's ``/etc`` is visible inside: a process in the root sees the root's ``/etc/apache2`` and its
own PID namespace, so it can neither edit the machine's Apache configuration nor signal the machine's Apache.
The network namespace is the machine's (the lab listens on loopback ports it picks free).
"""

import configparser
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import debroot

CACHE_ROOT = os.environ.get("OCSP_ROOTFS_CACHE", "/var/cache/ocsp-stapling-rootfs")
RUN_ROOT = os.environ.get("OCSP_ROOTFS_RUN", "/var/tmp/ocsp-stapling-rootfs")
MIRROR, SECURITY = debroot.MIRROR, debroot.SECURITY
# Bump when the build steps below change in a way the other inputs do not show.
RECIPE_VERSION = 1

# What the sanity, unit and integration stages call inside a root (tests/lab, test.sh): Debian's Python (venvs need
# python3-venv), its Apache and OpenSSL for the lab. The lab enables mod_ssl and Debian's default-ssl site in its own
# copy of /etc/apache2; the root's Apache stays as Debian ships it.
LANE_PACKAGES = ("python3", "python3-venv", "python3-cryptography", "python3-cffi-backend", "python3-openssl",
                 "apache2", "apache2-utils", "openssl", "curl", "ca-certificates", "git", "rsync",
                 "shellcheck", "nftables", "iptables", "iproute2", "procps", "tini",
                 # the stock default-ssl site the lab enables serves ssl-cert's snakeoil certificate
                 "ssl-cert")

RECIPES = {
    # The controller lanes of ansible-core 2.20, 2.21 and 2.22 on a Debian 12 machine: Debian 13's Python 3.13.
    "trixie": {"suite": "trixie", "python": "3.13", "release": "Debian 13", "packages": LANE_PACKAGES},
    # The controller lane of ansible-core 2.16 (Python 3.10-3.12) on a Debian 13 machine: Debian 12's Python 3.11.
    "bookworm": {"suite": "bookworm", "python": "3.11", "release": "Debian 12", "packages": LANE_PACKAGES},
    # A fresh Debian 13 machine as a user gets it, before our set-up: Python, git to clone, CA certificates. What
    # scripts/setup.sh needs beyond that it installs itself (README: "fresh Debian 13").
    "trixie-fresh": {
        "suite": "trixie", "python": "3.13", "release": "Debian 13",
        "packages": ("python3", "git", "ca-certificates", "tini"),
    },
}

# pip options whose values may name local files or directories the root must see at the same path.
PIP_PATH_OPTIONS = ("find-links", "extra-index-url", "index-url", "constraint", "requirement", "cert", "client-cert")
PIP_CONFIG_FILES = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf")


class RootfsError(RuntimeError):
    pass


# --- recipe and cache -----------------------------------------------------------------------------------------
def recipe(name="trixie"):
    if name not in RECIPES:
        raise RootfsError("no root file system recipe {0!r}; known: {1}".format(name, ", ".join(sorted(RECIPES))))
    r = RECIPES[name]
    return {"version": RECIPE_VERSION, "name": name, "suite": r["suite"], "mirror": MIRROR, "security": SECURITY,
            "packages": sorted(r["packages"]), "arch": os.uname().machine,
            "steps": hashlib.sha256(_CHROOT_INSTALL.encode()).hexdigest()}


def recipe_hash(name="trixie"):
    return hashlib.sha256(json.dumps(recipe(name), sort_keys=True).encode()).hexdigest()[:16]


def image_dir(name="trixie"):
    return os.path.join(CACHE_ROOT, "{0}-{1}".format(name, recipe_hash(name)))


def rootfs(name="trixie"):
    """The cached root of the recipe (None when not built yet)."""
    return debroot.complete(image_dir(name))


def info(name="trixie"):
    """What the cached root holds (complete.json: recipe, versions, build time), or None."""
    if not rootfs(name):
        return None
    with open(os.path.join(image_dir(name), "complete.json")) as f:
        return json.load(f)


# Runs inside private mount and PID namespaces (unshare), so its mounts end with it.
_CHROOT_INSTALL = r"""
set -eu
root=$1; shift
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
in_root apt-get -o Acquire::Retries=3 update
in_root apt-get -o Acquire::Retries=3 -y --no-install-recommends install "$@"
in_root apt-get clean
"""


def build(name="trixie", force=False, log_stream=None):
    """Build the recipe's root unless cached; return its path. Concurrent callers wait for one build."""
    recipe(name)
    if not force and rootfs(name):
        return rootfs(name)
    if os.geteuid() != 0:
        raise RootfsError("building a root file system needs root (debootstrap, mounts)")
    r = RECIPES[name]
    final = image_dir(name)
    started, built = time.monotonic(), []

    def steps(root, _tmp, log):
        built.append(root)
        if log_stream:
            log_stream.write("rootfs: building Debian {0} ({1}, recipe {2}) with debootstrap, log {3}\n".format(
                r["suite"], name, recipe_hash(name), os.path.join(final, "build.log")))
            log_stream.flush()
        debroot.bootstrap(r["suite"], root, log, RootfsError, "root file system build")
        debroot.install(root, _CHROOT_INSTALL, "rootfs-build", r["packages"], log, RootfsError)
        debroot.clean(root, "# ocsp.stapling root file system: the machine's resolv.conf is copied in per run\n")
        return {"versions": _versions(root)}

    path = debroot.build_cached(final, os.path.join(CACHE_ROOT, ".lock"), steps, recipe(name), force=force)
    if log_stream and built:
        versions = info(name)["versions"]
        log_stream.write("rootfs: {0} built in {1:.0f}s: {2}\n".format(
            name, time.monotonic() - started, ", ".join("{0} {1}".format(k, v) for k, v in versions.items())))
        log_stream.flush()
    return path


def _versions(root):
    """The versions a lane cares about, from the root's own package database."""
    out = {}
    for pkg in ("python3", "apache2", "openssl", "python3-cryptography", "python3-openssl"):
        proc = subprocess.run(["dpkg-query", "--admindir", os.path.join(root, "var/lib/dpkg"), "-W",
                               "-f", "${Version}", pkg], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            out[pkg] = proc.stdout.strip()
    return out


# --- the host's package-index settings ------------------------------------------------------------------------
def _pip_config_files():
    files = list(PIP_CONFIG_FILES)
    home = os.path.expanduser("~")
    files += [os.path.join(home, ".pip/pip.conf"), os.path.join(home, ".config/pip/pip.conf")]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(os.environ["PIP_CONFIG_FILE"])
    return [f for f in files if os.path.isfile(f)]


def _local_paths(value):
    """Local files and directories a pip option value names (paths and file:// URLs), existing ones only."""
    found = []
    for word in value.split():
        if word.startswith("file://"):
            word = word[len("file://"):]
        if word.startswith("/") and os.path.exists(word):
            found.append(os.path.normpath(word))
    return found


def _sort_paths(option, value, dirs, files):
    for p in _local_paths(value):
        if option.endswith("index-url") and os.path.isdir(p):
            # A local PEP 503 index (DIR/simple) links to its files beside it (DIR/files, DIR/packages): bind DIR.
            p = os.path.dirname(p.rstrip("/")) or p
        (dirs if os.path.isdir(p) else files).append(p)


def pip_settings():
    """What the root needs to reach the package index as this machine does: {"configs": [(host path, path in
    the root)], "dirs": [...] bound read-only, "files": [...] copied, "env": {PIP_*: ...}}."""
    home = os.path.expanduser("~")
    configs, dirs, files = [], [], []
    for path in _pip_config_files():
        inside = path
        if path.startswith(home + os.sep):
            inside = "/root" + path[len(home):]
        elif path == os.environ.get("PIP_CONFIG_FILE"):
            inside = "/etc/ocsp-stapling-rootfs/pip.conf"
        configs.append((path, inside))
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise RootfsError("cannot read pip configuration {0}: {1}".format(path, exc))
        for section in parser.sections():
            for key, value in parser.items(section):
                if key in PIP_PATH_OPTIONS:
                    _sort_paths(key, value, dirs, files)
    env = {}
    for key, value in os.environ.items():
        if key.startswith("PIP_") and key != "PIP_CONFIG_FILE":
            env[key] = value
            _sort_paths(key[len("PIP_"):].lower().replace("_", "-"), value, dirs, files)
    return {"configs": configs, "dirs": sorted(set(dirs)), "files": sorted(set(files)), "env": env}


def ca_bundle():
    """The CA bundle this machine trusts (the one pip and OpenSSL use here)."""
    for cand in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), os.environ.get("REQUESTS_CA_BUNDLE"),
                 "/etc/ssl/certs/ca-certificates.crt"):
        if cand and os.path.isfile(cand):
            return cand
    return None


# --- entering it ----------------------------------------------------------------------------------------------
# PID 1 of the run's new PID namespace until it execs tini inside the root: the mounts, all private to the run's
# mount namespace. Arguments: lower upper work merged home cwd nbinds bind... nro ro... -- argv...
_ENTER = r"""
set -eu
lower=$1 upper=$2 work=$3 root=$4 home=$5 cwd=$6; shift 6
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount -t sysfs -o ro sysfs "$root/sys" 2>/dev/null || mount --rbind -o ro /sys "$root/sys"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/lock"
mount --bind "$home" "$root/root"
n=$1; shift
while [ "$n" -gt 0 ]; do
  mkdir -p "$root$1"; mount --bind "$1" "$root$1"; shift; n=$((n - 1))
done
n=$1; shift
while [ "$n" -gt 0 ]; do
  mkdir -p "$root$1"; mount --bind "$1" "$root$1"; mount -o remount,bind,ro "$root$1"; shift; n=$((n - 1))
done
[ "$1" = "--" ] && shift
exec chroot "$root" /usr/bin/tini -s -g -- /bin/sh -c 'cd "$0" && exec "$@"' "$cwd" "$@"
"""

# Environment variables that pass from the caller into the root (everything else is reset).
PASS_ENV = re.compile(r"^(OCSP_.*|CI|TERM|ANSIBLE_NOCOLOR|ANSIBLE_FORCE_COLOR|PY_COLORS|NO_COLOR)$")
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOT_CA = "/etc/ssl/certs/ca-certificates.crt"


def home_dir(name="trixie"):
    return os.path.join(CACHE_ROOT, "home", name)


def _copy_in(merged, src, inside=None):
    dst = merged + (inside or src)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.lexists(dst) and not os.path.isfile(dst):
        os.unlink(dst)
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


def run(argv, name="trixie", binds=(), ro_binds=(), cwd=None, env=None, build_if_missing=True, log_stream=None):
    """Run argv inside the recipe's root (built first when missing); return its exit status. binds: directories
    seen at the same path inside, read-write; ro_binds: the same, read-only."""
    if os.geteuid() != 0:
        raise RootfsError("entering a root file system needs root (namespaces, mounts)")
    lower = rootfs(name) or (build(name, log_stream=log_stream) if build_if_missing else None)
    if not lower:
        raise RootfsError("the {0} root file system is not built: python3 -m rootfs build --recipe {0}".format(name))
    cwd = os.path.abspath(cwd or os.getcwd())
    binds = [os.path.abspath(b) for b in binds]
    ro_binds = [os.path.abspath(b) for b in ro_binds]
    for b in binds + ro_binds:
        if not os.path.isdir(b):
            raise RootfsError("cannot bind {0} into the root: not a directory".format(b))
    home = home_dir(name)
    os.makedirs(home, mode=0o700, exist_ok=True)
    os.makedirs(RUN_ROOT, exist_ok=True)
    session = tempfile.mkdtemp(prefix="{0}-".format(name), dir=RUN_ROOT)
    upper, work, merged = (os.path.join(session, d) for d in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        os.makedirs(d)
    try:
        pip = pip_settings()
        # Files copied in go to the upper directory before the overlay is mounted: seen at their place inside.
        for src in ("/etc/resolv.conf", "/etc/hosts"):
            if os.path.isfile(src):
                _copy_in(upper, src)
        bundle = ca_bundle()
        if bundle:
            _copy_in(upper, bundle, ROOT_CA)
        for src, inside in pip["configs"]:
            if inside.startswith("/root/"):
                _copy_in(home, src, inside[len("/root"):])
            else:
                _copy_in(upper, src, inside)
        for src in pip["files"]:
            if src != bundle:
                _copy_in(upper, src)
        inner_env = {"PATH": ROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8", "USER": "root", "LOGNAME": "root"}
        inner_env.update({k: v for k, v in os.environ.items() if PASS_ENV.match(k)})
        inner_env.update(pip["env"])
        if bundle:
            for key in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                inner_env[key] = ROOT_CA
        inner_env.update(env or {})
        if inner_env.get("PIP_CONFIG_FILE"):
            inner_env["PIP_CONFIG_FILE"] = "/etc/ocsp-stapling-rootfs/pip.conf"
        env_argv = ["/usr/bin/env", "-i"] + ["{0}={1}".format(k, v) for k, v in sorted(inner_env.items())]
        ro = ro_binds + [d for d in pip["dirs"] if not any(d == b or d.startswith(b + os.sep) for b in binds)]
        enter = (["unshare", "--mount", "--pid", "--fork", "--kill-child=SIGTERM", "--propagation", "private",
                  "/bin/sh", "-c", _ENTER, "rootfs-enter", lower, upper, work, merged, home, cwd,
                  str(len(binds))] + binds + [str(len(ro))] + ro + ["--"] + env_argv + list(argv))
        proc = subprocess.Popen(enter)
        try:
            return proc.wait()
        except BaseException:
            # Interrupted (SIGINT reaches the whole process group anyway) or killed: end the run; the kernel ends
            # every process of its PID namespace with its PID 1, and its mounts with it.
            try:
                proc.send_signal(signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            raise
    finally:
        _remove_session(session)


def _remove_session(session):
    """The run's upper and work directories. Its overlay was mounted in the run's own mount namespace only, which
    ended with the run's last process: nothing of it is mounted here."""
    shutil.rmtree(session, ignore_errors=True)
