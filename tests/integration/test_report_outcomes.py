"""Every outcome made for real on the lab, and the three formats agreeing on it. One rollout over an inventory of
labs (each inventory host its own sandboxed Apache and responders; one host unreachable, one whose Apache cannot be
read), then an audit of a host whose configuration has SSLUseStapling on without a cache (AH01958: configtest passes,
the next start fails):

| host | made by | outcome |
|---|---|---|
| changed | a fresh lab | changed |
| converged | a lab the same inventory rolled out just before (--limit) | converged |
| rolledback | the second issuer's responder down: verification fails | rolled_back |
| refused | an SSLStaplingCache inside a vhost (configtest fails before any change) | refused |
| failed | responder down and apache_stapling_rollback false | failed |
| unreachable | SSH to a closed loopback port | unreachable |
| noreport | an Apache control command that is not there: the role fails before it can report | no_report |
| hazard (audit) | SSLUseStapling on without SSLStaplingCache | drift, with the AH01958 hazard at its file and line |

For each host the JSON summary's outcome and cause, the page as headless Chromium shows it, and the Markdown agree;
every host whose outcome is not ok, converged or changed is under "needs attention" with its cause and fix."""

import json
import os
import re
import sys

import pytest

import ansible_runner
from lab import Lab
from test_report_playbooks import closed_port
from test_report_browser import Dom, Proxy, chromium, text

GOOD = ("ok", "converged", "changed")


@pytest.fixture
def proxy():
    """Records any request Chromium makes (test_report_browser.py): there must be none."""
    p = Proxy()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def labs(tmp_path):
    made = {}
    try:
        for name, vhosts in (("changed", ("good", "no_uri")), ("converged", ("good",)),
                             ("rolledback", ("good", "second_issuer")), ("refused", ("good",)),
                             ("failed", ("second_issuer",)), ("hazard", ("good",))):
            made[name] = Lab(str(tmp_path / ("lab-" + name)))
            made[name].up(vhosts=vhosts, stapling=False)
        yield made
    finally:
        for lab in made.values():
            lab.down()


def _edit(path, fn):
    with open(path) as f:
        content = f.read()
    with open(path, "w") as f:
        f.write(fn(content))


def host_line(name, lab, tmp_path, **extra):
    line = "{0} ansible_connection=local ansible_python_interpreter={1} apache_stapling_server_root={2} " \
           "apache_stapling_journal_dir={3} apache_stapling_ca_file={4}".format(
               name, sys.executable, lab.apache.confdir, tmp_path / (name + "-journal"), lab.pki.ca_bundle_path)
    return line + "".join(" {0}={1}".format(k, v) for k, v in extra.items()) + "\n"


def agree(reports, latest):
    """(summary hosts, Markdown) of <latest>.*"""
    with open(str(reports / (latest + ".json"))) as f:
        summary = json.load(f)
    with open(str(reports / (latest + ".md"))) as f:
        md = f.read()
    return summary["hosts"], md


def md_escaped(words):
    return re.sub(r"([\\`*_\[\]<>|~&])", r"\\\1", words)


def check_host(name, host, dom, md):
    """The page and the Markdown say what the summary decided for this host."""
    outcome, cause = host["outcome"], host["cause"]
    section = [d for d in dom.find("details") if d["attrs"].get("data-host") == name]
    assert len(section) == 1 and section[0]["attrs"]["data-outcome"] == outcome, (name, outcome)
    rows = [tr for tr in dom.find("tr") if tr["attrs"].get("data-attention") == outcome
            and tr["attrs"].get("data-host") == name]
    if outcome in GOOD:
        assert cause is None and rows == [], (name, outcome)
        return
    # listed under "needs attention" with its cause and the fix, on the page and in the Markdown
    assert len(rows) == 1, (name, outcome)
    shown = text(rows[0])
    assert cause["msg"][:80] in shown and "Fix: " + cause["fix"][:60] in shown, (name, shown)
    cause_p = [p for p in dom.find("p") if p["attrs"].get("data-cause") == cause["code"]
               and section[0] in p["parents"]]
    assert cause_p, (name, cause["code"])
    line = [ln for ln in md.splitlines() if ln.startswith("| `{0}` |  | ".format(name))]
    assert line, (name, md[:3000])
    assert md_escaped(cause["msg"][:60]) in line[0] and "**Fix:** " + md_escaped(cause["fix"][:40]) in line[0]


