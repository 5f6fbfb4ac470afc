"""Benchmark: the crafted inputs of issue 24 against the readers and the probe (a command, not a test).

    .venv/ansible-2.19/bin/python benchmarks/crafted_input/run.py [--only NAME,NAME]

One row per crafted input: what it is, what the code answers, the wall time and the peak memory of a fresh process
doing only that (the reader, or the probe against a hostile listener on loopback), and, for configuration files,
what Debian's `apache2 -t` says about the same file and how long it takes. "Before" is what issue 24 measured
before the fixes. Writes benchmarks/crafted_input/results.md (a Markdown table) and prints it.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.dirname(HERE))

from common import write_table  # noqa: E402

BEGIN = b"-----BEGIN CERTIFICATE-----\n"
MIB = 1024 * 1024


def _pem_begins():
    return BEGIN * (MIB // len(BEGIN))


def _pem_begins_bad_end():
    return BEGIN * (MIB // len(BEGIN) - 1) + b"-----END X509 CRL-----\n"


def _continued():
    return "ServerName a\\\n" + "b\\\n" * 2000000 + "c\n"


def _doubling():
    return "Define A 0123456789abcdef0123456789abcdef\n" + "Define A ${A}${A}\n" * 22 + "ServerAdmin ${A}\n"


def _many_copies():
    return ("Define A 0123456789abcdef0123456789abcdef\n" + "Define A ${A}${A}\n" * 18 +
            "".join("Define B{0} ${{A}}\n".format(i) for i in range(1000)))


# name: (what, kind, input builder, before (issue 24), apache oracle runs?)
CASES = {
    "pem_begins": ("1 MiB certificate file of BEGIN lines, no END", "pem", _pem_begins, "357 s", False),
    "pem_bad_end": ("1 MiB of BEGIN lines, then an END of another label", "pem", _pem_begins_bad_end, "-", False),
    "config_continued": ("a line continued over 2,000,000 physical lines (6 MB)", "config", _continued, "283 s", True),
    "config_doubling": ("22 doubling Define lines (a 128 MiB value)", "config", _doubling, "15 s, 128 MiB built", True),
    "config_copies": ("1,000 copies of an 8 MiB Define value (8 GB expanded)", "config", _many_copies, "-", False),
    "probe_banner": ("probe: an SSH server's banner instead of HTTP", "probe", "banner", "traceback (BadStatusLine)",
                     False),
    "probe_drip": ("probe (timeout 3 s): one body byte every 0.2 s for a minute", "probe", "drip",
                   "40.7 s, then a traceback", False),
    "probe_huge": ("probe: a 400 MiB body with its Content-Length", "probe", "huge", "read whole, 441 MiB peak",
                   False),
    "probe_huge_undeclared": ("probe: a 400 MiB body without Content-Length", "probe", "huge_undeclared",
                              "read whole", False),
    "probe_redirect": ("probe through a proxy: a 302 to another path", "probe", "redirect", "followed", False),
}


def one(name, work):
    """Run one case in this process; print {"seconds", "outcome"} as JSON."""
    import collection_path
    collection_path.ensure()
    what, kind, source, _before, _oracle = CASES[name]
    if kind == "pem":
        from ansible_collections.ocsp.stapling.plugins.module_utils import _x509
        data = source()
        start = time.perf_counter()
        try:
            _x509.load_pem_or_der_certificates(data, "crafted.pem")
            outcome = "read"
        except Exception as exc:  # noqa: BLE001 -- the outcome is the row
            outcome = "{0}: {1}".format(type(exc).__name__, getattr(exc, "msg", exc))
        elapsed = time.perf_counter() - start
    elif kind == "config":
        from ansible_collections.ocsp.stapling.plugins.module_utils._apache_config import ConfigReader
        from lab.config_fuzz import MinimalRoot
        root = MinimalRoot(os.path.join(work, name), {"site.conf": source()})
        reader = ConfigReader(root.root, modules=("core_module", "so_module", "http_module"))
        start = time.perf_counter()
        try:
            reader.read(root.config_file)
            outcome = "read ({0} directives)".format(len(reader.global_directives))
        except Exception as exc:  # noqa: BLE001 -- the outcome is the row
            outcome = "{0}: {1}".format(type(exc).__name__, getattr(exc, "msg", exc))
        elapsed = time.perf_counter() - start
    else:
        from ansible_collections.ocsp.stapling.plugins.module_utils import _ocsp
        from lab import hostile
        from lab.hostile import HostileServer
        from lab.pki import PKI
        pki = PKI.create(os.path.join(work, "pki"), "http://127.0.0.1:1/")
        leaf = pki.certs["good"]
        behaviour = {"banner": hostile.banner, "drip": hostile.drip(0.2, 300), "huge": hostile.huge(),
                     "huge_undeclared": hostile.huge(declare=False), "redirect": hostile.redirect("/elsewhere/")}[source]
        with HostileServer(behaviour) as server:
            proxy = server.url() if source == "redirect" else None
            uri = "http://127.0.0.1:9/ocsp/" if proxy else server.url()
            start = time.perf_counter()
            result = _ocsp.probe(leaf.cert, leaf.issuer.cert, uri, timeout=3, proxy=proxy)
            elapsed = time.perf_counter() - start
            asked = len(server.log)
        error = result["error"] or {}
        outcome = "{0}: {1}".format(error.get("code"), error.get("msg"))
        if source == "redirect":
            outcome += " ({0} request)".format(asked)
    print(json.dumps({"seconds": elapsed, "outcome": outcome}))


def measure(name, work):
    """(seconds, peak RSS in MB, outcome) of one case in a fresh process."""
    proc = subprocess.Popen([sys.executable, __file__, "--case", name, "--work", work], stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit("case {0} failed (exit {1})".format(name, proc.returncode))
    data = json.loads(out)
    return data["seconds"], usage.ru_maxrss / 1024.0, data["outcome"]


def apache_oracle(name, work):
    """apache2 -t on the same file (no dumps: a dump of a 128 MiB value would grow this process, whose memory a
    child started later inherits in its peak RSS)."""
    from lab.config_fuzz import APACHE2, ENV, MinimalRoot
    root = MinimalRoot(os.path.join(work, name + "-apache"), {"site.conf": CASES[name][2]()})
    start = time.perf_counter()
    proc = subprocess.run([APACHE2, "-d", root.root, "-f", root.config_file, "-t"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=ENV, check=False)
    elapsed = time.perf_counter() - start
    output = proc.stdout[-400:].decode("utf-8", "replace").strip()
    return "{0:.3f} s, {1}".format(elapsed, "Syntax OK" if proc.returncode == 0 else "refused: " + output[-120:])


def _cut(text, limit=150):
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit] + "..."


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--only", help="comma-separated case names: " + ", ".join(CASES))
    args = parser.parse_args()
    if args.case:
        return one(args.case, args.work)
    names = args.only.split(",") if args.only else list(CASES)
    rows = ["| crafted input | answer | wall time | peak RSS | `apache2 -t` on the same file | before (issue 24) |",
            "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="bench-crafted-") as work:
        for name in names:
            seconds, peak, outcome = measure(name, work)
            oracle = apache_oracle(name, work) if CASES[name][4] else "-"
            rows.append("| {0} | {1} | {2:.3f} s | {3:.0f} MB | {4} | {5} |".format(
                CASES[name][0], _cut(outcome), seconds, peak, _cut(oracle, 60), CASES[name][3]))
            sys.stderr.write("{0}: {1:.3f} s\n".format(name, seconds))
    write_table(HERE, rows, "Wall time is the reader's or the probe's own (process start and input building not "
                            "counted); peak RSS is the whole process's, input included. Targets: each crafted input "
                            "answered in linear time (seconds, not minutes), the probe within its 3 s deadline, "
                            "never more than a few MiB read from a peer.")


if __name__ == "__main__":
    main()
