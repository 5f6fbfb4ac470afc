"""The README's install and pipeline recipes, run as written (recipes.py says what is substituted):

- a release tarball built from a checkout of the tag, and a requirements.yml naming a tarball;
- a requirements.yml naming the git repository at a tag (a local repository of this checkout; a later commit must not
  be what gets installed);
- an AWX/AAP project (collections/requirements.yml, a playbook importing ocsp.stapling.rollout) run the AWX way:
  the project update's ansible-galaxy install, then the job through ansible-runner without process isolation,
  between two runs of the CI gate (audit with apache_stapling_audit_fail_on_drift), which fails before the rollout
  and passes after it;
- the rollout through ansible-navigator (--mode stdout --execution-environment false --pae false).

Each installed copy is used alone: ANSIBLE_COLLECTIONS_PATH names only where the recipe installed it.
"""

import json
import os
import shlex
import shutil
import sys

import pytest
import yaml

import recipes
from rollout_helpers import rollout_vars

STAPLEABLE = ("good", "must_staple", "second_issuer")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    return recipes.build_tarball(str(tmp_path_factory.mktemp("dist")))


@pytest.fixture(scope="module")
def git_repository(tmp_path_factory):
    return recipes.make_git_repository(tmp_path_factory.mktemp("git"))


def test_tarball_built_from_a_checkout_of_the_tag(git_repository, tmp_path):
    _repo, url = git_repository
    version = recipes.galaxy()["version"]
    collections = tmp_path / "collections"
    end = recipes.run_shell_recipe(
        recipes.recipe("tarball-build"), tmp_path, recipes.env(collections),
        substitutions=[(recipes.repository_url() + ".git", url),
                       (recipes.tarball_name(recipes.RELEASE), recipes.tarball_name(version))])
    assert os.path.exists(os.path.join(end, recipes.tarball_name(version)))
    assert recipes.installed_manifest(collections)["version"] == version  # the tag's, not the later commit's
    recipes.assert_usable(collections, tmp_path)


def test_requirements_yml_naming_a_tarball(tarball, tmp_path):
    spec = recipes.recipe_yaml("requirements-tarball")
    assert spec["collections"][0]["type"] == "file"
    shutil.copy(tarball, str(tmp_path / spec["collections"][0]["name"]))  # the file name the recipe uses
    (tmp_path / "requirements.yml").write_text(recipes.recipe("requirements-tarball"))
    collections = tmp_path / "collections"
    rc, out = recipes.run([os.path.join(recipes.BIN, "ansible-galaxy"), "collection", "install", "-r",
                           "requirements.yml"], tmp_path, recipes.env(collections))
    assert rc == 0, out
    assert recipes.installed_manifest(collections)["version"] == recipes.galaxy()["version"]
    recipes.assert_usable(collections, tmp_path)


def git_requirements(recipe_name, url):
    spec = recipes.recipe_yaml(recipe_name)
    entry = spec["collections"][0]
    assert entry["name"] == recipes.repository_url() + ".git" and entry["type"] == "git"
    assert entry["version"] == recipes.RELEASE
    entry["name"] = url
    return spec


def test_requirements_yml_naming_the_git_repository_at_a_tag(git_repository, tmp_path):
    _repo, url = git_repository
    (tmp_path / "requirements.yml").write_text(yaml.safe_dump(git_requirements("requirements-git", url)))
    collections = tmp_path / "collections"
    rc, out = recipes.run([os.path.join(recipes.BIN, "ansible-galaxy"), "collection", "install", "-r",
                           "requirements.yml"], tmp_path, recipes.env(collections))
    assert rc == 0, out
    # The tagged commit, not the later one (whose galaxy.yml says 99.0.0).
    assert recipes.installed_manifest(collections)["version"] == recipes.galaxy()["version"]
    installed = collections / "ansible_collections" / "ocsp" / "stapling"
    assert (installed / "roles" / "apache_stapling" / "meta" / "argument_specs.yml").is_file()
    recipes.assert_usable(collections, tmp_path)


def test_an_unknown_git_version_is_refused(git_repository, tmp_path):
    """The oracle can fail: a version the repository does not have installs nothing."""
    _repo, url = git_repository
    spec = git_requirements("requirements-git", url)
    spec["collections"][0]["version"] = "no-such-tag"
    (tmp_path / "requirements.yml").write_text(yaml.safe_dump(spec))
    collections = tmp_path / "collections"
    rc, out = recipes.run([os.path.join(recipes.BIN, "ansible-galaxy"), "collection", "install", "-r",
                           "requirements.yml"], tmp_path, recipes.env(collections))
    assert rc != 0
    assert not (collections / "ansible_collections" / "ocsp" / "stapling").exists()


# --- on the lab: the AWX project, the CI gate, ansible-navigator --------------------------------------------------

