"""Long fuzz run: each property of tests/integration/fuzz_targets.py with many examples (a command, not a test).

    .venv/ansible-2.19/bin/python benchmarks/fuzz/run.py [--examples N] [--seed S] [--only TARGET,TARGET]

Targets: config_reader (any edited configuration is read or refused with a StaplingError), config_vs_apache (the
same, judged by Debian's apache2 -t: the same vhosts where Apache accepts, configtest_failed where it refuses),
certificate_reader (edited PEM bundles and DER certificates), ocsp_validator (edited bytes of a valid response are
never valid unless an independent reading verifies them). The oracle target costs two apache2 runs per example, so it
runs a fifth of --examples. A counterexample stops that target; it is shrunk and printed by hypothesis, and the table
says so. Writes benchmarks/fuzz/results.md and prints it.
"""

import argparse
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.dirname(HERE))

import collection_path  # noqa: E402

collection_path.ensure()

import fuzz_targets  # noqa: E402
from common import write_table  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", help="comma-separated: " + ", ".join(fuzz_targets.TARGETS))
    args = parser.parse_args()
    targets = args.only.split(",") if args.only else list(fuzz_targets.TARGETS)
    rows = ["| target | examples | counterexamples | details | wall time | per example |", "|---|---|---|---|---|---|"]
    failed = False
    for target in targets:
        count = args.examples // 5 if target == "config_vs_apache" else args.examples
        start = time.perf_counter()
        try:
            seen = fuzz_targets.run(target, count, seed=args.seed)
            found, details = 0, ", ".join("{0} {1}".format(k, v) for k, v in sorted(seen.items())
                                          if k not in ("target", "examples"))
        except Exception as exc:  # noqa: BLE001 -- a counterexample is a row of the table, then the exit status
            traceback.print_exc()
            seen, found, details, failed = {"examples": count}, 1, str(exc).splitlines()[0][:120], True
        elapsed = time.perf_counter() - start
        rows.append("| {0} | {1} | {2} | {3} | {4:.1f} s | {5:.1f} ms |".format(
            target, seen["examples"], found, details or "-", elapsed, 1000.0 * elapsed / max(seen["examples"], 1)))
        sys.stderr.write(rows[-1] + "\n")
    write_table(HERE, ["Seed {0}; hypothesis with the edits of tests/integration/fuzz_targets.py.".format(args.seed),
                       ""] + rows, "Target: no counterexample.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
