"""Load during reload: `ab` (apache2-utils) drives HTTPS at every vhost of every host, from the controller over the
bridge, while the rollout reloads them gracefully: requests sent and failed per host, zero failed. Then the
stapling removed again (state absent) under the same load, which needs a full stop/start (AH00820): the requests
that failed then and the downtime apache_reload measured are reported, and Apache serves again."""

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


def test_graceful_reloads_under_load_fail_no_request(fresh_fleet, tmp_path):
    fleet = fresh_fleet
    load = LoadGenerator(fleet, str(tmp_path))
    try:
        time.sleep(1)  # not a timing assertion: let every ab connect once before the rollout starts
        rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path))
    finally:
        counts = load.stop()
    REPORT.extend(table("load during the rollout's graceful reloads (ab -c 1 per vhost, nice 19)", counts))
    assert rc == 0, out[-4000:]
    summary = latest_summary(tmp_path)["hosts"]
    for h in fleet.hosts:
        assert summary[h.name]["status"] == "changed" and summary[h.name]["reload"] == "graceful", summary[h.name]
        assert counts[h.name]["sent"] > 0 and not counts[h.name]["aborted"], (h.name, counts[h.name])
        assert counts[h.name]["failed"] == 0, (h.name, counts[h.name])

    # Taking stapling away needs a full stop/start (AH00820): connections are refused for a moment.
    load = LoadGenerator(fleet, str(tmp_path))
    try:
        time.sleep(1)
        rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path,
                                         rollout_vars(tmp_path, apache_stapling_state="absent"))
    finally:
        counts = load.stop()
    summary = latest_summary(tmp_path)["hosts"]
    downtime = dict((name, summary[name].get("downtime")) for name in summary)
    REPORT.extend(table("load during state=absent (full stop/start)", counts, downtime))
    assert rc == 0, out[-4000:]
    for h in fleet.hosts:
        assert summary[h.name]["reload"] == "restart", summary[h.name]
        assert isinstance(downtime[h.name], (int, float)), downtime
        assert counts[h.name]["sent"] > 0 and h.apache_pids(), (h.name, counts[h.name])
