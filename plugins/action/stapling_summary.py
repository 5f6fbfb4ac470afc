# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ocsp.stapling.stapling_summary (documented in plugins/modules/stapling_summary.py): runs on the
controller only. From the hosts' reports it builds the fleet's JSON summary and writes it, the page and the Markdown
beside it, itself (no module execution, no variable holding a page); or it renders the page and the Markdown of an
earlier summary (src)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.ocsp.stapling.plugins.plugin_utils._metrics import write_atomic
from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_render import stapling_report_render
from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_view import ReportError
from ansible_collections.ocsp.stapling.plugins.plugin_utils._summary import (
    FORMATS, PLAYBOOKS, dumps, kind_of, latest_of, stamp, stapling_fleet_report)

display = Display()

# The role ocsp.stapling.stapling_report's templates, in this collection.
TEMPLATES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles",
                                          "stapling_report", "templates"))
DEFAULT_TEMPLATES = {"html": os.path.join(TEMPLATES, "report.html.j2"),
                     "markdown": os.path.join(TEMPLATES, "report.md.j2")}

ARGUMENT_SPEC = {
    "reports": {"type": "dict"},
    "src": {"type": "path"},
    "playbook": {"type": "str", "default": "rollout", "choices": list(PLAYBOOKS)},
    "generated": {"type": "str"},
    "check_mode": {"type": "bool"},
    "failed_hosts": {"type": "list", "elements": "str", "default": []},
    "unreachable_hosts": {"type": "list", "elements": "str", "default": []},
    "last_results": {"type": "dict"},
    "dir": {"type": "path", "default": "ocsp-stapling-reports"},
    "names": {"type": "list", "elements": "str"},
    "formats": {"type": "list", "elements": "str", "default": ["html", "markdown"], "choices": list(FORMATS)},
    "html_template": {"type": "path"},
    "markdown_template": {"type": "path"},
    "danger_fraction": {"type": "float", "default": 0.33},
    "chart_rows": {"type": "int", "default": 50},
    "attention_rows": {"type": "int", "default": 100},
    "markdown_rows": {"type": "int", "default": 50},
    "open_hosts": {"type": "int", "default": 10},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC,
                                                        mutually_exclusive=[("reports", "src")],
                                                        required_one_of=[("reports", "src")])
        try:
            if args["src"]:
                out = self._render_earlier(args)
            else:
                out = self._summarize(args)
        except ReportError as e:
            raise AnsibleActionFail("stapling_summary: {0}".format(e))
        except (IOError, OSError) as e:
            raise AnsibleActionFail("stapling_summary: cannot write the report: {0}".format(e))
        result.update(out, changed=False)  # a report on the controller, not a change to a host
        return result

    # --- the run's summary -----------------------------------------------------------------------------------
    def _summarize(self, args):
        check_mode = self._task.check_mode if args["check_mode"] is None else args["check_mode"]
        generated = args["generated"] or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Relative to where ansible-playbook runs (a module on the local connection would take it from the
        # playbook's directory, inside the installed collection).
        directory = os.path.realpath(args["dir"])
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        summary = stapling_fleet_report(args["reports"], args["playbook"], generated,
                                        failed_hosts=args["failed_hosts"], unreachable_hosts=args["unreachable_hosts"],
                                        last_results=args["last_results"], check_mode=bool(check_mode))
        run_name = "{0}-{1}".format(kind_of(args["playbook"], check_mode), stamp(summary["generated"]))
        latest = latest_of(args["playbook"], check_mode)
        text = dumps(summary)
        path = os.path.join(directory, run_name + ".json")
        files = [path, os.path.join(directory, latest + ".json")]
        for name in files:
            write_atomic(name, text)
        outcomes = ", ".join("{0}={1}".format(k, v) for k, v in summary["totals"]["outcomes"].items() if v)
        display.display("{0}: {1} (vhosts={2}, staples valid={3})".format(
            files[1], outcomes, summary["totals"]["vhosts"], summary["totals"]["staples_valid"]))
        pages = self._render(summary, path, [run_name, latest], args)
        return {"path": path, "latest": files[1], "files": files + list(pages["files"]),
                "reports": pages["reports"], "totals": summary["totals"]}

    # --- an earlier summary ----------------------------------------------------------------------------------
    def _render_earlier(self, args):
        src = os.path.realpath(args["src"])
        if not os.path.isfile(src):
            raise AnsibleActionFail(
                "stapling_summary: src {0} is not a file. Run ocsp.stapling.rollout, audit or verify first (each "
                "writes <report_dir>/latest.json or <kind>-latest.json), or give a JSON summary one of them "
                "wrote.".format(src))
        with open(src, "rb") as f:
            summary = to_text(f.read(), errors="surrogate_or_replace")
        names = args["names"] or [os.path.basename(src)[:-len(".json")] if src.endswith(".json")
                                  else os.path.basename(src)]
        pages = self._render(summary, src, names, args)
        return {"path": src, "files": pages["files"], "reports": pages["reports"]}

    def _render(self, summary, source, names, args):
        """The page and the Markdown, rendered once (one view for both) and written under every name."""
        formats = list(dict.fromkeys(args["formats"] or []))
        if not formats:
            return {"files": [], "reports": {}}
        templates = [args[fmt + "_template"] or DEFAULT_TEMPLATES[fmt] for fmt in formats]
        texts = stapling_report_render(summary, template=templates, source=source,
                                       danger_fraction=args["danger_fraction"], chart_rows=args["chart_rows"],
                                       attention_rows=args["attention_rows"], open_hosts=args["open_hosts"],
                                       markdown_rows=args["markdown_rows"])
        directory = os.path.dirname(source)
        files, reports = [], {}
        for fmt, content in zip(formats, texts):
            for i, name in enumerate(names):
                path = os.path.join(directory, "{0}.{1}".format(name, FORMATS[fmt]))
                write_atomic(path, content)
                files.append(path)
                if i == 0:
                    reports[fmt] = path
        display.display("  ".join("{0} report: {1}".format("HTML" if fmt == "html" else "Markdown", reports[fmt])
                                  for fmt in formats))
        return {"files": files, "reports": reports}
