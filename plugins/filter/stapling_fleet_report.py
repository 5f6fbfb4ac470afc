# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: stapling_fleet_report
short_description: The fleet's JSON summary from the hosts' stapling reports
version_added: 1.0.0
description:
  - Puts the per-host reports of C(ocsp.stapling.stapling_host_report) (the fact C(apache_stapling_report) the role
    C(ocsp.stapling.apache_stapling) sets) together into the document described in the collection's
    C(docs/report-schema.md), with totals. The playbooks C(ocsp.stapling.rollout), C(ocsp.stapling.audit) and
    C(ocsp.stapling.verify) write it as C(<report_dir>/<playbook>-<timestamp>.json) and C(latest.json).
  - A host without a report (it failed before the role could write one, was unreachable, or was not run because the
    run stopped before its batch) is listed with outcome C(no_report) or C(unreachable), with its cause.
  - The totals count hosts per C(outcome) (and per C(status), the older field derived from it).
options:
  _input:
    description: Inventory host name to host report (V(null) for a host without one).
    type: dict
    required: true
  playbook:
    description: Name of the playbook (C(rollout), C(audit), C(verify)).
    type: str
    required: true
  generated:
    description: When the report was made, ISO 8601 UTC.
    type: str
    required: true
  failed_hosts:
    description: Hosts that failed the play (a failed host whose report says C(ok) is marked C(failed)).
    type: list
    elements: str
  unreachable_hosts:
    description: Hosts that were unreachable.
    type: list
    elements: str
  last_results:
    description:
      - For hosts without a report, the results the play registered for them (the role's module results); one that
        says C(unreachable) makes the host C(unreachable), one that failed gives the message of a C(no_report).
    type: dict
    version_added: 1.1.0
  check_mode:
    description: The run was a dry run (C(--check), or the audit); the document says so.
    type: bool
    default: false
    version_added: 1.1.0
"""

EXAMPLES = r"""
- name: The fleet summary on the controller
  ansible.builtin.copy:
    content: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'apache_stapling_report')))
         | ocsp.stapling.stapling_fleet_report('rollout', now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ'))
         | to_nice_json }}
    dest: /var/tmp/ocsp-stapling/latest.json
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The summary document (C(schema), C(playbook), C(generated), C(totals), C(hosts)); see C(docs/report-schema.md).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import (
    OUTCOMES, STATUS_OF, no_report_cause, text, unreachable_cause)

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
        raise AnsibleFilterError(
            "stapling_fleet_report: the input must be a dict of inventory host name to host report, e.g. "
            "dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, "
            "'apache_stapling_report')))")
    failed_hosts = list(failed_hosts or [])
    unreachable_hosts = list(unreachable_hosts or [])
    if last_results is not None and not isinstance(last_results, dict):
        raise AnsibleFilterError("stapling_fleet_report: last_results must be a dict of host name to a list of "
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


class FilterModule(object):
    def filters(self):
        return {"stapling_fleet_report": stapling_fleet_report}
