"""Benchmark: the fleet report (role ocsp.stapling.stapling_report) for 1,000 hosts x 5 vhosts.

Run:  .venv/ansible-2.19/bin/python benchmarks/report/run.py [--hosts N] [--vhosts N] [--no-compare] [--no-browser]
Writes benchmarks/report/results.md and prints it.

The summary is made of recorded lab summaries (benchmarks/report/large_summary.py: hosts converged, rolled back and unreachable,
some staples in the danger zone or expired). Measured:
- the render itself: the filter ocsp.stapling.stapling_report_render over the JSON text with both shipped templates
  (JSON parse, the view, the HTML page, the Markdown), in this process, cold (templates compiled) and warm, wall and
  CPU time;
- the whole `ansible-playbook ocsp.stapling.report` with ansible-core 2.19 and 2.16 (start-up, argument validation,
  the one task of the action ocsp.stapling.stapling_summary that renders and writes both files), with that task's own
  time;
- for comparison (--no-compare skips it), the same page through Ansible's own templating (ansible-core 2.19's Templar,
  what ansible.builtin.template runs), which is why the role renders with Jinja2 inside the filter;
- the page loaded from disk by headless Chromium with --dump-dom (--no-browser skips it).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from common import write_table  # noqa: E402  (puts tests/ on sys.path)
import collection_path  # noqa: E402
from large_summary import fleet  # noqa: E402  (not "fleet": tests/fleet, on sys.path, would shadow it)

TEMPLATES = [os.path.join(REPO, "roles", "stapling_report", "templates", "report.html.j2"),
             os.path.join(REPO, "roles", "stapling_report", "templates", "report.md.j2")]
VENVS = os.path.join(REPO, ".venv")


def best(fn, runs):
    out = []
    for _i in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - w, time.process_time() - c))
    return min(x[0] for x in out), min(x[1] for x in out)


def render_in_process(text, source):
    collection_path.ensure()
    from ansible_collections.ocsp.stapling.plugins.plugin_utils import _report_render as mod
    mod._ENVIRONMENTS.clear()
    w, c = time.perf_counter(), time.process_time()
    html, md = mod.stapling_report_render(text, template=TEMPLATES, source=source)
    cold = (time.perf_counter() - w, time.process_time() - c)
    warm = best(lambda: mod.stapling_report_render(text, template=TEMPLATES, source=source), 3)
    return cold, warm, len(html), len(md)


def playbook(version, work, source, runs=2):
    times = os.path.join(work, "tasks-{0}.jsonl".format(version))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collection_path.ensure(), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="task_seconds", OCSP_BENCH_TASK_TIMES=times,
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    binary = os.path.join(VENVS, "ansible-" + version, "bin", "ansible-playbook")
    results = []
    for _i in range(runs):
        if os.path.exists(times):
            os.unlink(times)
        start = time.perf_counter()
        proc = subprocess.run([binary, "ocsp.stapling.report", "-e", "stapling_report_input=" + source],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise AssertionError("ansible-playbook {0} failed:\n{1}".format(version, proc.stdout[-3000:]))
        with open(times) as f:
            tasks = [json.loads(line) for line in f]
        task = dict((t["task"].split(" : ", 1)[-1], t["seconds"]) for t in tasks)
        results.append((wall, task.get("Render the report next to the summary")))
    return min(results)


def templar_route(view_source):
    """The same HTML template rendered by ansible-core 2.19's own templating (what ansible.builtin.template does),
    in a fresh process of that venv, every expression given the |e it would need there (Ansible's templating does not
    autoescape); seconds of wall time."""
    code = r"""
import re, sys, time, json
sys.path.insert(0, sys.argv[3])
import collection_path
cp = collection_path.ensure()
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([cp])
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_view import stapling_report_view
view = stapling_report_view(open(sys.argv[1]).read())
templar = Templar(loader=DataLoader(), variables={"v": view})
# Ansible's templating does not autoescape: every expression gets the |e a template for it would need.
text = re.sub(r"\{\{(.*?)\}\}", r"{{ (\1) | e }}", open(sys.argv[2]).read(), flags=re.S)
data = trust_as_template(text)
start = time.perf_counter()
out = templar.template(data, escape_backslashes=False)
print(json.dumps({"seconds": time.perf_counter() - start, "chars": len(out)}))
"""
    proc = subprocess.run([os.path.join(VENVS, "ansible-2.19", "bin", "python"), "-c", code, view_source, TEMPLATES[0],
                           os.path.join(REPO, "tests")], stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def browser(html_path, work):
    chromium = shutil.which("chromium")
    if not chromium:
        return None
    profile = os.path.join(work, "chromium-profile")
    start = time.perf_counter()
    proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile,
                             "--host-resolver-rules=MAP * ~NOTFOUND", "--dump-dom", "file://" + html_path],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    seconds = time.perf_counter() - start
    return seconds, out.count(b"<tr ")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--vhosts", type=int, default=5)
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ocsp-bench-report-")
    try:
        doc = fleet(args.hosts, args.vhosts)
        source = os.path.join(work, "rollout-bench.json")
        with open(source, "w") as f:
            json.dump(doc, f, indent=1)
        with open(source) as f:
            text = f.read()
        size = len(text)
        vhosts = sum(len(h["vhosts"]) for h in doc["hosts"].values())
        what = "{0} hosts x {1} vhosts ({2} vhost rows), JSON {3:.1f} MB".format(
            args.hosts, args.vhosts, vhosts, size / 1e6)
        cold, warm, html_len, md_len = render_in_process(text, source)
        rows = [
            "| what ({0}) | wall time | CPU time |".format(what),
            "|---|---|---|",
            "| **render**: `ocsp.stapling.stapling_report_render` over the JSON text, both templates (parse, view, "
            "HTML page {0:.1f} MB, Markdown {1} kB), warm, best of 3 | **{2:.3f} s** | {3:.3f} s |".format(
                html_len / 1e6, md_len // 1000, warm[0], warm[1]),
            "| the same, cold (templates compiled first, as in each playbook run) | {0:.3f} s | {1:.3f} s |".format(
                cold[0], cold[1]),
        ]
        for version in ("2.19", "2.16"):
            if not os.path.exists(os.path.join(VENVS, "ansible-" + version, "bin", "ansible-playbook")):
                continue
            wall, render = playbook(version, work, source)
            rows.append("| `ansible-playbook ocsp.stapling.report` with ansible-core {0}, whole run, best of 2 "
                        "(the task of `ocsp.stapling.stapling_summary` rendering and writing both files {1:.2f} s) | "
                        "{2:.2f} s | - |".format(version, render or 0, wall))
        if not args.no_compare:
            seconds = templar_route(source)
            rows.append("| for comparison: the HTML template through ansible-core 2.19's own templating (what "
                        "`ansible.builtin.template` runs; the view given as a variable, the `e` filter on every "
                        "expression as it needs there), one run | {0:.2f} s | - |".format(seconds))
        if not args.no_browser:
            page = os.path.join(work, "rollout-bench.html")
            got = browser(page, work) if os.path.exists(page) else None
            if got:
                rows.append("| headless Chromium loads the page from disk and dumps its DOM ({0} table rows) | "
                            "{1:.2f} s | - |".format(got[1], got[0]))
        write_table(HERE, rows, "Target: the render of 1,000 hosts x 5 vhosts under 2 s. The machine is shared with "
                                "other test runs: wall times vary with its load, CPU times much less.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
