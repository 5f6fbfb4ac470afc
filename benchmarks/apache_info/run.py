"""Benchmark: apache_info over a generated configuration with 1,000 TLS vhosts in 100 included files,
beside `apache2ctl -t -D DUMP_VHOSTS` on the same tree.

Run:  .venv/ansible-2.19/bin/python benchmarks/apache_info/run.py [--vhosts N] [--files N]
Writes benchmarks/apache_info/results.md and prints it. The vhosts use one real certificate
and key (Apache opens neither for -t; the module only checks that the paths exist); every
vhost has stapling on, a chain file and its own name on one of 10 ports. The module runs as
Ansible runs it on a host: a fresh Python process, so its start and imports are counted.
"""

import argparse
import os
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))

sys.path.insert(0, os.path.dirname(HERE))
from common import build_vhost_tree, run_module_process, write_table  # noqa: E402


def time_module(sandbox, work):
    """(wall seconds, CPU seconds of the module and the commands it ran, vhosts, problems)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed, result = run_module_process("apache_info", {"server_root": sandbox.confdir}, work)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, len(result["vhosts"]), len(result["problems"])


def time_dump(sandbox):
    start = time.perf_counter()
    proc = sandbox.ctl("-t", "-D", "DUMP_VHOSTS")
    assert proc.returncode == 0, proc.stdout
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vhosts", type=int, default=1000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-apache-") as work:
        sandbox = build_vhost_tree(work, args.vhosts, args.files)
        runs = [time_module(sandbox, work) for _r in range(args.repeat)]
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        dump = min(time_dump(sandbox) for _r in range(args.repeat))
    best = min(r[0] for r in runs)
    cpu = min(r[1] for r in runs)
    found, problems = runs[0][2], runs[0][3]
    rows = [
        "| what ({0} TLS vhosts in {1} included files) | wall time | CPU time | peak RSS | vhosts |".format(
            args.vhosts, args.files),
        "|---|---|---|---|---|",
        "| `ocsp.stapling.apache_info` (whole module process, best of {0}; sources envvars once, runs -V, one configtest with DUMP_MODULES and DUMP_VHOSTS, "
        "ldd, "
        "openssl itself) | {1:.3f} s | {2:.3f} s | {3:.0f} MB | {4} (problems: {5}) |".format(
            args.repeat, best, cpu, peak_mb, found, problems),
        "| `apache2ctl -t -D DUMP_VHOSTS` alone (reference) | {0:.3f} s | - | - | - |".format(dump),
    ]
    load = os.getloadavg()[0]
    write_table(HERE, rows, "Target: at most 0.5 s and under 100 MB. Load average when measured: {0:.1f} (CPU time: "
                            "user + system of the module process and every command it ran).".format(load))


if __name__ == "__main__":
    main()
