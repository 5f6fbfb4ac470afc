# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private: not part of the collection's public API.
"""The fleet's JSON summary (docs/report-schema.md) from the hosts' reports, its file names by kind of run, and the
writing of the summary, the page and the Markdown on the controller, once per batch. Shared by the filter
ocsp.stapling.stapling_fleet_report and the action ocsp.stapling.stapling_summary."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import (
    OUTCOMES, STATUS_OF, no_report_cause, text, unreachable_cause)
from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_view import ReportError


SCHEMA = "ocsp.stapling/report/1"
STATUSES = ("ok", "changed", "drift", "failed", "rolled_back", "no_report", "unreachable")


def _lost(name, failed_hosts, unreachable_hosts, last_results):
    """(outcome, cause) of a host without a report."""
    results = [r for r in (last_results or {}).get(name) or [] if isinstance(r, dict)]
    gone = [r for r in results if r.get("unreachable")]
    if name in unreachable_hosts or gone:
        return "unreachable", unreachable_cause(gone[0].get("msg") if gone else None)
    failed = [r for r in results if r.get("failed")]
    if failed:
        return "no_report", no_report_cause(failed[0].get("msg"))
    if name in failed_hosts:
        return "no_report", no_report_cause()
    return "no_report", no_report_cause(ran=False)


def stapling_fleet_report(host_reports, playbook, generated, failed_hosts=None, unreachable_hosts=None,
                          last_results=None, check_mode=False):
    if not isinstance(host_reports, dict):
        raise ReportError(
            "stapling_fleet_report: the input must be a dict of inventory host name to host report, e.g. "
            "dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, "
            "'apache_stapling_report')))")
    failed_hosts = list(failed_hosts or [])
    unreachable_hosts = list(unreachable_hosts or [])
    if last_results is not None and not isinstance(last_results, dict):
        raise ReportError("stapling_fleet_report: last_results must be a dict of host name to a list of "
                          "registered results, got {0!r}".format(type(last_results).__name__))
    hosts = {}
    totals = dict((s, 0) for s in STATUSES)
    totals.update(hosts=0, vhosts=0, staples_valid=0, drift_hosts=0, outcomes=dict((o, 0) for o in OUTCOMES))
    for name in sorted(host_reports):
        report = host_reports[name]
        if not isinstance(report, dict) or not report:
            outcome, cause = _lost(name, failed_hosts, unreachable_hosts, last_results)
            report = {"host": name, "status": STATUS_OF[outcome], "outcome": outcome, "cause": cause,
                      "check_mode": bool(check_mode), "vhosts": [], "hazards": [], "cache_kept": None,
                      "failure": {"task": None, "msg": cause["msg"]}}
        else:
            report = dict(report, host=name)
            if name in failed_hosts and report.get("outcome") in ("ok", "converged", "changed", "drift"):
                # It reported success, then failed in a later task of the play (e.g. the audit's drift gate).
                report["outcome"] = "failed"
                report["cause"] = {"code": "failed_after_report",
                                   "msg": "the host failed in a task after its report{0}".format(
                                       " (it had {0})".format(text(report.get("status"), 50))),
                                   "fix": "see the play's output for the host's failed task"}
                report["status"] = STATUS_OF["failed"]
        hosts[name] = report
        totals["hosts"] += 1
        totals[report["status"]] = totals.get(report["status"], 0) + 1
        if report.get("outcome") in totals["outcomes"]:
            totals["outcomes"][report["outcome"]] += 1
        totals["vhosts"] += len(report.get("vhosts") or [])
        if report.get("outcome") != "rolled_back":  # verified, then undone: not stapled any more
            totals["staples_valid"] += len([v for v in report.get("vhosts") or []
                                            if (v.get("staple") or {}).get("valid")])
        if report.get("drift"):
            totals["drift_hosts"] += 1
    return {"schema": SCHEMA, "playbook": playbook, "generated": generated, "check_mode": bool(check_mode),
            "totals": totals, "hosts": hosts}


# --- which file is which ---------------------------------------------------------------------------------------
PLAYBOOKS = ("rollout", "audit", "verify")
FORMATS = {"html": "html", "markdown": "md"}


def kind_of(playbook, check_mode):
    """The file name's kind: the playbook, with -check for a rollout (or verify) under --check; the audit is a dry run
    by nature."""
    return playbook + ("-check" if check_mode and playbook != "audit" else "")


def latest_of(playbook, check_mode):
    """latest: always the last real rollout; every other kind of run has its own <kind>-latest, so a dry run never
    replaces the record of a real change."""
    if not check_mode and playbook not in ("audit", "verify"):
        return "latest"
    return kind_of(playbook, check_mode) + "-latest"


def stamp(generated):
    """2026-12-03T08:04:17Z -> 20261203T080417Z (the timestamp in a file name)."""
    return str(generated).replace(":", "").replace("-", "")


def dumps(summary):
    """The summary as the file holds it: as ansible.builtin.to_nice_json writes it (indented by 4, keys sorted), and a
    final newline."""
    return json.dumps(summary, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"
