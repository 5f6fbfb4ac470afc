#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ocsp_staple_metrics
short_description: Write a staple verification run as Prometheus metrics for node_exporter's textfile collector
version_added: 1.1.0
description:
  - Turns the JSON summary of a verification run (the playbook C(ocsp.stapling.verify) writes it) into Prometheus
    text exposition and writes it to O(path) on the controller, atomically, for node_exporter's textfile collector.
  - "Metric names are those of the ssl_exporter project for stapled OCSP responses, all gauges: C(ssl_ocsp_response_stapled)
    (1 or 0), C(ssl_ocsp_response_status) (0 good, 1 revoked, 2 unknown), C(ssl_ocsp_response_this_update),
    C(ssl_ocsp_response_next_update), C(ssl_ocsp_response_produced_at) (Unix time), each labelled C(host) (inventory
    name), C(vhost) (SNI), C(address) (where the handshake went) and C(serial) (the served certificate's, hex); one
    series per verified vhost (the status and the times only when a response was stapled). Besides them:
    C(ocsp_stapling_staple_valid) (our verdict: signature, certificate ID, time window, status good) per vhost,
    C(ocsp_stapling_verify_success) per host (1 when the host's verification succeeded), and
    C(ocsp_stapling_verify_last_run_timestamp_seconds) (the run's start)."
  - The file is written next to its final name under a temporary name that does not end in C(.prom), made with
    C(mkstemp), synced and renamed, so node_exporter reads the old file or the new one, never a part.
  - This is an action that runs on the controller only; it needs no connection to a host.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._attributes
attributes:
  check_mode:
    support: full
    details:
      - Says whether the file would change; writes nothing.
  diff_mode:
    support: full
  idempotent:
    support: none
    details:
      - Each run writes its own start time and the staples' times.
options:
  path:
    description:
      - The metrics file on the controller, e.g. C(/var/lib/prometheus/node-exporter/ocsp_stapling.prom) (node_exporter's
        C(--collector.textfile.directory)). Its directory must exist.
    type: path
    required: true
  summary:
    description: The JSON summary of the run (C(ocsp.stapling/report/1)), as a dict. Mutually exclusive with O(src).
    type: dict
  src:
    description:
      - The JSON summary of the run as a file on the controller (RV(ocsp.stapling.stapling_summary#module:path) of
        M(ocsp.stapling.stapling_summary), or C(verify-latest.json)). Mutually exclusive with O(summary).
    type: path
  mode:
    description: Permissions of the file, octal.
    type: raw
    default: "0644"
notes:
  - The playbook C(ocsp.stapling.verify) calls it when C(ocsp_stapling_verify_metrics_file) is set.
"""

EXAMPLES = r"""
- name: Metrics of the verify run just written
  ocsp.stapling.ocsp_staple_metrics:
    path: /var/lib/prometheus/node-exporter/ocsp_stapling.prom
    summary: "{{ lookup('ansible.builtin.file', 'ocsp-stapling-reports/verify-latest.json') | from_json }}"
  run_once: true
"""

RETURN = r"""
path:
  description: The file written.
  type: str
  returned: always
  sample: /var/lib/prometheus/node-exporter/ocsp_stapling.prom
series:
  description: Number of series in the file.
  type: int
  returned: always
  sample: 17
"""
