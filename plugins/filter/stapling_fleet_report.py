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


def stapling_fleet_report(host_reports, playbook, generated, failed_hosts=None, unreachable_hosts=None,
                          last_results=None, check_mode=False):
    # Imported here: every worker that runs any filter of this collection loads every filter file.
    from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_view import ReportError
    from ansible_collections.ocsp.stapling.plugins.plugin_utils._summary import stapling_fleet_report
    try:
        return stapling_fleet_report(host_reports, playbook, generated, failed_hosts=failed_hosts,
                                     unreachable_hosts=unreachable_hosts, last_results=last_results,
                                     check_mode=check_mode)
    except ReportError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {"stapling_fleet_report": stapling_fleet_report}
