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
from lab import STAPLING_GLOBAL, ApacheSandbox, PKI  # noqa: E402
from lab.procs import free_port  # noqa: E402


def build_vhost_tree(work, vhosts, files, stapling=True):
    """A sandboxed Debian Apache tree with `vhosts` TLS vhosts spread over `files` files in sites-enabled, each with
    its own name on one of 10 ports, one real certificate, key and chain (Apache opens none of them for -t). With
    `stapling` the global stapling configuration and `SSLUseStapling on` in every vhost; without, no stapling at all
    (the tree a first rollout finds)."""
    pki = PKI.create(os.path.join(work, "pki"), "http://ocsp.bench.test/")
    leaf = pki.certs["good"]
    sandbox = ApacheSandbox(work)
    if stapling:
        sandbox.set_global(STAPLING_GLOBAL)
    ports = [free_port() for _i in range(10)]
    sandbox.ports.update(ports)
    sandbox._write_ports()
    per_file = vhosts // files
    for f in range(files):
        chunk = []
        for i in range(f * per_file, (f + 1) * per_file):
            chunk.append("<VirtualHost 127.0.0.1:{port}>\n  ServerName v{i}.bench.test\n  ServerAlias www.v{i}.bench.test\n"
                         "  SSLEngine on\n  SSLCertificateFile {cert}\n  SSLCertificateKeyFile {key}\n"
                         "  SSLCertificateChainFile {chain}\n{use}</VirtualHost>\n".format(
                             port=ports[i % 10], i=i, cert=leaf.cert_path, key=leaf.key_path, chain=leaf.chain_path,
                             use="  SSLUseStapling on\n" if stapling else ""))
        sandbox.write_conf("sites-enabled/bench{0:03d}.conf".format(f), "".join(chunk))
    return sandbox


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
