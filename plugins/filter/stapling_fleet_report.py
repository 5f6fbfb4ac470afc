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
  - A host without a report (it failed before the role could write one, or was unreachable) is listed with status
    C(no_report) or C(unreachable).
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

SCHEMA = "ocsp.stapling/report/1"
STATUSES = ("ok", "changed", "drift", "failed", "rolled_back", "no_report", "unreachable")


def stapling_fleet_report(host_reports, playbook, generated, failed_hosts=None, unreachable_hosts=None):
    if not isinstance(host_reports, dict):
        raise AnsibleFilterError(
            "stapling_fleet_report: the input must be a dict of inventory host name to host report, e.g. "
            "dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, "
            "'apache_stapling_report')))")
    failed_hosts = list(failed_hosts or [])
    unreachable_hosts = list(unreachable_hosts or [])
    hosts = {}
    totals = dict((s, 0) for s in STATUSES)
    totals.update(hosts=0, vhosts=0, staples_valid=0, drift_hosts=0)
    for name in sorted(host_reports):
        report = host_reports[name]
        if not isinstance(report, dict) or not report:
            status = "unreachable" if name in unreachable_hosts else "no_report"
            report = {"host": name, "status": status, "vhosts": [],
                      "failure": {"task": None, "msg": "unreachable" if status == "unreachable"
                                  else "the host failed before the role could report"}}
        else:
            report = dict(report, host=name)
            if name in failed_hosts and report.get("status") in ("ok", "changed", "drift"):
                report["status"] = "failed"
        hosts[name] = report
        totals["hosts"] += 1
        totals[report["status"]] = totals.get(report["status"], 0) + 1
        totals["vhosts"] += len(report.get("vhosts") or [])
        totals["staples_valid"] += len([v for v in report.get("vhosts") or [] if (v.get("staple") or {}).get("valid")])
        if report.get("drift"):
            totals["drift_hosts"] += 1
    return {"schema": SCHEMA, "playbook": playbook, "generated": generated, "totals": totals, "hosts": hosts}


class FilterModule(object):
    def filters(self):
        return {"stapling_fleet_report": stapling_fleet_report}
