"""The fleet report as the playbooks leave it: rollout, audit and verify on the lab write the HTML page and the Markdown
next to their JSON summary (`<playbook>-<timestamp>.*` and `latest.*`) and print the page's path; a rollout over a
fleet with an unreachable host still writes all three (regression: ansible-core 2.19 failed every host while putting
the summary together); the standalone playbook ocsp.stapling.report renders any earlier summary, from its default place
or a given file, and refuses a missing or foreign file with a clear message."""

import json
import os
import re
import shutil
import socket
import subprocess

import pytest

import ansible_runner
from rollout_helpers import run_rollout

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit", "fixtures", "report")


def totals_in_page(path):
    with open(path) as f:
        html = f.read()
    return dict((k, int(n)) for k, n in re.findall(r'data-key="([a-z_]+)"[^>]*><b>(\d+)</b>', html))


def report_files(directory, playbook):
    names = sorted(os.listdir(directory))
    stem = [n[:-5] for n in names if re.match(r"^{0}-\d{{8}}T\d{{6}}Z\.json$".format(playbook), n)]
    assert len(stem) == 1, names
    return stem[0], names


def test_rollout_audit_verify_leave_the_report_next_to_the_json(rollout_lab, tmp_path):
    lab = rollout_lab
    reports = tmp_path / "reports"

    rc, _results, out = run_rollout(lab, tmp_path, playbook="ocsp.stapling.audit")
    assert rc == 0, out[-3000:]
    stem, names = report_files(str(reports), "audit")
    # A dry run writes its own files and never a real rollout's latest.*
    assert {stem + ".html", stem + ".md", "audit-latest.html", "audit-latest.md", "audit-latest.json"} <= set(names)
    assert not [n for n in names if n.startswith("latest.")], names
    assert totals_in_page(str(reports / (stem + ".html")))["changed"] == 1  # shown as "would change"
    with open(str(reports / "audit-latest.html")) as f:
        page = f.read()
    assert ">would change</span>" in page and "dry run (check mode: nothing was changed)" in page
    assert "from {0}".format(reports / (stem + ".json")) in page  # the file it was made from, not latest.json

    rc, _results, out = run_rollout(lab, tmp_path)
    assert rc == 0, out[-3000:]
    stem, names = report_files(str(reports), "rollout")
    page = str(reports / (stem + ".html"))
    assert "HTML report: {0}".format(page) in out  # the path a person (or the demo) opens
    assert "Markdown report: {0}".format(str(reports / (stem + ".md"))) in out
    with open(str(reports / (stem + ".json"))) as f:
        summary = json.load(f)
    totals = totals_in_page(page)
    assert totals["hosts"] == summary["totals"]["hosts"] == 1
    # The role's six vhosts and the stock default-ssl site (snakeoil: no OCSP URI, not stapleable).
    assert totals["vhosts"] == summary["totals"]["vhosts"] == 7
    assert totals["verified"] == summary["totals"]["staples_valid"] == 3
    assert (totals["failing"], totals["not_stapleable"], totals["changed"], totals["rolled_back"]) == (2, 2, 1, 0)
    with open(page) as f, open(str(reports / "latest.html")) as g:
        assert f.read() == g.read()
    with open(str(reports / "latest.md")) as f:
        md = f.read()
    assert md.startswith("## OCSP stapling: rollout") and "| 1 | 7 | 3 | 2 | 2 | 1 | 0 |" in md

    with open(str(reports / "latest.json")) as f:
        rollout_latest = f.read()
    rc, _results, out = run_rollout(lab, tmp_path, playbook="ocsp.stapling.verify",
                                    ocsp_stapling_verify_ca_file=lab.pki.ca_bundle_path)
    assert rc == 0, out[-3000:]
    stem, names = report_files(str(reports), "verify")
    assert {stem + ".html", stem + ".md", "verify-latest.json"} <= set(names)
    with open(str(reports / "latest.json")) as f:
        assert f.read() == rollout_latest  # latest.json is still the rollout's
    assert totals_in_page(str(reports / (stem + ".html")))["verified"] == 3
    assert "HTML report: {0}".format(str(reports / (stem + ".html"))) in out


