"""Run our modules and playbooks through real ``ansible-playbook`` and read the results back.

Used by the integration tests: ``run_module("ocsp.stapling.apache_info", {...}, check=True)``
returns the module's result dict exactly as a playbook's ``register`` would see it.

Every run is also a check that the collection uses nothing its ansible-core line deprecates: ``run_playbook`` fails
the test (AssertionError) on a ``[DEPRECATION WARNING]`` that names this collection or comes from its plugins, and
on a ``deprecations`` entry in the result of one of our modules. Deprecation warnings are forced on, and from
ansible-core 2.19 on they carry their traceback (``ANSIBLE_DISPLAY_TRACEBACK=deprecated``), so a warning that
ansible-core words in its own name (the ``six`` import in 2.22) still shows the file of ours that caused it.
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
# The managed node's Python (localhost): this venv's, or the one OCSP_TEST_NODE_PYTHON names (scripts/test.sh sets
# the Debian 13 root's /usr/bin/python3 there, with Debian's python3-cryptography and python3-openssl).
NODE_PYTHON = os.environ.get("OCSP_TEST_NODE_PYTHON") or sys.executable
COLLECTION = "ocsp.stapling"
# A deprecation is ours when it names the collection or a file of it as Ansible loads it (a collections path, or a
# module's AnsiballZ payload). Not this checkout's path as such: the venvs live in it too.
OURS = re.compile(r"ocsp\.stapling|ansible_collections/ocsp/stapling/")
# What ends a warning block in ansible-playbook's output: the next message, task or play line.
BLOCK_END = re.compile(r"^(\[(WARNING|ERROR|DEPRECATION WARNING|DEPRECATED)\]|(TASK|PLAY|RUNNING HANDLER|PLAY RECAP) |"
                       r"(ok|changed|fatal|failed|skipping|included|unreachable|ERROR!)[: ])")
DEPRECATION_ENV = {"ANSIBLE_DEPRECATION_WARNINGS": "True", "ANSIBLE_DISPLAY_TRACEBACK": "deprecated"}


def deprecation_blocks(output):
    """Each ``[DEPRECATION WARNING]`` of ansible-playbook's output with the lines that belong to it (its wrapped
    text, and its traceback where ansible-core prints one)."""
    blocks, current = [], None
    for line in output.splitlines():
        if line.startswith("[DEPRECATION WARNING]"):
            if current is not None:
                blocks.append("\n".join(current).strip())
            current = [line]
        elif current is not None:
            if BLOCK_END.match(line):
                blocks.append("\n".join(current).strip())
                current = None
            else:
                current.append(line)
    if current is not None:
        blocks.append("\n".join(current).strip())
    return blocks


def our_deprecations(output, results=()):
    """The deprecation warnings of ours in a run: printed ones naming the collection or one of its files, and those
    our modules returned (``deprecations`` in a result of an ``ocsp.stapling.*`` action)."""
    found = []
    for block in deprecation_blocks(output):
        if OURS.search(block):
            first, *rest = block.splitlines()
            # The warning, and of its traceback the lines that name our files (the whole of it is long).
            found.append("\n".join([first] + [ln for ln in rest if "ansible_collections/ocsp/stapling/" in ln]))
    for r in results:
        deps = (r.get("result") or {}).get("deprecations") or []
        if deps and (str(r.get("action", "")).startswith(COLLECTION + ".") or OURS.search(json.dumps(deps, default=str))):
            found.append("{0} (task {1!r}) returned deprecations: {2}".format(
                r.get("action"), r.get("task"), json.dumps(deps, default=str)))
    return found


class DeprecationOfOurs(AssertionError):
    """A run printed or returned a deprecation warning of this collection."""


def check_deprecations(output, results=()):
    """Raise DeprecationOfOurs when an ansible CLI's output (or its task results) holds a deprecation of ours."""
    ours = our_deprecations(output, results)
    if ours:
        raise DeprecationOfOurs("ansible reported {0} deprecation warning(s) of {1}:\n{2}".format(
            len(ours), COLLECTION, "\n---\n".join(ours)))


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
    env.update(DEPRECATION_ENV)  # after the test's own: no run of ours hides a deprecation
    return env


def localhost_inventory(directory):
    path = os.path.join(directory, "inventory.ini")
    with open(path, "w") as f:
        # Pin the interpreter: discovery can pick a broken python3.x stub on these machines.
        f.write("localhost ansible_connection=local ansible_python_interpreter={0}\n".format(NODE_PYTHON))
    return path


def run_playbook(playbook_text_or_path, inventory=None, extra_args=(), env=None, timeout=600, cwd=None):
    """Run a playbook; return (returncode, results, stdout+stderr). results: list of per-task dicts. Raises
    DeprecationOfOurs when the run printed or returned a deprecation warning of ours (see the module's doc)."""
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
        check_deprecations(proc.stdout, results)
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
