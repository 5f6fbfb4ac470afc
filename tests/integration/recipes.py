"""Shared by the ecosystem tests: the README's recipes, the built and installed collection, a clean environment.

A recipe is a fenced block of README.md right after a line ``<!-- recipe: NAME -->``. The tests run them as written,
with two substitutions only: the repository URL becomes a local git repository, and the release the recipes name
(``RELEASE``) becomes the version galaxy.yml holds where a file name carries it (until the release is made).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import yaml

import ansible_runner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = ansible_runner.BIN
RELEASE = "1.0.0"
_RECIPE = re.compile(r"^<!-- recipe: ([\w-]+) -->\n```(\w+)\n(.*?)^```$", re.M | re.S)


def galaxy():
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        return yaml.safe_load(f)


def repository_url():
    return galaxy()["repository"]


def recipe(name):
    """The text of the README's recipe NAME (KeyError names the recipes there are)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        found = {m.group(1): m.group(3) for m in _RECIPE.finditer(f.read())}
    if name not in found:
        raise KeyError("README.md has no recipe {0!r} (it has: {1})".format(name, ", ".join(sorted(found))))
    return found[name]


def recipe_yaml(name):
    return yaml.safe_load(recipe(name))


def tarball_name(version=None):
    return "ocsp-stapling-{0}.tar.gz".format(version or galaxy()["version"])


def env(collections_path, extra=None):
    """The environment a user's shell would have: our venv first on PATH, the given collections path only (nothing
    of this checkout), no test callback."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "OCSP_"))}
    out.update({
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
    })
    if extra:
        out.update(extra)
    out.update(ansible_runner.DEPRECATION_ENV)
    return out


def run(argv, cwd, environ, timeout=900):
    """Run a command; (returncode, output). A deprecation warning of ours in the output fails the test."""
    proc = subprocess.run([str(a) for a in argv], cwd=str(cwd), env=environ, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout, check=False)
    ansible_runner.check_deprecations(proc.stdout)
    return proc.returncode, proc.stdout


def run_shell_recipe(text, cwd, environ, substitutions=()):
    """Run a sh recipe line by line as argv lists (``cd`` changes the directory of the following lines); every line
    must succeed. Returns the directory the recipe ended in."""
    for line in text.splitlines():
        for old, new in substitutions:
            line = line.replace(old, new)
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        if argv[0] == "cd":
            cwd = os.path.join(str(cwd), argv[1])
            continue
        rc, out = run(argv, cwd, environ)
        assert rc == 0, "recipe line {0!r} failed ({1}):\n{2}".format(line, rc, out[-4000:])
    return cwd


def build_tarball(directory):
    rc, out = run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", directory, ROOT],
                  ROOT, env(os.path.join(str(directory), "unused")))
    assert rc == 0, out
    return os.path.join(str(directory), tarball_name())


def install(source, collections_path):
    """ansible-galaxy collection install SOURCE into an empty collections path (offline: a tarball needs nothing)."""
    rc, out = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-p",
                   collections_path, source], os.path.dirname(str(source)), env(collections_path))
    assert rc == 0, out
    return collections_path


def installed_manifest(collections_path):
    path = os.path.join(str(collections_path), "ansible_collections", "ocsp", "stapling", "MANIFEST.json")
    with open(path) as f:
        return json.load(f)["collection_info"]


def assert_usable(collections_path, cwd):
    """The installed copy alone (nothing of this checkout) serves the playbooks by FQCN and documents the role."""
    environ = env(collections_path)
    inventory = os.path.join(str(cwd), "syntax-inventory.ini")
    with open(inventory, "w") as f:
        f.write("localhost ansible_connection=local ansible_python_interpreter={0}\n".format(sys.executable))
    playbooks = ["ocsp.stapling." + p for p in ("rollout", "audit", "verify")]
    rc, out = run([os.path.join(BIN, "ansible-playbook"), "-i", inventory, "--syntax-check"] + playbooks, cwd, environ)
    assert rc == 0, out
    where = os.path.join(str(collections_path), "ansible_collections", "ocsp", "stapling", "playbooks")
    for p in ("rollout", "audit", "verify"):
        assert "playbook: {0}/{1}.yml".format(where, p) in out, out
    rc, out = run([os.path.join(BIN, "ansible-doc"), "-t", "role", "--json", "ocsp.stapling.apache_stapling"],
                  cwd, environ)
    assert rc == 0 and "ocsp.stapling.apache_stapling" in json.loads(out), out[-2000:]


def git(repo, *args):
    rc, out = run(["git", "-c", "user.name=ocsp.stapling tests", "-c", "user.email=tests@localhost",
                   "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
                  + list(args), repo, dict(os.environ))
    assert rc == 0, out
    return out


def make_git_repository(directory, later_version="99.0.0"):
    """A git repository of this checkout's files (those git tracks, and new ones it does not ignore, as the sanity
    stage copies them): one commit tagged RELEASE, then a later commit that changes galaxy.yml's version to
    later_version. Returns (path, file:// URL)."""
    repo = os.path.join(str(directory), "ocsp.stapling")
    os.makedirs(repo)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, stdout=subprocess.PIPE,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src):
            continue  # deleted in the working tree, not yet committed
        dst = os.path.join(repo, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the release")
    git(repo, "tag", RELEASE)
    path = os.path.join(repo, "galaxy.yml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(re.sub(r"^version: .*$", "version: " + later_version, text, flags=re.M))
    git(repo, "commit", "-qam", "after the release")
    return repo, "file://" + repo


def curl_cert_status(lab, name):
    """curl --cert-status (an independent verifier) on one lab vhost: (exit code, output)."""
    t = lab.apache.vhosts[name]
    return run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cert-status", "--cacert", lab.pki.root_path,
                "--resolve", "{0}:{1}:127.0.0.1".format(t["sni"], t["port"]),
                "https://{0}:{1}/".format(t["sni"], t["port"])], ROOT, dict(os.environ), timeout=60)
