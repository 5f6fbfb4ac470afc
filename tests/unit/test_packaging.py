"""What the collection declares to the ecosystem agrees with itself and with what is tested.

- the supported ansible-core lines: scripts/setup.sh builds one venv per line (CORES) on a Python the line supports
  (CORE_PYTHONS; on this machine or in the Debian 13 root file system), scripts/test.sh runs sanity and unit on each
  and integration on the oldest, the main and the newest, meta/runtime.yml's requires_ansible starts at the oldest,
  the README's support table names exactly those lines with their Pythons and stages, and the ansible-core and Python
  running this test are one of those pairs;
- the Python requirements (requirements.txt, what ansible-builder puts in an execution environment): minimums only,
  equal to what plugins/module_utils/_deps.py enforces; meta/execution-environment.yml names the two files;
- galaxy.yml's metadata is complete and every place naming the repository names the same one;
- the built tarball ships the collection and none of the development files (build_ignore).
"""

import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

from ansible.release import __version__ as ANSIBLE_CORE_VERSION
from ansible_collections.ocsp.stapling.plugins.module_utils import _deps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def load(rel):
    return yaml.safe_load(read(rel))


def cores():
    m = re.search(r"^CORES=\(([^)]*)\)", read("scripts/setup.sh"), re.M)
    assert m, "scripts/setup.sh has no CORES=(...) line"
    return m.group(1).split()


def core_pythons():
    """setup.sh's CORE_PYTHONS: {line: [controller Python versions]}."""
    m = re.search(r"^declare -A CORE_PYTHONS=\((.*?)^\)", read("scripts/setup.sh"), re.M | re.S)
    assert m, "scripts/setup.sh has no CORE_PYTHONS table"
    return {k: v.split() for k, v in re.findall(r'\[(\d+\.\d+)\]="([^"]*)"', m.group(1))}


def main_line(rel):
    m = re.search(r"^MAIN=(\S+)$", read(rel), re.M)
    assert m, "{0} has no MAIN= line".format(rel)
    return m.group(1)


def test_cores_are_distinct_lines_oldest_first_each_with_its_pythons():
    found = [tuple(int(p) for p in c.split(".")) for c in cores()]
    assert len(found) >= 2
    assert found == sorted(set(found))
    assert sorted(core_pythons()) == sorted(cores())
    for line, pythons in core_pythons().items():
        assert pythons and pythons == sorted(pythons, key=lambda v: tuple(int(p) for p in v.split("."))), line
    assert main_line("scripts/setup.sh") in cores()


def test_this_ansible_core_is_a_supported_line_on_a_python_it_supports():
    line = ".".join(ANSIBLE_CORE_VERSION.split(".")[:2])
    assert line in cores()
    assert "{0}.{1}".format(*sys.version_info[:2]) in core_pythons()[line]


def test_requires_ansible_starts_at_the_oldest_tested_line():
    assert load("meta/runtime.yml")["requires_ansible"] == ">={0}.0".format(cores()[0])


def test_test_sh_runs_the_matrix():
    m = re.search(r"^ALL=\(([^)]*)\)", read("scripts/test.sh"), re.M | re.S)
    stages = m.group(1).split()
    main, oldest, newest = main_line("scripts/setup.sh"), cores()[0], cores()[-1]
    assert main_line("scripts/test.sh") == main
    for kind in ("sanity", "unit"):
        assert [s for s in stages if s.startswith(kind + "-")] == [kind + "-" + c for c in cores()]
    assert sorted(s for s in stages if s.startswith("integration-")) == sorted(
        set("integration-" + c for c in (main, oldest, newest)))
    assert {"lint", "build", "fleet"} <= set(stages)


def support_table():
    readme = read("README.md")
    m = re.search(r"^## Supported versions\n(.*?)^## ", readme, re.M | re.S)
    assert m, "README.md has no '## Supported versions' section"
    return re.findall(r"^\| ansible-core (\d+\.\d+) \| ([^|]*) \|(.*)$", m.group(1), re.M)


