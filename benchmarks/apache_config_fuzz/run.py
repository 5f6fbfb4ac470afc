"""Differential fuzzing of apache_info's configuration reader against Apache itself (the nightly / long run of
tests/integration/test_apache_config_differential.py).

Run:  .venv/ansible-2.19/bin/python benchmarks/apache_config_fuzz/run.py [--count N] [--seed S] [--workers W]
      [--keep DIR]

Each variant (tests/lab/config_fuzz.py) gets its own minimal ServerRoot; ``apache2 -t -D DUMP_VHOSTS`` is the
oracle, apache_info's core (``_apache.gather``) the reading under test. Writes
benchmarks/apache_config_fuzz/results.md and prints it; exits 1 when any variant disagrees. The ServerRoots of
the variants that disagree are kept (in --keep, default a directory named in the output) to reproduce them:
``apache2 -t -D DUMP_VHOSTS -d ROOT -f ROOT/httpd.conf``.
"""

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from common import write_table  # noqa: E402 (puts tests/ on sys.path)

import collection_path  # noqa: E402

collection_path.ensure()
from ansible_collections.ocsp.stapling.plugins.module_utils import _apache  # noqa: E402
from lab.config_fuzz import cached_runner, generate, judge  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", default="17")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--keep", help="directory for the ServerRoots of the variants that disagree")
    args = parser.parse_args()
    keep = args.keep or tempfile.mkdtemp(prefix="apache-config-fuzz-disagreements-")
    run = cached_runner()
    with tempfile.TemporaryDirectory(prefix="apache-config-fuzz-") as work:
        def one(index):
            return judge(generate(args.seed, index), os.path.join(work, "v{0:05d}".format(index)), _apache.gather, run)

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            results = list(pool.map(one, range(args.count)))
        elapsed = time.perf_counter() - start
        wrong = [r for r in results if not r["agree"]]
        for r in wrong:
            shutil.copytree(r["root"], os.path.join(keep, os.path.basename(r["root"])))
    accepted = [r for r in results if r["accepted"]]
    features = collections.Counter(f for r in results for f in r["features"])
    rows = [
        "| seed | variants | Apache accepts | Apache refuses | vhosts compared | disagreements | wall time | per variant |",
        "|---|---|---|---|---|---|---|---|",
        "| {0} | {1} | {2} | {3} | {4} | {5} | {6:.1f} s | {7:.1f} ms |".format(
            args.seed, args.count, len(accepted), args.count - len(accepted), sum(r["vhosts"] for r in accepted),
            len(wrong), elapsed, 1000.0 * elapsed / max(1, args.count)),
        "",
        "Variants per feature: " + ", ".join("{0} {1}".format(k, v) for k, v in sorted(features.items())) + ".",
        "",
        "Each variant: one `apache2 -t -D DUMP_VHOSTS` (the oracle) and one `_apache.gather` with a real configtest "
        "({0} workers; `-V` taken once).".format(args.workers),
    ]
    for r in wrong[:10]:
        rows += ["", "- variant {0} ({1}), kept in {2}: {3}".format(
            r["index"], ", ".join(r["features"]), os.path.join(keep, os.path.basename(r["root"])),
            r["why"].replace("\n", " "))]
    write_table(HERE, rows, "Target: no disagreement.")
    if not wrong:
        shutil.rmtree(keep, ignore_errors=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
