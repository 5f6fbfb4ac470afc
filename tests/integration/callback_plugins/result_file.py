# Test-only callback: writes every task result as one JSON line to $OCSP_TEST_RESULT_FILE, with the time the task
# started and the time of the result (a profile per task and per host can be computed from them).
from __future__ import annotations

DOCUMENTATION = """
name: result_file
type: aggregate
short_description: write task results to a JSON-lines file (tests only)
description:
  - Each task result becomes one line of JSON in the file named by E(OCSP_TEST_RESULT_FILE), with the action, whether
    it was delegated, the time the task started (C(task_started)) and the time of the result (C(time)), as Unix
    timestamps.
requirements: []
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "result_file"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._task_started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.time()

    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = time.time()

    def _write(self, result, status):
        path = os.environ.get("OCSP_TEST_RESULT_FILE")
        if not path:
            return
        data = dict(result._result)
        line = {
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "status": status,
            "result": data,
            "action": result._task.action,
            "delegated": bool(result._task.delegate_to),
            "task_started": self._task_started.get(result._task._uuid),
            "time": time.time(),
        }
        with open(path, "a") as f:
            f.write(json.dumps(line, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._write(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")
