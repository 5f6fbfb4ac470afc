"""The fleet's base images: a Debian root filesystem per suite (bookworm, trixie) made once with debootstrap and
cached.

The cache directory is keyed by the recipe's hash (suite, mirrors, package list, the boot script, this
module's build steps), so a changed recipe builds a new image beside the old one and an unchanged one is
reused: ``/var/cache/ocsp-stapling-fleet/<hash>/rootfs``, with the hosts' package source of that suite beside it
(``<hash>/repo``). Building takes about a minute or two here and needs
the Debian package registry; hosts never reach it (they have no route out), so whatever they need is baked in.

Built in two phases, so no package script ever starts a daemon on this machine (``tests/debroot.py``, shared with
the controller lanes' roots): ``debootstrap --variant=minbase``, then ``apt-get install`` of the rest inside the new
root, with daemons forbidden, in private mount and PID namespaces.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import debroot

CACHE_ROOT = os.environ.get("OCSP_FLEET_IMAGE_CACHE", "/var/cache/ocsp-stapling-fleet")
# The suites a fleet host can run (its profile's "os"; the Red Hat and SUSE layouts are made on bookworm's image).
SUITES = ("bookworm", "trixie")
SUITE = "bookworm"  # the default
MIRROR, SECURITY = debroot.MIRROR, debroot.SECURITY
# What every host needs; the hosts cannot fetch anything later. The same names on both suites (trixie, too, needs
# python3-cffi-backend named: debootstrap cannot resolve the virtual python3-cffi-backend-api-* it depends on).
PACKAGES = (
    "python3", "python3-cryptography", "python3-cffi-backend", "python3-openssl",
    "openssh-server", "apache2", "nftables", "iptables", "curl", "ca-certificates",
    "tini", "iproute2", "procps", "init-system-helpers", "openssl",
    # A stock Debian web server: ssl-cert's snakeoil for the default-ssl site; python3-apt, which Ansible's apt
    # module (behind ansible.builtin.package) needs to install what a node lacks.
    "ssl-cert", "python3-apt",
)
# What the hosts' local package source (the fleet's repository on its bridge) offers: the libraries a profile takes
# away from a host (python3-openssl, python3-cryptography), fetched with apt-get download at build time.
REPO_PACKAGES = ("python3-openssl", "python3-cryptography", "python3-cffi-backend")
HERE = os.path.dirname(os.path.abspath(__file__))
BOOT_SCRIPT = os.path.join(HERE, "files", "fleet-boot")
# Bump when the build steps below change in a way the other inputs do not show.
RECIPE_VERSION = 2


class ImageError(RuntimeError):
    pass


def _suite(suite):
    suite = suite or SUITE
    if suite not in SUITES:
        raise ImageError("no fleet image for suite {0!r}; one of {1}".format(suite, ", ".join(SUITES)))
    return suite


def recipe(suite=None):
    with open(BOOT_SCRIPT, "rb") as f:
        boot = hashlib.sha256(f.read()).hexdigest()
    return {"version": RECIPE_VERSION, "suite": _suite(suite), "mirror": MIRROR, "security": SECURITY,
            "packages": sorted(PACKAGES), "repo": sorted(REPO_PACKAGES), "modules": ["ssl", "socache_shmcb"],
            "boot": boot, "arch": os.uname().machine}


def recipe_hash(suite=None):
    return hashlib.sha256(json.dumps(recipe(suite), sort_keys=True).encode()).hexdigest()[:16]


def image_dir(suite=None):
    return os.path.join(CACHE_ROOT, recipe_hash(suite))


def rootfs(suite=None):
    """The cached image's root filesystem (None when not built yet)."""
    return debroot.complete(image_dir(suite))


# Runs inside private mount and PID namespaces (unshare), so its mounts end with it.
_CHROOT_INSTALL = r"""
set -eu
root=$1; shift
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C \
  apt-get -o Acquire::Retries=3 update
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C \
  apt-get -o Acquire::Retries=3 -y --no-install-recommends install "$@"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin a2enmod -q ssl socache_shmcb
mkdir -p "$root/var/tmp/fleet-repo"
chroot "$root" /bin/sh -c 'cd /var/tmp/fleet-repo && exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  apt-get -o Acquire::Retries=3 download '"$FLEET_REPO_PACKAGES"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin apt-get clean
"""


