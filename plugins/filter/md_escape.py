# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: md_escape
short_description: Text for one cell of a Markdown table, shown as text
version_added: 1.0.0
description:
  - Makes any text (a vhost name, a message from a host) safe to put in a cell of a GitHub-flavoured Markdown table.
    What Markdown or HTML would interpret is backslash-escaped (CommonMark renders a backslash-escaped ASCII
    punctuation character as itself), so C(<script>) shows as text and C(|) does not split the cell; line breaks
    become spaces; V(null) becomes an empty cell.
  - What GitHub would turn into a link by itself (C(www.) names, C(http://), C(https://), C(ftp://) URLs, e-mail
    addresses) is shown as a code span instead, never as a link (C(ocsp.stapling.md_code) for whole names).
  - Used by the Markdown report of the role C(ocsp.stapling.stapling_report).
options:
  _input:
    description: The text.
    type: raw
    required: true
  max_length:
    description: Cut the text to this many characters (with an ellipsis); V(0) keeps it whole.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: One table row
  ansible.builtin.debug:
    msg: "| {{ vhost_name | ocsp.stapling.md_escape }} | {{ reason | ocsp.stapling.md_escape(max_length=200) }} |"
"""

RETURN = r"""
_value:
  description: The escaped text.
  type: str
"""

import re


# Characters with a meaning inside a table cell: emphasis, code, links and images (only after "[", escaped, so "(" and
# "!" need nothing), HTML and entities, strikethrough, the cell separator. Line-start syntax (#, -, +, 1.) cannot
# occur inside a cell.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
_SPACE = re.compile(r"\s+")
_BACKTICKS = re.compile(r"`+")
# What the GFM autolink extension links without any markup: www. names, http(s)/ftp URLs, e-mail addresses.
_AUTOLINK = re.compile(r"(?i)(?:\b(?:https?://|ftp://|www\.)[^\s]*|[a-z0-9._+-]+@[a-z0-9_-]+(?:\.[a-z0-9_-]+)+)")


def _text(value, max_length):
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _SPACE.sub(" ", text).strip()
    if max_length and len(text) > int(max_length):
        text = text[:max(1, int(max_length) - 1)].rstrip() + u"\u2026"
    return text


def code_span(text):
    """``text`` (one line) as a GFM code span for a table cell: literal, never a link or markup. The fence is one
    backtick longer than the longest run inside; ``|`` is escaped (GFM's tables honour ``\\|`` inside code)."""
    if not text:
        return ""
    runs = [len(m) for m in _BACKTICKS.findall(text)]
    fence = "`" * ((max(runs) if runs else 0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return "{0}{1}{2}{1}{0}".format(fence, pad, text.replace("|", "\\|"))


def md_escape(value, max_length=0):
    text = _text(value, max_length)
    out, end = [], 0
    for m in _AUTOLINK.finditer(text):
        out.append(_SPECIAL.sub(r"\\\1", text[end:m.start()]))
        out.append(code_span(m.group(0)))
        end = m.end()
    out.append(_SPECIAL.sub(r"\\\1", text[end:]))
    return "".join(out)


class FilterModule(object):
    def filters(self):
        return {"md_escape": md_escape}
