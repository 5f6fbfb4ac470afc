"""The execution environment: what ansible-builder finds in the installed collection, and the build context it writes
for the README's EE definition. No container engine runs here, so the image build itself is not tested (the README
says so); what the image build would do with our collection is: it installs the collection from the definition's
galaxy requirements, then runs the introspection script it put in the context over the installed collections.

- ``ansible-builder introspect`` over the collection installed from its tarball finds exactly the lines of
  requirements.txt (Python) and bindep.txt (system), as meta/execution-environment.yml declares;
- ``ansible-builder create`` on the README's definition writes a context whose requirements name ocsp.stapling and
  whose Containerfile installs them and runs the introspection; that context's own introspect.py finds the same;
- the real bindep, on this Debian machine, reads bindep.txt: only the dpkg entries of the compile profile apply.
"""

import os
import re
import subprocess
import sys

import pytest
import yaml

import recipes

pytestmark = pytest.mark.toolchain
FROM = "  # from collection ocsp.stapling"


def declared(rel):
    with open(os.path.join(recipes.ROOT, rel)) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tarball = recipes.build_tarball(str(tmp_path_factory.mktemp("dist")))
    return recipes.install(tarball, str(tmp_path_factory.mktemp("ee") / "collections"))


def found(pip_file, bindep_file):
    out = []
    for path in (pip_file, bindep_file):
        with open(str(path)) as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip()]
        for ln in lines:
            assert ln.endswith(FROM), ln  # every requirement comes from our collection, and only from it
        out.append([ln[:-len(FROM)] for ln in lines])
    return out


def test_meta_execution_environment_is_what_ansible_builder_reads(installed):
    collection = os.path.join(installed, "ansible_collections", "ocsp", "stapling")
    with open(os.path.join(collection, "meta", "execution-environment.yml")) as f:
        meta = yaml.safe_load(f)
    assert meta == {"version": 1, "dependencies": {"python": "requirements.txt", "system": "bindep.txt"}}
    for rel in meta["dependencies"].values():
        assert os.path.isfile(os.path.join(collection, rel)), rel


def test_introspect_finds_exactly_the_declared_requirements(installed, tmp_path):
    rc, out = recipes.run([os.path.join(recipes.BIN, "ansible-builder"), "introspect", installed,
                           "--write-pip", tmp_path / "pip.txt", "--write-bindep", tmp_path / "bindep.txt"],
                          tmp_path, recipes.env(installed))
    assert rc == 0, out
    pip, system = found(tmp_path / "pip.txt", tmp_path / "bindep.txt")
    assert pip == declared("requirements.txt")
    assert system == declared("bindep.txt")
    assert sorted(pip) == sorted(["cryptography>=3.4", "pyOpenSSL>=20.0.0", "jmespath>=0.9.0"])


def test_introspect_without_our_metadata_finds_nothing_of_ours(installed, tmp_path):
    """The oracle can fail: a collection that declares nothing yields no requirement."""
    rc, out = recipes.run([os.path.join(recipes.BIN, "ansible-builder"), "introspect", tmp_path,
                           "--write-pip", tmp_path / "pip.txt", "--write-bindep", tmp_path / "bindep.txt"],
                          tmp_path, recipes.env(installed))
    assert rc == 0, out
    for name in ("pip.txt", "bindep.txt"):
        assert not (tmp_path / name).exists() or not (tmp_path / name).read_text().strip()


def test_builder_create_on_the_readme_definition(installed, tmp_path):
    definition = recipes.recipe_yaml("execution-environment")
    assert definition["version"] == 3
    (tmp_path / "execution-environment.yml").write_text(recipes.recipe("execution-environment"))
    context = tmp_path / "context"
    rc, out = recipes.run([os.path.join(recipes.BIN, "ansible-builder"), "create", "-f", "execution-environment.yml",
                           "-c", context, "--output-filename", "Containerfile"], tmp_path, recipes.env(installed))
    assert rc == 0, out
    with open(str(context / "_build" / "requirements.yml")) as f:
        galaxy = yaml.safe_load(f)
    assert [c["name"] for c in galaxy["collections"]] == ["ocsp.stapling"]
    containerfile = (context / "Containerfile").read_text()
    assert re.search(r"ansible-galaxy collection install .*-r requirements.yml", containerfile), containerfile
    assert re.search(r"introspect\.py introspect .*--write-pip", containerfile), containerfile
    # What that step finds once the collection is installed: the script ansible-builder put in the context, run over
    # our installed collection.
    script = context / "_build" / "scripts" / "introspect.py"
    proc = subprocess.run([sys.executable, str(script), "introspect", installed, "--write-pip",
                           str(tmp_path / "pip.txt"), "--write-bindep", str(tmp_path / "bindep.txt")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    pip, system = found(tmp_path / "pip.txt", tmp_path / "bindep.txt")
    assert pip == declared("requirements.txt") and system == declared("bindep.txt")


def test_bindep_reads_the_system_requirements_on_debian(tmp_path):
    """bindep (ansible-builder's dependency) on this Debian machine: the file parses; outside the compile profile
    nothing is needed; in it, only dpkg package names can be reported missing."""
    bindep = os.path.join(recipes.BIN, "bindep")
    path = os.path.join(recipes.ROOT, "bindep.txt")
    rc, out = recipes.run([bindep, "--file", path, "--brief"], tmp_path, recipes.env(tmp_path))
    assert rc == 0 and not out.strip(), out  # the default profile: nothing at run time
    rc, out = recipes.run([bindep, "--file", path, "--brief", "compile"], tmp_path, recipes.env(tmp_path))
    assert rc in (0, 1), out
    dpkg = {ln.split()[0] for ln in declared("bindep.txt") if "platform:dpkg" in ln}
    rpm_only = {ln.split()[0] for ln in declared("bindep.txt") if "platform:rpm" in ln} - dpkg
    missing = set(out.split())
    assert missing <= dpkg, out
    assert not missing & rpm_only
