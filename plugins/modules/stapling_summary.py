#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: stapling_summary
short_description: Write the fleet's JSON summary and its report (HTML page, Markdown) on the controller
version_added: 1.1.0
description:
  - From the hosts' reports (the fact C(apache_stapling_report) the role C(ocsp.stapling.apache_stapling) and the
    playbook C(ocsp.stapling.verify) set), builds the fleet's JSON summary (the collection's C(docs/report-schema.md),
    each host's one C(outcome) as its report decided it) and writes it in O(dir) as C(<kind>-<timestamp>.json) and
    under its C(latest) name, then the page (C(.html)) and the Markdown (C(.md)) beside it under both names.
  - Which file is which - C(<kind>) is the playbook (V(rollout), V(audit), V(verify)) with C(-check) for a rollout or
    a verification under C(--check); C(latest.json) is always the last real rollout's, every other kind of run writes
    C(<kind>-latest.json), so a dry run never replaces the record of a real change.
  - With O(src), renders the page and the Markdown of an earlier summary beside it instead (the role
    C(ocsp.stapling.stapling_report) and the playbook C(ocsp.stapling.report) do).
  - The page is rendered by Jinja2 itself with autoescape, the Markdown with its own escaping, from one view of the
    summary (the filters P(ocsp.stapling.stapling_report_view#filter) and P(ocsp.stapling.stapling_report_render#filter)
    are the same code); each file is written atomically (a temporary file in the same directory, renamed), so a
    reader sees the old file or the new one. It prints where the summary and the report are.
  - An action that runs on the controller only; it needs no connection to a host. Run it once per batch
    (C(run_once)); the role does, as the hosts of each batch finish, so an aborted run still leaves a current file.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._attributes
attributes:
  check_mode:
    support: full
    details:
      - Changes no host. The summary of a dry run is written all the same, under the dry run's own names (C(-check),
        C(audit)), as the record of that run, on the controller.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Each run writes its own timestamped files.
options:
  reports:
    description:
      - Inventory name to that host's report (C(apache_stapling_report)); V({}) or V(null) for a host without one,
        listed with outcome C(no_report) or C(unreachable) and its cause (see O(last_results)).
      - Mutually exclusive with O(src).
    type: dict
  src:
    description: An earlier JSON summary to render the page and the Markdown of, beside it. Mutually exclusive with O(reports).
    type: path
  playbook:
    description: The kind of run (C(rollout), C(audit), C(verify)), recorded in the summary and naming its files.
    type: str
    choices: [rollout, audit, verify]
    default: rollout
  generated:
    description: When the run started, ISO 8601 UTC (C(2026-12-03T08:04:17Z)); the timestamp of the file names. Default now.
    type: str
  check_mode:
    description: The run was a dry run (C(--check), or the audit). Default the task's own check mode.
    type: bool
  failed_hosts:
    description: Hosts that failed the play (a failed host whose report says C(ok) is marked C(failed)).
    type: list
    elements: str
    default: []
  unreachable_hosts:
    description: Hosts that were unreachable.
    type: list
    elements: str
    default: []
  last_results:
    description:
      - For hosts without a report, the results the play registered for them; one that says C(unreachable) makes the
        host C(unreachable), one that failed gives the message of its C(no_report).
    type: dict
  dir:
    description:
      - The report directory on the controller, made if missing. A relative path is taken from the directory
        C(ansible-playbook) runs in (never the playbook's own).
    type: path
    default: ocsp-stapling-reports
  names:
    description: With O(src), the file names to write beside it, without extension. Default the name of O(src) without C(.json).
    type: list
    elements: str
  formats:
    description: V(html) writes the page, V(markdown) the Markdown; V([]) writes the JSON summary only.
    type: list
    elements: str
    choices: [html, markdown]
    default: [html, markdown]
  html_template:
    description:
      - A Jinja2 template of your own for the page (autoescaped when its name ends in C(.html.j2)); it sees the view of
        P(ocsp.stapling.stapling_report_view#filter) as C(v). Default the role C(ocsp.stapling.stapling_report)'s
        C(templates/report.html.j2).
    type: path
  markdown_template:
    description: A Jinja2 template of your own for the Markdown. Default the role's C(templates/report.md.j2).
    type: path
  danger_fraction:
    description: The last share of a staple's validity that is its danger zone.
    type: float
    default: 0.33
  chart_rows:
    description: At most this many vhosts in the freshness chart, those closest to nextUpdate first.
    type: int
    default: 50
  attention_rows:
    description: At most this many rows in the page's table of what needs attention.
    type: int
    default: 100
  markdown_rows:
    description: At most this many vhost rows in the Markdown table.
    type: int
    default: 50
  open_hosts:
    description: Fleets of up to this many hosts are shown with every host expanded; larger ones collapsed.
    type: int
    default: 10
seealso:
  - module: ocsp.stapling.ocsp_staple_metrics
"""

EXAMPLES = r"""
- name: The fleet summary and its report, once per batch
  ocsp.stapling.stapling_summary:
    reports: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
                 | map(attribute='apache_stapling_report', default={}))) }}"
    playbook: rollout
    dir: /srv/ops/ocsp-stapling-reports
  run_once: true
  register: summary

- name: Prometheus metrics of a verification run, from the summary just written
  ocsp.stapling.ocsp_staple_metrics:
    path: /var/lib/prometheus/node-exporter/ocsp_stapling.prom
    src: "{{ summary.path }}"
  run_once: true

- name: The report of an earlier summary, again
  ocsp.stapling.stapling_summary:
    src: /srv/ops/ocsp-stapling-reports/rollout-20261203T080417Z.json
    formats: [markdown]
"""

RETURN = r"""
path:
  description: The run's own JSON summary (C(<kind>-<timestamp>.json)), or O(src).
  returned: always
  type: str
  sample: /srv/ops/ocsp-stapling-reports/rollout-20261203T080417Z.json
latest:
  description: The summary under its latest name (C(latest.json), C(audit-latest.json)...).
  returned: with O(reports)
  type: str
  sample: /srv/ops/ocsp-stapling-reports/latest.json
files:
  description: Every file written.
  returned: always
  type: list
  elements: str
  sample: [/srv/ops/ocsp-stapling-reports/rollout-20261203T080417Z.json, /srv/ops/ocsp-stapling-reports/latest.json]
reports:
  description: The page and the Markdown by format (under the run's own name).
  returned: always
  type: dict
  sample: {"html": "/srv/ops/ocsp-stapling-reports/rollout-20261203T080417Z.html",
           "markdown": "/srv/ops/ocsp-stapling-reports/rollout-20261203T080417Z.md"}
totals:
  description: The summary's totals (C(docs/report-schema.md)).
  returned: with O(reports)
  type: dict
  sample: {"hosts": 2, "vhosts": 8, "staples_valid": 6, "outcomes": {"changed": 1, "converged": 1}}
"""
