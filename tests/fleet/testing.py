"""Helpers of the fleet tests: run the real playbooks over a fleet by SSH, inject faults at a task, read results."""

import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for p in (TESTS, os.path.join(TESTS, "integration")):
    if p not in sys.path:
        sys.path.insert(0, p)

import ansible_runner  # noqa: E402
from lab.trees import tree_digest  # noqa: E402


def _index_in_use(index):
    """Whether fleet index `index` is taken on this machine: a registered fleet of ours with it, or its bridge or a
    namespace of its name, whoever made them (a second session, a run that was killed before its `down`)."""
    from fleet.fleet import PREFIX, Fleet, FleetError, link_names, netns_list, registered_fleets
    if "{0}{1}br".format(PREFIX, index) in link_names():
        return True
    if any(n.startswith("{0}{1}-".format(PREFIX, index)) for n in netns_list()):
        return True
    for name in registered_fleets():
        try:
            if Fleet.load(name).index == index:
                return True
        except (FleetError, OSError, ValueError, KeyError):  # an unreadable record: nothing to learn from it
            continue
    return False


def _selftest_index():
    """The harness's own fleet: the first index after the session's ($OCSP_FLEET_INDEX, conftest.py) that nothing
    on the machine uses (3 on a quiet machine), so that neither a second session nor what a killed run left behind
    meets the self-test (CI once failed on a fleet "test3" left up by an interrupted run)."""
    session = int(os.environ.get("OCSP_FLEET_INDEX", "2"))
    for index in range(session + 1, 240):
        if not _index_in_use(index):
            return index
    raise RuntimeError("no free fleet index above {0} for the harness's self-test".format(session))


SELFTEST_INDEX = _selftest_index()
SELFTEST_NAME = "selftest" if SELFTEST_INDEX == 3 else "selftest{0}".format(SELFTEST_INDEX)
CALLBACKS = os.path.join(HERE, "callback_plugins")
CA_FILE = "/etc/ssl/fleet/ca-bundle.pem"  # the lab PKI's CA bundle, deployed on every host
STAPLE_TASK = "Handshake with every planned vhost and judge its staple (bounded retries for the lazy first fetch)"


# Our snippet and its a2enconf link: what a rollback or state=absent keeps (the cache alone, inert) while the Apache
# parent that started with the cache runs (issue 25).
KEPT = ("conf-available/ocsp-stapling.conf", "conf-enabled/ocsp-stapling.conf")


def config_digests(fleet, ignore=()):
    """{host: digest of its Apache configuration tree} (etc/apache2, or etc/httpd on the Red Hat layout)."""
    return dict((h.name, tree_digest(h.path(h.tree), ignore=ignore)) for h in fleet.hosts)


def rollout_vars(tmp_path, **extra):
    out = {"apache_stapling_ca_file": CA_FILE, "apache_stapling_report_dir": str(tmp_path / "reports"),
           "apache_stapling_batch": "100%"}
    out.update(extra)
    return out


def run_on_fleet(fleet, playbook, tmp_path, extra_vars=None, args=(), env=None, timeout=1200):
    """ansible-playbook over the fleet by SSH with the fleet's ansible.cfg (pipelining, forks = N)."""
    e = {"ANSIBLE_CONFIG": fleet.ansible_cfg, "ANSIBLE_HOST_KEY_CHECKING": "True",
         "ANSIBLE_CALLBACK_PLUGINS": os.pathsep.join([os.path.join(TESTS, "integration", "callback_plugins"),
                                                      CALLBACKS]),
         "ANSIBLE_CALLBACKS_ENABLED": "result_file,fleet_fault"}
    e.update(env or {})
    extra = ["-e", json.dumps(extra_vars)] if extra_vars else []
    return ansible_runner.run_playbook(playbook, inventory=fleet.inventory, extra_args=extra + list(args), env=e,
                                       timeout=timeout)


def fault_env(fleet, *faults):
    """faults: (task, occurrence, fault args...). Runs `python -m fleet --name NAME fault ARGS` when the task starts
    for the occurrence-th time (1 = the canary batch, 2 = the next batch): the callback fleet_fault does it,
    synchronously, before any host is given the task."""
    spec = [{"task": f[0], "occurrence": f[1], "env": {"PYTHONPATH": TESTS},
             "argv": [sys.executable, "-m", "fleet", "--name", fleet.name, "fault"] + list(f[2:])} for f in faults]
    return {"OCSP_FLEET_FAULT": json.dumps(spec)}


def recap(out):
    """{host: {"ok", "changed", "unreachable", "failed"}} from the play recap."""
    found = {}
    for m in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.M):
        found[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                             "failed": int(m.group(5))}
    assert found, out[-3000:]
    return found


def latest_summary(tmp_path, kind="latest"):
    """The newest summary of a kind: latest (a real rollout), audit-latest, rollout-check-latest, verify-latest."""
    with open(os.path.join(str(tmp_path / "reports"), kind + ".json")) as f:
        return json.load(f)


def task_name(result):
    return result["task"].split(" : ", 1)[-1]


def curl_cert_status(fleet, host, sni):
    """curl --cert-status from the controller to one vhost of a host (SNI by --resolve); (rc, output)."""
    proc = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cert-status",
                           "--cacert", fleet.pki.root_path, "--resolve", "{0}:443:{1}".format(sni, host.address),
                           "https://{0}/".format(sni)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout


# Actions that run on the controller only (no module execution on the managed host).
CONTROLLER_ACTIONS = {"set_fact", "debug", "include_tasks", "import_tasks", "include_role", "import_role", "fail",
                      "assert", "meta", "validate_argument_spec", "include_vars", "add_host", "group_by"}


def module_executions(results, hosts):
    """{host: number of tasks that executed a module on that managed host} (skipped and controller-only tasks, and
    tasks delegated to the controller, are not counted; a loop counts once per item)."""
    counts = dict((h, 0) for h in hosts)
    for r in results:
        action = (r.get("action") or "").split(".")[-1]
        if r["host"] not in counts or r["status"] == "skipped" or r.get("delegated") or action in CONTROLLER_ACTIONS:
            continue
        items = [x for x in r["result"].get("results") or [] if isinstance(x, dict) and "ansible_loop_var" in x]
        counts[r["host"]] += len(items) or 1
    return counts
