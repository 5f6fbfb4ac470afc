# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private: not part of the collection's public API.
"""The fleet report's texts (the HTML page, the Markdown) rendered by Jinja2 itself from the view of _report_view: the page
with Jinja2's autoescape, the Markdown through md_code and md_escape; one view for every template. Shared by the filter
ocsp.stapling.stapling_report_render and the action ocsp.stapling.stapling_summary."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.ocsp.stapling.plugins.filter.md_code import md_code
from ansible_collections.ocsp.stapling.plugins.filter.md_escape import md_escape
from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_view import ReportError, duration, stapling_report_view

try:
    import jinja2
except ImportError:  # pragma: no cover - ansible-core requires Jinja2
    jinja2 = None

_ENVIRONMENTS = {}


def _autoescape(name):
    name = (name or "").lower()
    return name.endswith((".html.j2", ".htm.j2", ".html", ".htm"))


def _environment(directory):
    env = _ENVIRONMENTS.get(directory)
    if env is None:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), autoescape=_autoescape,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
        env.filters["ocsp.stapling.md_escape"] = md_escape
        env.filters["ocsp.stapling.md_code"] = md_code
        env.filters["ocsp.stapling.duration"] = duration
        _ENVIRONMENTS[directory] = env
    return env


def _template(env_path):
    path = os.path.abspath(to_text(env_path or ""))
    if not env_path or not os.path.isfile(path):
        raise ReportError("stapling_report_render: template {0!r} is not a file; give the path of a Jinja2 "
                          "template (the role ocsp.stapling.stapling_report ships report.html.j2 and "
                          "report.md.j2)".format(env_path))
    try:
        return path, _environment(os.path.dirname(path)).get_template(os.path.basename(path))
    except jinja2.TemplateError as e:
        raise ReportError("stapling_report_render: template {0}{1}: {2}".format(
            path, " line {0}".format(e.lineno) if getattr(e, "lineno", None) else "", e))


def stapling_report_render(summary, template, source=None, danger_fraction=0.33, chart_rows=50, attention_rows=100,
                           open_hosts=10, markdown_rows=50):
    if jinja2 is None:  # pragma: no cover
        raise ReportError("stapling_report_render: Jinja2 is not importable on the controller")
    several = isinstance(template, (list, tuple))
    templates = [_template(t) for t in (template if several else [template])]
    view = stapling_report_view(summary, source=source, danger_fraction=danger_fraction, chart_rows=chart_rows,
                                attention_rows=attention_rows, open_hosts=open_hosts)
    try:
        view["markdown_rows"] = int(markdown_rows)
    except (TypeError, ValueError):
        raise ReportError("stapling_report_render: markdown_rows must be a number, got {0!r}".format(markdown_rows))
    out = []
    for path, tmpl in templates:
        try:
            out.append(tmpl.render(v=view))
        except jinja2.TemplateError as e:
            raise ReportError("stapling_report_render: template {0}{1}: {2}".format(
                path, " line {0}".format(e.lineno) if getattr(e, "lineno", None) else "", e))
    return out if several else out[0]
