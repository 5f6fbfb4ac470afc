# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ocsp.stapling.ocsp_staple_metrics (documented in plugins/modules/ocsp_staple_metrics.py): runs on
the controller only, writes the metrics file there."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.ocsp.stapling.plugins.plugin_utils._metrics import exposition, write_atomic

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "summary": {"type": "dict"},
    "src": {"type": "path"},
    "mode": {"type": "raw", "default": "0644"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC,
                                                        mutually_exclusive=[("summary", "src")],
                                                        required_one_of=[("summary", "src")])
        path, summary = args["path"], args["summary"]
        if args["src"]:
            try:
                with open(args["src"], "rb") as f:
                    summary = json.loads(to_text(f.read(), errors="surrogate_or_strict"))
            except (IOError, OSError, ValueError) as exc:
                raise AnsibleActionFail("ocsp_staple_metrics: src {0} is not a readable JSON summary ({1}); give the "
                                        "file ocsp.stapling.verify wrote (verify-latest.json)".format(args["src"], exc))
            if not isinstance(summary, dict):
                summary = {}
        try:
            mode = int(args["mode"], 8) if isinstance(args["mode"], str) else int(args["mode"])
        except (TypeError, ValueError):
            raise AnsibleActionFail("ocsp_staple_metrics: mode must be an octal string such as '0644', got {0!r}".format(
                args["mode"]))
        if not str(summary.get("schema") or "").startswith("ocsp.stapling/report/") \
                or not isinstance(summary.get("hosts"), dict):
            raise AnsibleActionFail("ocsp_staple_metrics: summary must be the JSON summary of ocsp.stapling.verify "
                                    "(schema ocsp.stapling/report/1, with hosts): the file verify-latest.json (src), or "
                                    "its content (summary)")
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise AnsibleActionFail("ocsp_staple_metrics: path {0}: the directory {1} does not exist; create it (for "
                                    "node_exporter: its --collector.textfile.directory)".format(path, directory))
        if not path.endswith(".prom"):
            result.setdefault("warnings", []).append(
                "ocsp_staple_metrics: {0} does not end in .prom: node_exporter's textfile collector reads only "
                "*.prom files".format(path))
        text, count = exposition(summary)
        before = None
        if os.path.isfile(path):
            with open(path, "rb") as f:
                before = to_text(f.read(), errors="surrogate_or_replace")
        result.update(path=path, series=count, changed=before != text)
        if result["changed"] and not self._task.check_mode:
            try:
                write_atomic(path, text, mode)
            except (IOError, OSError) as exc:
                raise AnsibleActionFail("ocsp_staple_metrics: cannot write {0}: {1}".format(path, exc))
        if self._task.diff:
            result["diff"] = {"before": before or "", "after": text, "before_header": path, "after_header": path}
        return result
