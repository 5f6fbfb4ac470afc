# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper (not part of the collection): append each task's wall time to $OCSP_BENCH_TASK_TIMES (JSON lines)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: task_seconds
type: aggregate
short_description: Each task's wall time, for benchmarks/report/run.py
description:
  - Writes one JSON line per task (name, seconds) to the file named by C(OCSP_BENCH_TASK_TIMES).
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_seconds"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._task, self._start = None, None

    def _close(self):
        path = os.environ.get("OCSP_BENCH_TASK_TIMES")
        if self._task is not None and path:
            with open(path, "a") as f:
                f.write(json.dumps({"task": self._task, "seconds": time.time() - self._start}) + "\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self._task, self._start = task.get_name(), time.time()

    def v2_playbook_on_stats(self, stats):
        self._close()
        self._task = None
