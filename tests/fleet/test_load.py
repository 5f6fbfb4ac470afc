"""No operation drops a request (issue 25): `ab` (apache2-utils) drives HTTPS at every vhost of every host, from the
controller over the bridge, through every operation of ours - a first rollout, a converged re-run, a drift repair,
state absent (our cache kept for the running parent, graceful), the run after an operator's restart that removes the
kept cache, and a rollback after a failed verification (the responder killed) - and the requests sent and failed
per operation and host are printed (benchmarks/fleet/load.md keeps a run's table). Zero failed, every time."""

import os
import re
import signal
import subprocess
import threading
import time

from fleet.testing import latest_summary, rollout_vars, run_on_fleet

REPORT = []  # lines for the terminal summary (conftest's pytest_terminal_summary)


class LoadGenerator(object):
    """`ab -r -c 1` per host and vhost, each in a private mount namespace whose /etc/hosts names the vhosts at that
    host's address (ab sends the URL's host as SNI), at nice 19 so the rollout keeps the CPU it needs.

    ab runs in windows of WINDOW seconds, one after another, each printing its own counts: ab gives up after ten
    failed connects ("Test aborted after 10 failures", no counts printed), which a full stop/start causes, and a
    single long ab then lost everything it had sent (seen in CI: a host reported 0 requests). An aborted window is
    counted (`aborted`) and the next one starts; the graceful test requires none."""

    WINDOW = 5

    def __init__(self, fleet, workdir):
        self.runs = []
        self.stopping = threading.Event()
        for h in fleet.hosts:
            hosts_file = os.path.join(workdir, "hosts." + h.name)
            with open(hosts_file, "w") as f:
                f.write("127.0.0.1 localhost\n{0} {1}\n".format(h.address, " ".join(
                    s["sni"] for s in h.record["sites"])))
            for site in h.record["sites"]:
                run = {"host": h.name, "vhost": site["vhost"], "proc": None, "lock": threading.Lock(),
                       "log": os.path.join(workdir, "ab.{0}.{1}.log".format(h.name, site["vhost"])),
                       "argv": ["nice", "-n", "19", "unshare", "--mount", "/bin/sh", "-c",
                                'mount --bind "$0" /etc/hosts && exec ab -r -c 1 -n 100000000 -t "$2" -s 10 "$1"',
                                hosts_file, "https://{0}/".format(site["sni"]), str(self.WINDOW)]}
                run["thread"] = threading.Thread(target=self._windows, args=(run,), daemon=True)
                self.runs.append(run)
        for run in self.runs:
            run["thread"].start()

    def _windows(self, run):
        with open(run["log"], "w") as log:
            while not self.stopping.is_set():
                with run["lock"]:
                    if self.stopping.is_set():
                        return
                    run["proc"] = subprocess.Popen(run["argv"], stdout=log, stderr=subprocess.STDOUT)
                run["proc"].wait()
                log.write("\n=== window ended (exit {0})\n".format(run["proc"].returncode))
                log.flush()
                if run["proc"].returncode and not self.stopping.is_set():
                    time.sleep(0.2)  # a refused connect fails at once: do not spin while Apache is down

    def stop(self):
        """SIGINT to the running ab (it prints what it did so far), by PID; {host: {"sent", "failed", "aborted",
        "windows", "vhosts"}}."""
        self.stopping.set()
        for run in self.runs:
            with run["lock"]:
                proc = run["proc"]
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for run in self.runs:
            run["thread"].join(timeout=30)
            proc = run["proc"]
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
                run["thread"].join(timeout=5)
        out = {}
        for run in self.runs:
            with open(run["log"]) as f:
                text = f.read()
            host = out.setdefault(run["host"], {"sent": 0, "failed": 0, "aborted": 0, "windows": 0, "vhosts": 0})
            host["vhosts"] += 1
            host["sent"] += sum(int(n) for n in re.findall(r"^Complete requests:\s+(\d+)", text, re.M))
            host["failed"] += sum(int(n) for n in re.findall(r"^Failed requests:\s+(\d+)", text, re.M))
            host["aborted"] += len(re.findall(r"^Test aborted after", text, re.M))
            host["windows"] += text.count("=== window ended")
        return out


def table(title, counts, extra=None):
    lines = ["", title, "| host | vhosts | requests sent | failed | ab windows aborted |{0}".format(
        " downtime (s) |" if extra else ""), "|---|---|---|---|---|{0}".format("---|" if extra else "")]
    for name in sorted(counts):
        c = counts[name]
        last = " {0} |".format(extra.get(name)) if extra else ""
        lines.append("| {0} | {1} | {2} | {3} | {4} of {5} |{6}".format(
            name, c["vhosts"], c["sent"], c["failed"], c["aborted"], c["windows"], last))
    return lines