def test_every_outcome_agrees_in_json_page_and_markdown(labs, tmp_path, proxy):
    labs["rolledback"].fault.set_mode("down")
    labs["failed"].fault.set_mode("down")
    vhost = os.path.join(labs["refused"].apache.confdir, "sites-enabled", "good.conf")
    _edit(vhost, lambda t: t.replace("</VirtualHost>", "    SSLStaplingCache shmcb:/tmp/x(32768)\n</VirtualHost>"))
    assert not labs["refused"].apache.configtest()[0]

    inventory = tmp_path / "fleet.ini"
    inventory.write_text(
        host_line("changed", labs["changed"], tmp_path)
        + host_line("converged", labs["converged"], tmp_path)
        + host_line("rolledback", labs["rolledback"], tmp_path)
        + host_line("refused", labs["refused"], tmp_path)
        + host_line("failed", labs["failed"], tmp_path, apache_stapling_rollback="false")
        + "noreport ansible_connection=local ansible_python_interpreter={0} "
          "apache_stapling_binary={1}\n".format(sys.executable, tmp_path / "no-such-apache2ctl")
        + "unreachable ansible_host=127.0.0.1 ansible_port={0} ansible_user=nobody "
          "ansible_ssh_common_args='-o ConnectTimeout=5 -o BatchMode=yes'\n".format(closed_port()))
    reports = tmp_path / "reports"
    extra = {"apache_stapling_egress": False, "apache_stapling_report_dir": str(reports),
             "apache_stapling_canary": "100%", "apache_stapling_max_fail_percentage": 100,
             "apache_stapling_verify_attempts": 2}
    rc, _results, out = ansible_runner.run_playbook("ocsp.stapling.rollout", inventory=str(inventory),
                                                    extra_args=["-e", json.dumps(extra), "--limit", "converged"])
    assert rc == 0, out[-3000:]
    rc, _results, out = ansible_runner.run_playbook("ocsp.stapling.rollout", inventory=str(inventory),
                                                    extra_args=["-e", json.dumps(extra)])
    assert rc != 0, out[-3000:]
    hosts, md = agree(reports, "latest")
    assert dict((n, h["outcome"]) for n, h in hosts.items()) == {
        "changed": "changed", "converged": "converged", "rolledback": "rolled_back", "refused": "refused",
        "failed": "failed", "unreachable": "unreachable", "noreport": "no_report"}, json.dumps(
            dict((n, [h["outcome"], h["cause"]]) for n, h in hosts.items()), indent=1)
    assert hosts["rolledback"]["cause"]["code"] == "verification_failed"
    assert hosts["refused"]["cause"]["code"] == "configtest_failed"
    assert [z["code"] for z in hosts["refused"]["hazards"]] == ["cache_in_vhost"]
    assert hosts["refused"]["hazards"][0]["file"] == vhost and hosts["refused"]["hazards"][0]["line"]
    assert "NOT rolled back" in hosts["failed"]["cause"]["msg"]
    assert hosts["unreachable"]["cause"]["code"] == "unreachable"
    assert hosts["noreport"]["cause"]["code"] == "no_report"
    rolled = hosts["rolledback"]
    assert rolled["reloads"][-1]["phase"] == "rollback" and rolled["reload"] == rolled["reloads"][-1]["mode"]
    # Every file put back, but our cache snippet and its link: kept for the running Apache parent (issue 25).
    assert rolled["config_files"] and all(f["restored"] or f.get("kept") for f in rolled["config_files"])
    assert rolled["cache_kept"] and [f for f in rolled["config_files"] if f.get("kept")]

    page = str(reports / "latest.html")
    dom = Dom(chromium("file://" + page, tmp_path, proxy, "--dump-dom"))
    for name, host in hosts.items():
        check_host(name, host, dom, md)
    legend = dict((s["attrs"]["data-outcome"], text(s)) for s in dom.find("span") if "data-outcome" in s["attrs"])
    assert set(legend) == {"changed", "converged", "rolled_back", "refused", "failed", "unreachable", "no_report"}
    hazard = [li for li in dom.find("li") if li["attrs"].get("data-hazard") == "cache_in_vhost"]
    assert hazard and "{0}:".format(vhost) in text(hazard[0])
    assert proxy.requests() == []

    # the audit of a host that would not survive its next restart
    hazard_lab = labs["hazard"]
    good = os.path.join(hazard_lab.apache.confdir, "sites-enabled", "good.conf")
    _edit(good, lambda t: t.replace("</VirtualHost>", "    SSLUseStapling on\n</VirtualHost>"))
    assert hazard_lab.apache.configtest()[0]  # Apache's configtest passes: the trap
    inventory.write_text(host_line("hazard", hazard_lab, tmp_path))
    rc, _results, out = ansible_runner.run_playbook("ocsp.stapling.audit", inventory=str(inventory),
                                                    extra_args=["-e", json.dumps(extra)])
    assert rc == 0, out[-3000:]
    hosts, md = agree(reports, "audit-latest")
    h = hosts["hazard"]
    assert h["outcome"] == "drift"
    z = [z for z in h["hazards"] if z["code"] == "stapling_without_cache"]
    assert z and z[0]["file"] == good and z[0]["line"] and "AH01958" in z[0]["msg"]
    dom = Dom(chromium("file://" + str(reports / "audit-latest.html"), tmp_path, proxy, "--dump-dom"))
    check_host("hazard", h, dom, md)
    rows = [tr for tr in dom.find("tr") if tr["attrs"].get("data-attention") == "hazard"]
    assert rows and "AH01958" in text(rows[0]) and "({0}:{1})".format(good, z[0]["line"]) in text(rows[0])
    assert re.search(r"^\| `hazard` \|  \| 🔴 hazard \| `{0}:{1}` \| SSLUseStapling on".format(
        re.escape(good), z[0]["line"]), md, re.M), md
    assert proxy.requests() == []
