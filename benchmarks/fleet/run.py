"""The rollout over a fleet of real hosts by SSH, ours against a baseline playbook written from the how-to's steps.

    .venv/ansible-2.19/bin/python benchmarks/fleet/run.py [--sizes 10,50] [--scale 200] [--index 4] [--name bench]

For each size N, a fleet of N hosts (tests/fleet, NAME, 172.29.INDEX.0/24; never an index another fleet on this
machine uses: the fleet refuses to start over one), every host serving the same four TLS
vhosts (good, must_staple, second_issuer: stapleable; no_uri: no OCSP URI). Each side starts from hosts made again
from the image (no stapling), runs once (first rollout) and again (converged re-run), with the fleet's ansible.cfg
(pipelining on, forks = N): wall time, controller CPU seconds (ansible-playbook and the processes it waited for; the
SSH ControlPersist masters detach and are not counted, on either side), module executions per host (tasks that ran
a module on the managed host, loop items counted), tasks per host (every task result the callback reports for the
host: those that ran, a task run once for the batch counted for the host it ran on, and those skipped), and where the
time goes per task (from the result_file callback's timings). With --scale M, ours alone again on M hosts (first
rollout, then the converged re-run): the converged re-run's cost per host (wall and controller CPU divided by the
number of hosts) against the same at the largest of --sizes, beside the floor's (benchmarks/fleet/floor.yml: Ansible
alone running a play of our converged shape that does nothing, at both sizes): the growth Ansible and this machine
add per host at that scale. Ours: ocsp.stapling.rollout with a canary of 1 and the rest in one batch
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
FLOOR = os.path.join(HERE, "floor.yml")
VHOSTS = ["good", "no_uri", "must_staple", "second_issuer"]


def bench_profile(_index):
    return {"vhosts": list(VHOSTS)}


def measure(fleet, side, work):
    if side == "ours":
        playbook = "ocsp.stapling.rollout"
        extra = {"apache_stapling_ca_file": CA_FILE, "apache_stapling_report_dir": os.path.join(work, "reports"),
                 "apache_stapling_batch": "100%"}
    else:
        playbook, extra = (BASELINE if side == "baseline" else FLOOR), None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    rc, results, out = run_on_fleet(fleet, playbook, _Path(work), extra, timeout=3600)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    hosts = [h.name for h in fleet.hosts]
    runs = module_executions(results, hosts)
    ran, skipped = tasks_per_host(results, hosts)
    busiest = max(hosts, key=lambda h: ran[h])
    failed = sorted(set(r["host"] for r in results if r["status"] in ("failed", "unreachable")))
    return {"rc": rc, "wall": wall, "cpu": cpu, "modules": sum(runs.values()) / float(len(hosts)),
            "modules_max": max(runs.values()), "tasks": sum(ran.values()) / float(len(hosts)),
            "tasks_max": max(ran.values()), "skipped": sum(skipped.values()) / float(len(hosts)),
            "skipped_max": max(skipped.values()), "failed": failed, "profile": profile(results),
            "tasks_of_busiest": [(busiest, r["task"].split(" : ", 1)[-1], r["status"]) for r in results
                                 if r["host"] == busiest],
            "tail": out[-1500:] if rc else ""}


def tasks_per_host(results, hosts):
    """({host: tasks that ran for it}, {host: tasks skipped for it}): every result the callback reports for a host,
    whatever the task runs (a module, set_fact, an include, an action on the controller); a loop is one task; a task
    run once for the batch counts for the host it ran on. The play on localhost that notes the run's start is not a
    host's."""
    ran, skipped = dict((h, 0) for h in hosts), dict((h, 0) for h in hosts)
    for r in results:
        if r["host"] in ran:
            (skipped if r["status"] == "skipped" else ran)[r["host"]] += 1
    return ran, skipped


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


def run_size(n, log, name="bench", index=4, sides=("ours", "baseline")):
    fleet = Fleet(name, index=index)
    out = {}
    try:
        fleet.up(n, profiles=bench_profile, log=log)
        out["up_seconds"] = fleet.state["up_seconds"]
        out["load"] = os.getloadavg()
        for side in sides:
            fleet.reset(bench_profile)
            with tempfile.TemporaryDirectory(prefix="ocsp-bench-") as work:
                first = measure(fleet, side, work)
                log.write("N={0} {1} first: {2:.1f}s rc={3}\n".format(n, side, first["wall"], first["rc"]))
                again = measure(fleet, side, work)
                log.write("N={0} {1} re-run: {2:.1f}s rc={3}\n".format(n, side, again["wall"], again["rc"]))
                log.flush()
            out[side] = {"first": first, "again": again}
        out["load_after"] = os.getloadavg()
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
            rc = ratio(o["cpu"], b["cpu"])
            rows.append("| {0} | {1} | controller CPU | {2:.1f} s | {3:.1f} s | {4:.2f}x | <= 1.0x | {5} |".format(
                n, label, o["cpu"], b["cpu"], rc, "yes" if rc <= 1.0 else "no ({0:+.0f} %)".format((rc - 1) * 100)))
            mod_target = "<= 5" if run == "again" else ""
            rows.append("| {0} | {1} | module executions per host | {2:.1f} (max {3}) | {4:.1f} | {5:.2f}x | {6} | {7} |"
                        .format(n, label, o["modules"], o["modules_max"], b["modules"],
                                ratio(o["modules"], b["modules"]), mod_target,
                                ("yes" if o["modules_max"] <= 5 else "no") if run == "again" else ""))
            if "tasks" in o:
                limit = 6 if run == "again" else 12
                rows.append("| {0} | {1} | tasks per host that ran (skipped) | {2:.1f} (max {3}; skipped {4:.1f}, max "
                            "{5}) | {6:.1f} (max {7}; skipped {8:.1f}) | {9:.2f}x | <= {10} | {11} |".format(
                                n, label, o["tasks"], o["tasks_max"], o["skipped"], o["skipped_max"], b["tasks"],
                                b["tasks_max"], b["skipped"], ratio(o["tasks"], b["tasks"]), limit,
                                "yes" if o["tasks_max"] <= limit else "no"))
    return rows


