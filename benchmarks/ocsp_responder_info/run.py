"""Benchmark: ocsp_responder_info over 1,000 certificates (with chains), no probe,
against the how-to way (one `openssl x509 -noout -ocsp_uri` process per certificate).

Run:  .venv/ansible-2.19/bin/python benchmarks/ocsp_responder_info/run.py [--count N]
Writes benchmarks/ocsp_responder_info/results.md (a Markdown table) and prints it.
The module runs as Ansible runs it on a host: a fresh Python process given its arguments
file, so its own start-up and imports are counted.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))

sys.path.insert(0, os.path.dirname(HERE))
from common import run_module_process, write_table  # noqa: E402
from lab.pki import PKI  # noqa: E402


def make_certificates(directory, count):
    pki = PKI.create(os.path.join(directory, "pki"), "http://ocsp.bench.test/")
    paths = []
    for i in range(count):
        leaf = pki.issue_leaf("bench{0:04d}".format(i), ocsp_uris=["http://ocsp{0}.bench.test/".format(i % 7)],
                              write=False)
        leaf.write()
        paths.append(leaf.fullchain_path)
    return paths


def run_module(paths, directory):
    elapsed, result = run_module_process("ocsp_responder_info", {"certificates": paths, "resolve": False}, directory)
    assert len(result["certificates"]) == len(paths) and not any(c["error"] for c in result["certificates"])
    assert all(c["issuer_found"] for c in result["certificates"])
    return elapsed


def run_openssl_loop(paths):
    start = time.perf_counter()
    for path in paths:
        subprocess.run(["openssl", "x509", "-noout", "-ocsp_uri", "-in", path], stdout=subprocess.PIPE, check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ocsp-") as directory:
        paths = make_certificates(directory, args.count)
        module_times = [run_module(paths, directory) for _run in range(args.repeat)]
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        openssl_time = run_openssl_loop(paths)
    best = min(module_times)
    rows = [
        "| what ({0} certificates with chains, no probe) | wall time | peak RSS |".format(args.count),
        "|---|---|---|",
        "| `ocsp.stapling.ocsp_responder_info` (whole module process, best of {0}) | {1:.3f} s | {2:.0f} MB |".format(
            args.repeat, best, peak_kb / 1024.0),
        "| one `openssl x509 -noout -ocsp_uri` process per certificate | {0:.3f} s | - |".format(openssl_time),
        "| speed-up | {0:.0f}x | |".format(openssl_time / best),
    ]
    write_table(HERE, rows, "Targets: at most 0.5 s, at least 100x.")


if __name__ == "__main__":
    main()
