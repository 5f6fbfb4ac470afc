# Test-only callback: injects a fault into a fleet at a chosen point of a playbook run.
from __future__ import annotations

DOCUMENTATION = """
name: fleet_fault
type: aggregate
short_description: run a fault command when a task starts (fleet tests only)
description:
  - >-
    E(OCSP_FLEET_FAULT) is a JSON list of faults, each an object with the keys task (NAME), occurrence (N), argv and
    env. When the task whose name ends with NAME starts for the N-th time (with C(serial), once per batch), the
    command runs to completion before any host is given the task, so the fault is in place exactly then. Each fault
    runs once per playbook run.
requirements: []
"""

import json
import os
import subprocess

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleet_fault"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        spec = os.environ.get("OCSP_FLEET_FAULT")
        self._faults = [dict(f, seen=0, done=False) for f in json.loads(spec)] if spec else []

    def v2_playbook_on_task_start(self, task, is_conditional):
        for fault in self._faults:
            if fault["done"] or not task.get_name().endswith(fault["task"]):
                continue
            fault["seen"] += 1
            if fault["seen"] != int(fault.get("occurrence", 1)):
                continue
            fault["done"] = True
            env = dict(os.environ)
            env.update(fault.get("env") or {})
            proc = subprocess.run(fault["argv"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True, check=False)
            self._display.display("fleet_fault: {0} -> exit {1} {2}".format(
                " ".join(fault["argv"][-3:]), proc.returncode, proc.stdout.strip()))
