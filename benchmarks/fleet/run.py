"""The rollout over a fleet of real hosts by SSH, ours against a baseline playbook written from the how-to's steps.

    .venv/ansible-2.19/bin/python benchmarks/fleet/run.py [--sizes 10,50]

For each size N, a fleet of N hosts (tests/fleet, "bench", 172.29.4.0/24), every host serving the same four TLS
vhosts (good, must_staple, second_issuer: stapleable; no_uri: no OCSP URI). Each side starts from hosts made again
from the image (no stapling), runs once (first rollout) and again (converged re-run), with the fleet's ansible.cfg
(pipelining on, forks = N): wall time, controller CPU seconds (ansible-playbook and the processes it waited for; the
SSH ControlPersist masters detach and are not counted, on either side), module executions per host (tasks that ran
a module on the managed host, loop items counted), and where the time goes per task (from the result_file
callback's timings). Ours: ocsp.stapling.rollout with a canary of 1 and the rest in one batch
(apache_stapling_batch=100%); the baseline: benchmarks/fleet/baseline.yml, all hosts at once.
Writes benchmarks/fleet/results.md.
"""

import argparse
import collections
import json
import os
import platform
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from fleet import Fleet  # noqa: E402
from fleet.testing import CA_FILE, module_executions, run_on_fleet  # noqa: E402

BASELINE = os.path.join(HERE, "baseline.yml")
VHOSTS = ["good", "no_uri", "must_staple", "second_issuer"]


def bench_profile(_index):
    return {"vhosts": list(VHOSTS)}


def measure(fleet, side, work):
    if side == "ours":
        playbook = "ocsp.stapling.rollout"
        extra = {"apache_stapling_ca_file": CA_FILE, "apache_stapling_report_dir": os.path.join(work, "reports"),
                 "apache_stapling_batch": "100%"}
    else:
        playbook, extra = BASELINE, None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    rc, results, out = run_on_fleet(fleet, playbook, _Path(work), extra, timeout=3600)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    hosts = [h.name for h in fleet.hosts]
    runs = module_executions(results, hosts)
    failed = sorted(set(r["host"] for r in results if r["status"] in ("failed", "unreachable")))
    return {"rc": rc, "wall": wall, "cpu": cpu, "modules": sum(runs.values()) / float(len(hosts)),
            "modules_max": max(runs.values()), "failed": failed, "profile": profile(results),
            "tail": out[-1500:] if rc else ""}


class _Path(str):
    """What run_on_fleet expects of tmp_path (the `/` operator)."""

    def __truediv__(self, other):
        return _Path(os.path.join(self, other))


def profile(results):
    """[(seconds, task)] per task name: from each task's start to its last host's result, summed over batches."""
    spans = collections.OrderedDict()
    for r in results:
        if r.get("task_started") is None:
            continue
        key = (r["task"], r["task_started"])
        spans[key] = max(spans.get(key, 0.0), r["time"] - r["task_started"])
    per_task = collections.defaultdict(float)
    for (task, _started), seconds in spans.items():
        per_task[task.split(" : ", 1)[-1]] += seconds
    return sorted(((round(s, 2), t) for t, s in per_task.items()), reverse=True)


def run_size(n, log):
    fleet = Fleet("bench", index=4)
    out = {}
    try:
        fleet.up(n, profiles=bench_profile, log=log)
        out["up_seconds"] = fleet.state["up_seconds"]
        for side in ("ours", "baseline"):
            fleet.reset(bench_profile)
            with tempfile.TemporaryDirectory(prefix="ocsp-bench-") as work:
                first = measure(fleet, side, work)
                log.write("N={0} {1} first: {2:.1f}s rc={3}\n".format(n, side, first["wall"], first["rc"]))
                again = measure(fleet, side, work)
                log.write("N={0} {1} re-run: {2:.1f}s rc={3}\n".format(n, side, again["wall"], again["rc"]))
                log.flush()
            out[side] = {"first": first, "again": again}
    finally:
        fleet.down()
    return out


def ratio(a, b):
    return a / b if b else float("nan")


def table(data):
    rows = ["| N | run | what | ours | baseline | ours/baseline | target | met |", "|---|---|---|---|---|---|---|---|"]
    for n in sorted(data):
        d = data[n]
        for run, label, target in (("first", "first rollout", 1.0), ("again", "converged re-run", 0.5)):
            o, b = d["ours"][run], d["baseline"][run]
            ok = "" if not (o["rc"] or b["rc"]) else " (rc ours {0}, baseline {1})".format(o["rc"], b["rc"])
            r = ratio(o["wall"], b["wall"])
            rows.append("| {0} | {1} | wall time{2} | {3:.1f} s | {4:.1f} s | {5:.2f}x | <= {6}x | {7} |".format(
                n, label, ok, o["wall"], b["wall"], r, target,
                "yes" if r <= target else "no ({0:+.0f} %)".format((r / target - 1) * 100)))
            rows.append("| {0} | {1} | controller CPU | {2:.1f} s | {3:.1f} s | {4:.2f}x | | |".format(
                n, label, o["cpu"], b["cpu"], ratio(o["cpu"], b["cpu"])))
            mod_target = "<= 5" if run == "again" else ""
            rows.append("| {0} | {1} | module executions per host | {2:.1f} (max {3}) | {4:.1f} | {5:.2f}x | {6} | {7} |"
                        .format(n, label, o["modules"], o["modules_max"], b["modules"],
                                ratio(o["modules"], b["modules"]), mod_target,
                                ("yes" if o["modules_max"] <= 5 else "no") if run == "again" else ""))
    return rows


def profiles(data):
    lines = []
    for n in sorted(data):
        for side in ("ours", "baseline"):
            for run, label in (("first", "first rollout"), ("again", "converged re-run")):
                top = data[n][side][run]["profile"][:8]
                lines.append("")
                lines.append("N={0}, {1}, {2}: slowest tasks (s, summed over batches)".format(n, side, label))
                lines.append("")
                lines += ["    {0:7.2f}  {1}".format(s, t[:100]) for s, t in top]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="10,50")
    parser.add_argument("--from-raw", action="store_true", help="write the table again from raw.json")
    args = parser.parse_args(argv)
    raw = os.path.join(HERE, "raw.json")
    if args.from_raw:
        with open(raw) as f:
            data = dict((int(k), v) for k, v in json.load(f).items())
    else:
        data = {}
        for n in [int(x) for x in args.sizes.split(",")]:
            data[n] = run_size(n, sys.stderr)
            with open(raw, "w") as f:
                json.dump(data, f, indent=1, default=str)
    rows = table(data)
    note = ("\nMeasured {0} on {1} ({2} cores, shared with other test runs), Python {3}; fleet up in {4}. Targets: "
            "converged re-run at most 0.5x the baseline's wall time with at most 5 module executions per host; first "
            "rollout at most 1x.\n").format(
        time.strftime("%Y-%m-%d"), platform.machine(), os.cpu_count(), platform.python_version(),
        ", ".join("{0:.1f} s for {1} hosts".format(data[n]["up_seconds"], n) for n in sorted(data)))
    text = "\n".join(rows) + "\n" + note + "\n" + "\n".join(profiles(data)) + "\n"
    with open(os.path.join(HERE, "results.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
