"""Shared by the benchmark runners: run a module as Ansible runs it on a host, and write a table."""

import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

import collection_path  # noqa: E402


def run_module_process(module, module_args, work):
    """(seconds, result) of one fresh Python process running ocsp.stapling.<module> with module_args,
    as AnsiballZ would: its interpreter start, imports and exit_json are all counted."""
    args = os.path.join(work, module + "-args.json")
    with open(args, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": module_args}, f)
    env = dict(os.environ, PYTHONPATH=collection_path.ensure())
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.ocsp.stapling.plugins.modules." + module, args],
                          stdout=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise AssertionError("{0} failed: {1}".format(module, result.get("msg")))
    return elapsed, result


def write_table(directory, rows, targets):
    """Write rows (Markdown table lines) and a measurement note to directory/results.md; print them."""
    note = "\nMeasured {0} on {1} ({2} cores), Python {3}. {4}\n".format(
        time.strftime("%Y-%m-%d"), platform.machine(), os.cpu_count(), platform.python_version(), targets)
    text = "\n".join(rows) + "\n" + note
    with open(os.path.join(directory, "results.md"), "w") as f:
        f.write(text)
    print(text)
