# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: stapling_report_view
short_description: What the fleet report pages show, computed from the JSON summary
version_added: 1.0.0
description:
  - Turns the JSON summary written by the playbooks C(ocsp.stapling.rollout), C(ocsp.stapling.audit) and
    C(ocsp.stapling.verify) (schema in the collection's C(docs/report-schema.md)) into what the templates of the role
    C(ocsp.stapling.stapling_report) render as HTML and Markdown, so that the templates only loop and escape.
  - Per vhost a state (C(verified), C(expiring), C(failing), C(not_stapleable), C(drift), C(pending), C(rolled_back),
    C(removed), C(excluded)), its colour (C(ok), C(warn), C(bad), C(info), C(muted)) and the reason in words; per host
    its status in words and facts; fleet totals (hosts, vhosts, verified, failing, not stapleable, changed, rolled
    back); the vhosts that need attention; the must-staple vhosts; and the geometry of the staple freshness chart
    (per vhost, time since thisUpdate and time to nextUpdate, measured when the staple was verified).
  - A staple is in the danger zone when less than O(danger_fraction) of its validity (nextUpdate - thisUpdate) is
    left, or none. mod_md renews in the last third by default (C(MDStaplingRenewWindow 33%)), so a staple still there
    when verified is not being refreshed as it should.
  - Values are returned as they came from the hosts; the templates escape them (HTML) or pass them through
    C(ocsp.stapling.md_escape) (Markdown).
options:
  _input:
    description:
      - The summary document (a dict), or its JSON text (e.g. C(lookup('ansible.builtin.file', path))).
    type: raw
    required: true
  source:
    description: Where the summary came from (a file name), named in error messages and shown on the page.
    type: str
  danger_fraction:
    description: Share of a staple's validity, counted back from nextUpdate, that is the danger zone.
    type: float
    default: 0.33
  chart_rows:
    description: At most this many vhosts in the freshness chart, those closest to nextUpdate first.
    type: int
    default: 50
  attention_rows:
    description: At most this many rows in the list of what needs attention (the host sections list everything).
    type: int
    default: 100
  open_hosts:
    description: Fleets of up to this many hosts are shown with every host expanded; larger ones collapsed.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: What needs attention in the last rollout, per host and vhost
  ansible.builtin.debug:
    msg: "{{ view.attention | map(attribute='host') | zip(view.attention | map(attribute='vhost')) | list }}"
  vars:
    view: "{{ lookup('ansible.builtin.file', 'ocsp-stapling-reports/latest.json') | ocsp.stapling.stapling_report_view }}"

# The pages themselves: the action ocsp.stapling.stapling_summary (src=) renders them with this view, the page
# autoescaped; ansible.builtin.template would ignore autoescape.
- name: The page and the Markdown of an earlier summary
  ocsp.stapling.stapling_summary:
    src: ocsp-stapling-reports/rollout-20261203T080417Z.json
"""

RETURN = r"""
_value:
  description:
    - C(title), C(playbook), C(generated), C(source), C(totals) (C(hosts), C(vhosts), C(verified), C(expiring),
      C(failing), C(not_stapleable), C(changed), C(rolled_back), and one count per host status and vhost state),
      C(tiles) (the header's totals with label and colour), C(host_statuses), C(attention), C(attention_more),
      C(host_problems) (hosts that failed with no vhost to show; also in C(attention), flagged C(host_only)),
      C(causes) (what needs attention grouped by cause, most frequent first, with counts of vhosts and hosts and an
      example),
      C(must_staple), C(chart), C(hosts) (each with C(rows), one per vhost), C(rows) (every vhost row of the fleet,
      what needs attention first), C(states), C(danger_fraction).
  type: dict
"""

from ansible.errors import AnsibleFilterError


def stapling_report_view(summary, source=None, danger_fraction=0.33, chart_rows=50, attention_rows=100,
                         open_hosts=10):
    # Imported here: every worker that runs any filter of this collection loads every filter file.
    from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_view import ReportError, stapling_report_view
    try:
        return stapling_report_view(summary, source=source, danger_fraction=danger_fraction, chart_rows=chart_rows,
                                    attention_rows=attention_rows, open_hosts=open_hosts)
    except ReportError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {"stapling_report_view": stapling_report_view}
