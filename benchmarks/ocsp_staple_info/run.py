"""Benchmark: ocsp_staple_info verifying 200 TLS vhosts on the lab's Apache, beside a loop of
`openssl s_client -status` processes over the same vhosts.

Run:  .venv/ansible-2.19/bin/python benchmarks/ocsp_staple_info/run.py [--vhosts N]
Writes benchmarks/ocsp_staple_info/results.md and prints it. Every vhost has its own certificate
and SNI name on one port; staples are warmed up first (mod_ssl fetches lazily), so both sides
measure steady-state verification. The module runs as Ansible runs it: a fresh Python process.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))

sys.path.insert(0, os.path.dirname(HERE))
from common import run_module_process, write_table  # noqa: E402
from lab import STAPLING_GLOBAL, ApacheSandbox, OpensslResponder, PKI  # noqa: E402
from lab.procs import free_port  # noqa: E402


def run_module(targets, directory, tls_versions):
    elapsed, result = run_module_process("ocsp_staple_info", {"targets": targets, "tls_versions": tls_versions},
                                         directory)  # the module's default concurrency (16)
    assert result["summary"]["valid"] == len(targets), result["summary"]
    return elapsed, sum(r["handshakes"] for r in result["results"])


def run_s_client_loop(targets, versions=(None,)):
    """One s_client process per vhost (and per TLS version when versions are given)."""
    start = time.perf_counter()
    for t in targets:
        for version in versions:
            argv = ["openssl", "s_client", "-connect", "{host}:{port}".format(**t), "-servername", t["sni"], "-status"]
            if version:
                argv.append("-tls" + version.replace(".", "_"))
            out = subprocess.run(argv, input=b"", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False).stdout
            assert b"Cert Status: good" in out
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vhosts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-staple-") as work:
        port = free_port()
        pki = PKI.create(os.path.join(work, "pki"), "http://127.0.0.1:{0}/".format(port))
        responder = OpensslResponder(pki, work, port=port, multi=4)
        apache = ApacheSandbox(work)
        try:
            apache.set_global(STAPLING_GLOBAL)
            shared = free_port()
            targets = []
            for i in range(args.vhosts):
                leaf = pki.issue_leaf("v{0:03d}".format(i), write=False)
                leaf.write()
                targets.append(apache.add_vhost(leaf.name, leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                                                server_name=leaf.server_name, port=shared,
                                                directives=["SSLUseStapling on"]))
            pki.save()  # index.txt with every leaf, before openssl ocsp reads it
            responder.start()
            apache.start(timeout=60)
            run_module(targets, work, ["1.3"])  # warm-up: every staple fetched once
            runs = {"both": [], "one": []}
            for _r in range(args.repeat):  # interleaved, so drift in the machine's load hits both alike
                runs["both"].append(run_module(targets, work, ["1.3", "1.2"]))
                runs["one"].append(run_module(targets, work, ["1.3"]))
            both, one = sorted(runs["both"]), sorted(runs["one"])
            loop = run_s_client_loop(targets)
            loop_both = run_s_client_loop(targets, ("1.3", "1.2"))
        finally:
            apache.stop()
            responder.stop()
    n = args.vhosts
    mid = args.repeat // 2

    def module_row(label, runs):
        best, median = runs[0], runs[mid]
        return "| {0} | {1:.3f} s (median {2:.3f} s) | {3} | {4:.0f} | {5:.1f}x (median {6:.1f}x) |".format(
            label, best[0], median[0], best[1], best[1] / best[0], loop / best[0], loop / median[0])

    rows = [
        "| what ({0} TLS vhosts, one port, SNI) | wall time, best of {1} | handshakes | handshakes/s | vs s_client loop |"
        .format(n, args.repeat),
        "|---|---|---|---|---|",
        module_row("`ocsp_staple_info`, TLS 1.3 only, one handshake per vhost like the loop (whole module process)", one),
        module_row("`ocsp_staple_info`, TLS 1.3 and 1.2 (the default)", both),
        "| loop of `openssl s_client -status` processes (prints, verifies nothing) | {0:.3f} s | {1} | {2:.0f} | 1x |".format(
            loop, n, n / loop),
        "| the same loop once per TLS version (`-tls1_3`, `-tls1_2`), for the default's 400 handshakes | {0:.3f} s | {1} "
        "| {2:.0f} | default: {3:.1f}x |".format(loop_both, 2 * n, 2 * n / loop_both, loop_both / both[0][0]),
    ]
    write_table(HERE, rows, "Apache 2.4 (Debian) on loopback, default concurrency (16). Targets: at most 1 s for 200 vhosts, "
                            "at least 10x the loop.")


if __name__ == "__main__":
    main()