def parent_pids(fleet):
    """{host: Apache's parent PID inside the host} from its pid file (the same parent: never restarted)."""
    return dict((h.name, h.exec(["cat", "/run/apache2/apache2.pid"]).stdout.strip()) for h in fleet.hosts)


def under_load(fleet, tmp_path, title, operation):
    """Run operation() while ab loads every vhost; the per-host counts, printed as a table."""
    load = LoadGenerator(fleet, str(tmp_path))
    try:
        time.sleep(1)  # not a timing assertion: let every ab connect once before the operation starts
        result = operation()
    finally:
        counts = load.stop()
    summary = latest_summary(tmp_path)["hosts"]
    reloads = dict((name, summary[name].get("reload")) for name in summary)
    REPORT.extend(table("{0} (ab -c 1 per vhost, nice 19; reload per host: {1})".format(
        title, ", ".join(sorted(set(str(r) for r in reloads.values())))), counts))
    return result, counts, summary


def assert_no_request_failed(fleet, counts, what):
    for h in fleet.hosts:
        assert counts[h.name]["sent"] > 0 and not counts[h.name]["aborted"], (what, h.name, counts[h.name])
        assert counts[h.name]["failed"] == 0, (what, h.name, counts[h.name])
        assert h.apache_pids(), (what, h.name)


def test_no_operation_drops_a_request(fresh_fleet, tmp_path):
    fleet = fresh_fleet
    parents = parent_pids(fleet)

    def rollout(**extra):
        return run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path, **extra))

    (rc, _results, out), counts, summary = under_load(fleet, tmp_path, "first rollout", rollout)
    assert rc == 0, out[-4000:]
    assert all(summary[n]["status"] == "changed" and summary[n]["reload"] == "graceful" for n in summary), summary
    assert_no_request_failed(fleet, counts, "first rollout")

    (rc, _results, out), counts, summary = under_load(fleet, tmp_path, "converged re-run", rollout)
    assert rc == 0 and all(summary[n]["status"] == "ok" for n in summary), out[-4000:]
    assert_no_request_failed(fleet, counts, "converged re-run")

    for h in fleet.hosts:  # drift: someone deletes our block from a vhost
        path = h.path("etc/apache2/sites-available/good.conf")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(re.sub(r"[ \t]*# BEGIN ocsp\.stapling.*?# END ocsp\.stapling[^\n]*\n", "", text, flags=re.S))
    (rc, _results, out), counts, summary = under_load(fleet, tmp_path, "drift repair", rollout)
    assert rc == 0 and all(summary[n]["status"] == "changed" for n in summary), out[-4000:]
    assert_no_request_failed(fleet, counts, "drift repair")

    (rc, _results, out), counts, summary = under_load(fleet, tmp_path, "state absent",
                                                      lambda: rollout(apache_stapling_state="absent"))
    assert rc == 0, out[-4000:]
    for h in fleet.hosts:
        assert summary[h.name]["reload"] == "graceful" and summary[h.name]["cache_kept"], summary[h.name]
    assert_no_request_failed(fleet, counts, "state absent")
    assert parent_pids(fleet) == parents  # never restarted

    # The operator restarts Apache (not under load: that is their downtime, not ours); our next run then finds the
    # kept cache out of force and removes it by a graceful reload.
    for h in fleet.hosts:
        h.restart_apache()
    (rc, _results, out), counts, summary = under_load(fleet, tmp_path, "run after an operator's restart",
                                                      lambda: rollout(apache_stapling_state="absent"))
    assert rc == 0, out[-4000:]
    for h in fleet.hosts:
        assert summary[h.name]["cache_kept"] is None and summary[h.name]["reload"] == "graceful", summary[h.name]
        assert not os.path.lexists(h.path("etc/apache2/conf-available/ocsp-stapling.conf")), h.name
    assert_no_request_failed(fleet, counts, "run after an operator's restart")

    # A failed rollout (the responder dies before verification) rolls back every host by graceful reload.
    parents = parent_pids(fleet)
    fleet.kill_responder()
    try:
        (rc, _results, out), counts, summary = under_load(
            fleet, tmp_path, "rollback after a failed verification",
            lambda: rollout(apache_stapling_canary="100%", apache_stapling_verify_attempts=2, apache_stapling_probe=False))
    finally:
        fleet.start_responder()
    assert rc != 0, out[-4000:]
    for h in fleet.hosts:
        assert summary[h.name]["status"] == "rolled_back" and summary[h.name]["cache_kept"], summary[h.name]
    assert_no_request_failed(fleet, counts, "rollback")
    assert parent_pids(fleet) == parents
