# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: stapling_targets
short_description: Staple verification targets from Apache facts
version_added: 1.0.0
description:
  - From the result of M(ocsp.stapling.apache_info), the C({host, port, sni}) targets of M(ocsp.stapling.ocsp_staple_info)
    for every TLS vhost with stapling in force (mod_ssl C(SSLUseStapling on), own or inherited), one per address.
  - Vhosts on a wildcard address (C(*), C(_default_)) are checked on O(check_host); the SNI is the ServerName (else
    the first ServerAlias, else the address).
  - The playbook C(ocsp.stapling.verify) uses it when no targets are given.
options:
  _input:
    description: The registered result of M(ocsp.stapling.apache_info).
    type: dict
    required: true
  check_host:
    description: Address to connect to for vhosts on a wildcard address (the checks run on the web server itself).
    type: str
    default: 127.0.0.1
  all_tls:
    description: Every TLS vhost, not only those with stapling in force.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Verify every vhost that staples
  ocsp.stapling.ocsp_staple_info:
    targets: "{{ apache_facts | ocsp.stapling.stapling_targets }}"
"""

RETURN = r"""
_value:
  description: List of C({host, port, sni}).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.filter.stapling_plan import _check_targets


def stapling_targets(apache_info, check_host="127.0.0.1", all_tls=False):
    if not isinstance(apache_info, dict) or not isinstance(apache_info.get("vhosts"), list):
        raise AnsibleFilterError("stapling_targets: the input must be the registered result of "
                                 "ocsp.stapling.apache_info (a dict with 'vhosts')")
    out = []
    for vhost in apache_info["vhosts"]:
        if not vhost.get("tls"):
            continue
        if not all_tls and not (vhost.get("stapling") or {}).get("enabled"):
            continue
        for target in _check_targets(vhost, check_host):
            if target not in out:
                out.append(target)
    return out


class FilterModule(object):
    def filters(self):
        return {"stapling_targets": stapling_targets}