def test_readme_support_table_names_the_tested_lines_their_pythons_and_stages():
    rows = support_table()
    assert [r[0] for r in rows] == cores()
    test_sh = read("scripts/test.sh")
    for line, python, rest in rows:
        assert any(v in python for v in core_pythons()[line]), (line, python)
        for kind in ("sanity", "unit"):
            assert "`{0}-{1}`".format(kind, line) in rest, (line, kind)
        named = re.findall(r"`(integration-[\d.]+)`", rest)
        assert all(n in test_sh for n in named), named


def requirement_lines(rel):
    return [ln.strip() for ln in read(rel).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_requirements_are_minimums_only_and_match_what_the_code_enforces():
    reqs = {}
    for line in requirement_lines("requirements.txt"):
        m = re.match(r"^([A-Za-z0-9_.-]+)>=([0-9.]+)$", line)
        assert m, "requirements.txt: {0!r} is not NAME>=MINIMUM (no caps, no pins)".format(line)
        reqs[m.group(1).lower()] = m.group(2)
    assert set(reqs) == {"cryptography", "pyopenssl", "jmespath"}
    assert reqs["cryptography"] == _deps.MINIMAL_CRYPTOGRAPHY_VERSION
    assert reqs["pyopenssl"] == _deps.MINIMAL_PYOPENSSL_VERSION


def test_execution_environment_metadata_names_both_files():
    ee = load("meta/execution-environment.yml")
    assert ee["version"] == 1
    assert ee["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    for rel in ee["dependencies"].values():
        assert requirement_lines(rel), rel


def test_bindep_entries_carry_a_platform():
    for line in requirement_lines("bindep.txt"):
        assert re.match(r"^[a-z0-9.+-]+ \[(compile )?platform:(rpm|dpkg)\]$", line), line


def test_galaxy_metadata_is_complete_and_names_one_repository():
    galaxy = load("galaxy.yml")
    for key in ("repository", "documentation", "homepage", "issues"):
        assert galaxy.get(key, "").startswith("https://"), key
    repo = galaxy["repository"]
    assert galaxy["issues"].startswith(repo) and galaxy["documentation"].startswith(repo)
    assert len(galaxy["tags"]) >= 5 and all(re.match(r"^[a-z0-9]+$", t) for t in galaxy["tags"])
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    # The same repository wherever the sources are named.
    links = load("docs/docsite/links.yml")
    assert "https://github.com/" + links["edit_on_github"]["repository"] == repo
    for rel in ("README.md", "CONTRIBUTING.md"):
        named = {re.sub(r"\.git$", "", u) for u in re.findall(r"https://github\.com/[\w-]+/[\w.-]*\w", read(rel))}
        assert named == {repo}, rel


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    proc = subprocess.run([galaxy, "collection", "build", "--output-path", str(out), ROOT],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    built = [f for f in os.listdir(str(out)) if f.endswith(".tar.gz")]
    assert built == ["ocsp-stapling-{0}.tar.gz".format(load("galaxy.yml")["version"])]
    with tarfile.open(os.path.join(str(out), built[0])) as tar:
        return {m.name for m in tar.getmembers()}


def test_tarball_ships_the_collection(tarball):
    for name in ("MANIFEST.json", "FILES.json", "README.md", "COPYING", "CONTRIBUTING.md", "requirements.txt",
                 "bindep.txt", "meta/runtime.yml", "meta/execution-environment.yml", "playbooks/rollout.yml",
                 "roles/apache_stapling/meta/argument_specs.yml", "docs/docsite/rst/playbooks.rst",
                 "docs/docsite/extra-docs.yml", "docs/docsite/links.yml", "changelogs/changelog.yaml",
                 "plugins/modules/apache_info.py", "plugins/filter/stapling_plan.py"):
        assert name in tarball, name


def test_tarball_ships_no_development_files(tarball):
    top = {n.split("/")[0] for n in tarball}
    assert top == {"MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.rst", "COPYING", "CONTRIBUTING.md", "requirements.txt",
                   "bindep.txt", "meta", "plugins", "roles", "playbooks", "docs", "changelogs", "tests"}
    # tests/ keeps only ansible-test's config (sanity ignore files would go there too).
    assert {n for n in tarball if n.startswith("tests/") and not n.endswith("/")} <= {"tests/config.yml"} | {
        n for n in tarball if re.match(r"^tests/sanity/ignore-\d+\.\d+\.txt$", n)}
    for n in tarball:
        assert "__pycache__" not in n and not n.endswith(".pyc"), n
