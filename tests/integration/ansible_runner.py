"""Run our modules and playbooks through real ``ansible-playbook`` and read the results back.

Used by the integration tests: ``run_module("ocsp.stapling.apache_info", {...}, check=True)``
returns the module's result dict exactly as a playbook's ``register`` would see it.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import collection_path

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)


def ansible_env(result_file=None, extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collection_path.ensure(),
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "result_file",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    if result_file:
        env["OCSP_TEST_RESULT_FILE"] = result_file
    if extra:
        env.update(extra)
    return env


def localhost_inventory(directory):
    path = os.path.join(directory, "inventory.ini")
    with open(path, "w") as f:
        # Pin the interpreter: discovery can pick a broken python3.x stub on these machines.
        f.write("localhost ansible_connection=local ansible_python_interpreter={0}\n".format(sys.executable))
    return path


def run_playbook(playbook_text_or_path, inventory=None, extra_args=(), env=None, timeout=600, cwd=None):
    """Run a playbook; return (returncode, results, stdout+stderr). results: list of per-task dicts."""
    with tempfile.TemporaryDirectory(prefix="ocsp-it-") as tmp:
        if os.path.exists(playbook_text_or_path) or re.match(r"^[a-z_]+\.[a-z_]+\.[a-z_]+$", playbook_text_or_path):
            playbook = playbook_text_or_path  # a file, or a playbook by FQCN (ocsp.stapling.verify)
        else:
            playbook = os.path.join(tmp, "play.yml")
            with open(playbook, "w") as f:
                f.write(playbook_text_or_path)
        inventory = inventory or localhost_inventory(tmp)
        result_file = os.path.join(tmp, "results.jsonl")
        if "OCSP_STAPLING_REPORT_DIR" not in os.environ and "OCSP_STAPLING_REPORT_DIR" not in (env or {}):
            # The playbooks' JSON summary and report go here unless a test says where (never into the checkout).
            env = dict(env or {}, OCSP_STAPLING_REPORT_DIR=os.path.join(tmp, "reports"))
        proc = subprocess.run(
            [os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook] + list(extra_args),
            env=ansible_env(result_file, env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=timeout, check=False, cwd=cwd,
        )
        results = []
        if os.path.exists(result_file):
            with open(result_file) as f:
                results = [json.loads(line) for line in f if line.strip()]
        return proc.returncode, results, proc.stdout


def run_module(module, args, check=False, diff=False, timeout=600):
    """Run one module task on localhost; return its result dict (``failed`` set when it failed)."""
    play = [{
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{
            "name": "module under test",
            module: args,
            "check_mode": bool(check),
            "diff": bool(diff),
            "ignore_errors": True,
        }],
    }]
    rc, results, output = run_playbook(json.dumps(play), timeout=timeout)
    tasks = [r for r in results if r["task"] == "module under test"]
    if not tasks:
        raise AssertionError("ansible-playbook ran no task (rc={0}):\n{1}".format(rc, output))
    result = tasks[0]["result"]
    result.setdefault("failed", tasks[0]["status"] == "failed")
    result["_output"] = output
    return result