def test_formats_empty_writes_the_json_only(rollout_lab, tmp_path):
    rc, _results, out = run_rollout(rollout_lab, tmp_path, playbook="ocsp.stapling.audit",
                                    apache_stapling_report_formats=[])
    assert rc == 0, out[-3000:]
    names = os.listdir(str(tmp_path / "reports"))
    assert "audit-latest.json" in names and not [n for n in names if n.endswith((".html", ".md"))]
    assert "HTML report:" not in out


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_fleet_with_an_unreachable_host_still_gets_its_report(rollout_lab, tmp_path):
    """Before the fix in summary.yml, ansible-core 2.19 failed web1 too ("object of type 'HostVarsVars' has no
    attribute 'apache_stapling_report'") and no summary was written."""
    lab = rollout_lab
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(
        "web1 ansible_connection=local ansible_python_interpreter={0} apache_stapling_server_root={1} "
        "apache_stapling_journal_dir={2}\n"
        "web3 ansible_host=127.0.0.1 ansible_port={3} ansible_user=nobody "
        "ansible_ssh_common_args='-o ConnectTimeout=5 -o BatchMode=yes'\n".format(
            ansible_runner.NODE_PYTHON, lab.apache.confdir, tmp_path / "journal", closed_port()))
    extra = {"apache_stapling_egress": False, "apache_stapling_ca_file": lab.pki.ca_bundle_path,
             "apache_stapling_report_dir": str(tmp_path / "reports"), "apache_stapling_canary": "100%",
             "apache_stapling_max_fail_percentage": 100}
    rc, _results, out = ansible_runner.run_playbook("ocsp.stapling.rollout", inventory=str(inventory),
                                                    extra_args=["-e", json.dumps(extra)])
    assert rc == 4, out[-3000:]  # 4: a host was unreachable; web1 itself did not fail
    assert re.search(r"web1\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", out), out[-2000:]
    with open(str(tmp_path / "reports" / "latest.json")) as f:
        summary = json.load(f)
    assert summary["hosts"]["web1"]["status"] == "changed" and summary["hosts"]["web3"]["outcome"] == "unreachable"
    page = str(tmp_path / "reports" / "latest.html")
    assert totals_in_page(page)["hosts"] == 2
    with open(page) as f:
        html = f.read()
    assert 'data-host="web3"' in html and "Ansible could not reach the host" in html


