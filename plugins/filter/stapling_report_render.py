# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: stapling_report_render
short_description: The fleet report (HTML page or Markdown) rendered from the JSON summary with a Jinja2 template
version_added: 1.0.0
description:
  - Computes the report's view with C(ocsp.stapling.stapling_report_view) and renders a Jinja2 template file with it
    (the template sees it as C(v)). The role C(ocsp.stapling.stapling_report) renders its templates
    C(report.html.j2) and C(report.md.j2) the same way, in the action M(ocsp.stapling.stapling_summary), which writes
    them itself.
  - The template is rendered by Jinja2 itself, not by Ansible's templating. Templates whose name ends in C(.html.j2),
    C(.htm.j2) or C(.html) are B(autoescaped) (every value from a host is HTML-escaped unless marked safe; Ansible's
    templating ignores C({% autoescape %})), undefined names fail, and a fleet of 1,000 hosts with 5 vhosts each
    renders in about half a second of CPU (through M(ansible.builtin.template), whose templating wraps every value
    access, the same page took many times longer with ansible-core 2.19; see C(benchmarks/report/results.md)).
  - Filters available in the template besides Jinja2's own are C(ocsp.stapling.md_escape), C(ocsp.stapling.md_code)
    and C(ocsp.stapling.duration).
options:
  _input:
    description:
      - The JSON summary written by C(ocsp.stapling.rollout), C(ocsp.stapling.audit) or C(ocsp.stapling.verify), as
        its text (e.g. C(lookup('ansible.builtin.file', path))) or as the document (a dict).
    type: raw
    required: true
  template:
    description:
      - Path of the Jinja2 template file (on the controller), or a list of them to render the same view with each
        (the summary is read and the view computed once); the result is then a list of texts, in the same order.
    type: raw
    required: true
  source:
    description: Where the summary came from (a file name), shown on the page and named in error messages.
    type: str
  danger_fraction:
    description: See C(ocsp.stapling.stapling_report_view).
    type: float
    default: 0.33
  chart_rows:
    description: See C(ocsp.stapling.stapling_report_view).
    type: int
    default: 50
  attention_rows:
    description: See C(ocsp.stapling.stapling_report_view).
    type: int
    default: 100
  open_hosts:
    description: See C(ocsp.stapling.stapling_report_view).
    type: int
    default: 10
  markdown_rows:
    description: At most this many vhost rows in the Markdown table (the template reads it as C(v.markdown_rows)).
    type: int
    default: 50
"""

EXAMPLES = r"""
- name: The fleet report page next to the summary
  ansible.builtin.copy:
    content: >-
      {{ lookup('ansible.builtin.file', '/var/tmp/ocsp-stapling/latest.json')
         | ocsp.stapling.stapling_report_render(template='/srv/templates/report.html.j2') }}
    dest: /var/tmp/ocsp-stapling/latest.html
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: The rendered text (a list of texts for a list of templates).
  type: raw
"""

from ansible.errors import AnsibleFilterError
from ansible.utils.unsafe_proxy import wrap_var


def stapling_report_render(summary, template, source=None, danger_fraction=0.33, chart_rows=50, attention_rows=100,
                           open_hosts=10, markdown_rows=50):
    # Imported here: every worker that runs any filter of this collection loads every filter file.
    from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_render import stapling_report_render
    from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_view import ReportError
    try:
        out = stapling_report_render(summary, template, source=source, danger_fraction=danger_fraction,
                                     chart_rows=chart_rows, attention_rows=attention_rows, open_hosts=open_hosts,
                                     markdown_rows=markdown_rows)
    except ReportError as e:
        raise AnsibleFilterError(str(e))
    # Marked unsafe: text from hosts ("{{ ... }}" in a vhost name) is never templated again by Ansible (2.16 would
    # template a fact holding it when a later task reads it; 2.19 trusts no filter output as a template anyway).
    return [wrap_var(text) for text in out] if isinstance(out, list) else wrap_var(out)


class FilterModule(object):
    def filters(self):
        return {"stapling_report_render": stapling_report_render}
