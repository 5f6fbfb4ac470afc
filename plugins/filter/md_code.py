# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: md_code
short_description: A name for one cell of a Markdown table, shown literally as code (never a link)
version_added: 1.1.0
description:
  - Puts any text (a host or vhost name, a path) in a GitHub-flavoured Markdown code span, shown exactly as it is,
    never interpreted as Markdown or HTML, and never turned into a link (GitHub links C(www.evil-login.example) in plain
    text by itself). The fence is longer than any run of backticks inside; C(|) is escaped so that it does not split
    the table cell; line breaks become spaces; V(null) or an empty text gives an empty cell.
  - Long text is cut to O(max_length) characters with an ellipsis.
  - Used by the Markdown report of the role C(ocsp.stapling.stapling_report).
options:
  _input:
    description: The text.
    type: raw
    required: true
  max_length:
    description: Cut the text to this many characters (with an ellipsis); V(0) keeps it whole.
    type: int
    default: 255
"""

EXAMPLES = r"""
- name: One table row
  ansible.builtin.debug:
    msg: "| {{ inventory_hostname | ocsp.stapling.md_code }} | {{ vhost_name | ocsp.stapling.md_code(max_length=100) }} |"
"""

RETURN = r"""
_value:
  description: The code span (empty for no text).
  type: str
"""

from ansible_collections.ocsp.stapling.plugins.filter.md_escape import _text, code_span


def md_code(value, max_length=255):
    return code_span(_text(value, max_length))


class FilterModule(object):
    def filters(self):
        return {"md_code": md_code}