def test_default_report_dir_is_where_the_playbook_runs(lab, tmp_path):
    """./ocsp-stapling-reports is taken from where ansible-playbook runs, not from the collection's playbooks/
    directory (where a relative path given to a module on the local connection lands)."""
    target = lab.vhosts["good"]
    env = dict((k, v) for k, v in os.environ.items() if k != "OCSP_STAPLING_REPORT_DIR")
    proc = subprocess.run(
        [os.path.join(ansible_runner.BIN, "ansible-playbook"), "-i", ansible_runner.localhost_inventory(str(tmp_path)),
         "ocsp.stapling.verify", "-e", json.dumps({"ocsp_stapling_verify_targets": [target],
                                                   "ocsp_stapling_verify_ca_file": lab.pki.ca_bundle_path})],
        env=ansible_runner.ansible_env(extra=env), cwd=str(tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    ansible_runner.check_deprecations(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:]
    reports = tmp_path / "ocsp-stapling-reports"
    assert {"verify-latest.json", "verify-latest.html", "verify-latest.md"} <= set(os.listdir(str(reports)))
    assert "HTML report: {0}/verify-".format(reports) in proc.stdout
    playbooks = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "playbooks", "ocsp-stapling-reports")
    assert not os.path.exists(playbooks)


# --- the standalone playbook ----------------------------------------------------------------------------------------

def report_playbook(*extra, **kw):
    cmd = [os.path.join(ansible_runner.BIN, "ansible-playbook"), "ocsp.stapling.report"] + list(extra)
    proc = subprocess.run(cmd, env=ansible_runner.ansible_env(extra=kw.get("env")), cwd=kw.get("cwd"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300,
                          check=False)
    ansible_runner.check_deprecations(proc.stdout)
    return proc.returncode, proc.stdout


@pytest.mark.core_matrix
def test_report_playbook_renders_a_given_summary_next_to_it(tmp_path):
    src = tmp_path / "old" / "rollout-20261203T080533Z.json"
    src.parent.mkdir()
    shutil.copy(os.path.join(FIXTURES, "rollout_fleet.json"), str(src))
    rc, out = report_playbook("-e", "stapling_report_input=" + str(src))
    assert rc == 0, out[-3000:]
    assert sorted(os.listdir(str(src.parent))) == ["rollout-20261203T080533Z.html", "rollout-20261203T080533Z.json",
                                                   "rollout-20261203T080533Z.md"]
    assert totals_in_page(str(src.parent / "rollout-20261203T080533Z.html")) == {
        "hosts": 3, "vhosts": 12, "verified": 3, "failing": 5, "not_stapleable": 2, "changed": 0, "rolled_back": 1,
        "failed_hosts": 1}
    assert re.search(r"changed=0\s+unreachable=0\s+failed=0", out)
    rc, out = report_playbook("-e", "stapling_report_input=" + str(src), "-e", '{"stapling_report_formats": ["markdown"]}',
                              "-e", '{"stapling_report_names": ["again", "ticket"]}')
    assert rc == 0, out[-3000:]
    assert {"again.md", "ticket.md"} <= set(os.listdir(str(src.parent)))
    assert "again.html" not in os.listdir(str(src.parent))
    assert "Markdown report: {0}".format(src.parent / "again.md") in out


def test_report_playbook_default_input(tmp_path):
    # $OCSP_STAPLING_REPORT_DIR, as the playbooks use it
    env_dir = tmp_path / "env-reports"
    env_dir.mkdir()
    shutil.copy(os.path.join(FIXTURES, "verify_lab.json"), str(env_dir / "latest.json"))
    rc, out = report_playbook(env={"OCSP_STAPLING_REPORT_DIR": str(env_dir)})
    assert rc == 0, out[-3000:]
    assert (env_dir / "latest.html").is_file() and (env_dir / "latest.md").is_file()
    # else ./ocsp-stapling-reports relative to where the playbook runs
    cwd = tmp_path / "cwd"
    (cwd / "ocsp-stapling-reports").mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURES, "audit_lab.json"), str(cwd / "ocsp-stapling-reports" / "latest.json"))
    env = dict((k, v) for k, v in os.environ.items() if k != "OCSP_STAPLING_REPORT_DIR")
    rc, out = report_playbook(env=env, cwd=str(cwd))
    assert rc == 0, out[-3000:]
    assert "HTML report: {0}".format(cwd / "ocsp-stapling-reports" / "latest.html") in out
    # and apache_stapling_report_dir, as given to the rollout
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(os.path.join(FIXTURES, "rollout_lab.json"), str(other / "latest.json"))
    rc, out = report_playbook("-e", "apache_stapling_report_dir=" + str(other))
    assert rc == 0, out[-3000:]
    assert (other / "latest.html").is_file()


def test_report_playbook_refuses_a_missing_or_foreign_file(tmp_path):
    rc, out = report_playbook("-e", "stapling_report_input=" + str(tmp_path / "nothing.json"))
    assert rc != 0
    assert "stapling_report_input: {0} is not a file. Run ocsp.stapling.rollout".format(tmp_path / "nothing.json") in out
    assert "Traceback" not in out
    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps({"hello": "world"}))
    rc, out = report_playbook("-e", "stapling_report_input=" + str(foreign))
    assert rc != 0
    assert "is not an ocsp.stapling JSON summary" in out and str(foreign) in out and "Traceback" not in out
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    rc, out = report_playbook("-e", "stapling_report_input=" + str(broken))
    assert rc != 0 and "is not JSON" in out and "Traceback" not in out
    assert not [p for p in os.listdir(str(tmp_path)) if p.endswith((".html", ".md"))]