def write_inventory(lab, tmp_path, path):
    """The lab as a user's inventory: localhost, with the instance's variables as host variables."""
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    host.update({k: v for k, v in rollout_vars(lab, tmp_path).items() if k != "apache_stapling_report_dir"})
    with open(str(path), "w") as f:
        yaml.safe_dump({"all": {"hosts": {"localhost": host}}}, f)
    return path


def report(directory, name="latest"):
    with open(os.path.join(str(directory), name + ".json")) as f:
        return json.load(f)["hosts"]["localhost"]


def assert_stapled(lab, host_report):
    vhosts = {v["server_name"]: v for v in host_report["vhosts"]}
    for name in STAPLEABLE:
        sni = lab.apache.vhosts[name]["sni"]
        assert vhosts[sni]["decision"] == "staple" and vhosts[sni]["staple"]["valid"] is True, vhosts[sni]
        rc, out = recipes.curl_cert_status(lab, name)
        assert rc == 0, (name, out)


def run_ci_gate(project, collections):
    """The CI job's script, line by line, in the project directory."""
    job = recipes.recipe_yaml("ci-gate")
    (script,) = [j["script"] for j in job.values()]
    rc = 0
    for line in script:
        rc, out = recipes.run(shlex.split(line), project, recipes.env(collections))
        if rc != 0:
            return rc, out
    return rc, out


@pytest.mark.toolchain
def test_awx_project_between_two_ci_gates(rollout_lab, tmp_path, git_repository):
    lab = rollout_lab
    _repo, url = git_repository
    project = tmp_path / "stapling-project"
    (project / "collections").mkdir(parents=True)
    (project / "collections" / "requirements.yml").write_text(yaml.safe_dump(git_requirements("awx-requirements", url)))
    (project / "stapling.yml").write_text(recipes.recipe("awx-playbook"))
    write_inventory(lab, tmp_path, project / "inventory.yml")
    assert yaml.safe_load((project / "stapling.yml").read_text())[0]["ansible.builtin.import_playbook"] \
        == "ocsp.stapling.rollout"

    # CI gate before the rollout: nothing is stapled yet, a rollout would change the host.
    ci_collections = tmp_path / "ci-collections"
    rc, out = run_ci_gate(project, ci_collections)
    assert rc != 0 and "drift found" in out, out[-4000:]
    assert report(project / "ocsp-stapling-reports", "audit-latest")["drift"] is True

    # AWX: the project update installs collections/requirements.yml into the job's private collections path ...
    private = tmp_path / "private_data_dir"
    (private / "env").mkdir(parents=True)
    job_collections = private / "requirements_collections"
    rc, out = recipes.run([os.path.join(recipes.BIN, "ansible-galaxy"), "collection", "install", "-r",
                           str(project / "collections" / "requirements.yml"), "-p", str(job_collections)],
                          project, recipes.env(job_collections))
    assert rc == 0, out
    # ... and the job runs the project's playbook through ansible-runner (no process isolation: no container here).
    shutil.copytree(str(project), str(private / "project"))
    (private / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_COLLECTIONS_PATH": str(job_collections),
        "OCSP_STAPLING_REPORT_DIR": str(tmp_path / "job-reports")}))
    rc, out = recipes.run([os.path.join(recipes.BIN, "ansible-runner"), "run", str(private), "-p", "stapling.yml",
                           "--inventory", str(private / "project" / "inventory.yml")],
                          tmp_path, recipes.env(job_collections))
    assert rc == 0, out[-4000:]
    with open(str(private / "artifacts" / os.listdir(str(private / "artifacts"))[0] / "status")) as f:
        assert f.read().strip() == "successful"
    job = report(tmp_path / "job-reports")
    assert job["status"] == "changed" and job["rolled_back"] is False
    assert_stapled(lab, job)

    # CI gate after it: converged, the gate passes.
    rc, out = run_ci_gate(project, ci_collections)
    assert rc == 0, out[-4000:]
    assert report(project / "ocsp-stapling-reports", "audit-latest")["drift"] is False


@pytest.mark.toolchain
def test_rollout_through_ansible_navigator(rollout_lab, tmp_path, tarball):
    lab = rollout_lab
    collections = recipes.install(tarball, str(tmp_path / "collections"))
    work = tmp_path / "work"
    work.mkdir()
    write_inventory(lab, tmp_path, work / "inventory.yml")
    argv = shlex.split(recipes.recipe("navigator"), comments=True)
    assert argv[:3] == ["ansible-navigator", "run", "ocsp.stapling.rollout"]
    assert "--mode" in argv and "--pae" in argv and "--execution-environment" in argv
    rc, out = recipes.run([os.path.join(recipes.BIN, argv[0])] + argv[1:], work,
                          recipes.env(collections, {"OCSP_STAPLING_REPORT_DIR": str(tmp_path / "reports")}))
    assert rc == 0, out[-4000:]
    assert "PLAY RECAP" in out and "failed=0" in out
    host = report(tmp_path / "reports")
    assert host["status"] == "changed" and host["rolled_back"] is False
    assert_stapled(lab, host)