def scale_rows(data, scale):
    """The converged re-run's cost per host at the largest size measured against both sides and at ``scale``; and,
    when measured, the floor's (benchmarks/fleet/floor.yml: Ansible alone, the same shape of play doing nothing), so
    that the growth of ours can be set against what Ansible and this machine add per host at that scale."""
    big = max(n for n in data if "baseline" in data[n])
    rows = ["", "| hosts | converged re-run | wall per host | controller CPU per host | per host / at {0} | target | met |"
            .format(big), "|---|---|---|---|---|---|---|"]
    growth = {}
    for side, label in (("ours", "ours"), ("floor", "floor (Ansible alone)")):
        if not all(side in data[n] for n in (big, scale)):
            continue
        base = data[big][side]["again"]
        for n in (big, scale):
            o = data[n][side]["again"]
            wall, cpu = o["wall"] / n, o["cpu"] / n
            r_wall, r_cpu = ratio(wall, base["wall"] / big), ratio(cpu, base["cpu"] / big)
            growth[side, n] = (r_wall, r_cpu)
            judged = side == "ours" and n != big
            rows.append("| {0} | {1}: {2:.1f} s, {3:.1f} s CPU (rc {4}) | {5:.2f} s | {6:.2f} s | {7:.2f}x wall, "
                        "{8:.2f}x CPU | {9} | {10} |".format(
                            n, label, o["wall"], o["cpu"], o["rc"], wall, cpu, r_wall, r_cpu,
                            "<= 1.1x" if judged else "",
                            ("yes" if max(r_wall, r_cpu) <= 1.1 else "no ({0:+.0f} %)".format(
                                (max(r_wall, r_cpu) / 1.1 - 1) * 100)) if judged else ""))
            rows.append("| {0} | {1}: tasks per host | {2:.1f} (max {3}; skipped {4:.1f}) | | | | |".format(
                n, label, o["tasks"], o["tasks_max"], o["skipped"]))
    if ("floor", scale) in growth:
        (ow, oc), (fw, fc) = growth["ours", scale], growth["floor", scale]
        rows.append("| {0} | ours' growth over the floor's | | | {1:.2f}x wall, {2:.2f}x CPU | | |".format(
            scale, ratio(ow, fw), ratio(oc, fc)))
    return rows


def profiles(data):
    lines = []
    for n in sorted(data):
        for side in [x for x in ("ours", "baseline", "floor") if x in data[n]]:
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
    parser.add_argument("--scale", type=int, default=0,
                        help="also run ours alone on this many hosts (the converged re-run's cost per host)")
    parser.add_argument("--index", type=int, default=4,
                        help="the fleet's index (its subnet 172.29.INDEX.0/24); one no other fleet here uses")
    parser.add_argument("--name", default="bench", help="the fleet's name (its state directory)")
    parser.add_argument("--from-raw", action="store_true", help="write the table again from raw.json")
    args = parser.parse_args(argv)
    raw = os.path.join(HERE, "raw.json")
    if args.from_raw:
        with open(raw) as f:
            data = dict((int(k), v) for k, v in json.load(f).items())
    else:
        data = {}
        sizes = [int(x) for x in args.sizes.split(",")]
        for n in sizes:
            # The floor where the growth is judged: at the largest size and at --scale.
            sides = ("ours", "baseline", "floor") if args.scale and n == max(sizes) else ("ours", "baseline")
            data[n] = run_size(n, sys.stderr, args.name, args.index, sides=sides)
            with open(raw, "w") as f:
                json.dump(data, f, indent=1, default=str)
        if args.scale:
            data[args.scale] = run_size(args.scale, sys.stderr, args.name, args.index, sides=("ours", "floor"))
            with open(raw, "w") as f:
                json.dump(data, f, indent=1, default=str)
    sizes = sorted(n for n in data if "baseline" in data[n])
    rows = table(dict((n, data[n]) for n in sizes))
    scale = [n for n in data if "baseline" not in data[n]]
    if scale:
        rows += scale_rows(data, scale[0])
    load = "; load average (1, 5, 15 min) at the start of each size: {0}".format(", ".join(
        "N={0}: {1}".format(n, " ".join("{0:.1f}".format(x) for x in data[n]["load"])) for n in sorted(data)
        if data[n].get("load"))) if any(data[n].get("load") for n in data) else ""
    note = ("\nMeasured {0} on {1} ({2} cores, which the controller and every host of the fleet share), Python {3}; "
            "fleet up in {4}{5}. "
            "Targets: converged re-run at most 0.5x the baseline's wall time, at most 6 tasks of ours per host (at "
            "most 5 module executions); first rollout at most 1x, at most 12 tasks per host; controller CPU at most "
            "the baseline's; per host at {6} hosts at most 1.1x the cost at {7}.\n").format(
        time.strftime("%Y-%m-%d"), platform.machine(), os.cpu_count(), platform.python_version(),
        ", ".join("{0:.1f} s for {1} hosts".format(data[n]["up_seconds"], n) for n in sorted(data)), load,
        scale[0] if scale else "M", max(sizes) if sizes else "N")
    text = "\n".join(rows) + "\n" + note + "\n" + "\n".join(profiles(data)) + "\n"
    with open(os.path.join(HERE, "results.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