def build(force=False, log_stream=None, suite=None):
    """Build the suite's image unless cached; return its rootfs. Concurrent callers of one suite wait for one build
    (a lock per recipe: the suites build side by side)."""
    suite = _suite(suite)
    if not force and rootfs(suite):
        return rootfs(suite)
    final = image_dir(suite)

    def steps(root, tmp, log):
        if log_stream:
            log_stream.write("fleet image: building {0} ({1}) with debootstrap (log {2})\n".format(
                suite, recipe_hash(suite), os.path.join(final, "build.log")))
            log_stream.flush()
        debroot.bootstrap(suite, root, log, ImageError, "fleet image build")
        debroot.install(root, _CHROOT_INSTALL, "fleet-image", PACKAGES, log, ImageError,
                        env=dict(os.environ, FLEET_REPO_PACKAGES=" ".join(REPO_PACKAGES)))
        _make_repo(os.path.join(root, "var/tmp/fleet-repo"), os.path.join(tmp, "repo"), log)
        _finish(root)

    return debroot.build_cached(final, os.path.join(CACHE_ROOT, ".lock-" + recipe_hash(suite)), steps, recipe(suite),
                                force=force)


def repo_dir(suite=None):
    """The hosts' local package source of the suite's cached image (.deb files and their Packages index)."""
    return os.path.join(image_dir(suite), "repo")


def _make_repo(downloaded, repo, log):
    """A flat Debian repository (deb [trusted=yes] http://.../ ./): the .deb files apt-get download fetched,
    indexed with dpkg-scanpackages."""
    if shutil.which("dpkg-scanpackages") is None:
        raise ImageError("dpkg-scanpackages is not installed: apt-get install dpkg-dev (scripts/apt-packages.txt)")
    shutil.move(downloaded, repo)
    with open(os.path.join(repo, "Packages"), "wb") as out:
        log.write(b"$ dpkg-scanpackages . /dev/null\n")
        proc = subprocess.run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], cwd=repo, stdout=out,
                              stderr=log, check=False)
    if proc.returncode != 0:
        raise ImageError("dpkg-scanpackages exited {0}; see {1}".format(proc.returncode, log.name))
    debs = [n for n in os.listdir(repo) if n.endswith(".deb")]
    if len(debs) < len(REPO_PACKAGES):
        raise ImageError("the fleet repository has {0} of {1} packages ({2})".format(
            len(debs), len(REPO_PACKAGES), ", ".join(sorted(debs))))


def _finish(root):
    """Per-host things do not belong in the image: host keys, machine id, logs, apt lists."""
    for name in os.listdir(os.path.join(root, "etc/ssh")):
        if name.startswith("ssh_host_"):
            os.unlink(os.path.join(root, "etc/ssh", name))
    debroot.clean(root, "# fleet host: no DNS, no route out\n")
    shutil.copy(BOOT_SCRIPT, os.path.join(root, "usr/local/sbin/fleet-boot"))
    os.chmod(os.path.join(root, "usr/local/sbin/fleet-boot"), 0o755)
    with open(os.path.join(root, "etc/ssh/sshd_config.d/fleet.conf"), "w") as f:
        f.write("# fleet host: key-based root login only, ed25519 host key made per host\n"
                "HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n"
                "MaxStartups 200\nMaxSessions 50\n")


def main(argv=None):
    """python -m fleet.image [--force] [SUITE...] (default: bookworm): build or find each, print its rootfs."""
    argv = sys.argv[1:] if argv is None else argv
    for suite in [a for a in argv if not a.startswith("-")] or [SUITE]:
        print(build(force="--force" in argv, log_stream=sys.stderr, suite=suite))
    return 0


if __name__ == "__main__":
    sys.exit(main())
