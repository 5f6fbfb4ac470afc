# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: egress_rollback_endpoints
short_description: The egress endpoints that existed before a run of ocsp_egress
version_added: 1.0.0
description:
  - From the registered result of M(ocsp.stapling.ocsp_egress), the endpoints (C(host) = address, C(port)) of every
    rule of ours that was there before that run (its C(rules) minus the ones it C(added)). Given back to
    M(ocsp.stapling.ocsp_egress) with O(ocsp.stapling.ocsp_egress#module:purge=true), they remove exactly the rules
    that run added (the rollback of the role C(ocsp.stapling.apache_stapling)).
options:
  _input:
    description: The registered result of M(ocsp.stapling.ocsp_egress).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Remove the egress rules the failed run added
  ocsp.stapling.ocsp_egress:
    endpoints: "{{ egress_result | ocsp.stapling.egress_rollback_endpoints }}"
    purge: true
"""

RETURN = r"""
_value:
  description: List of C({host, port}).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.base import Rule


def egress_rollback_endpoints(egress_result):
    if not isinstance(egress_result, dict) or "rules" not in egress_result:
        raise AnsibleFilterError("egress_rollback_endpoints: the input must be the registered result of "
                                 "ocsp.stapling.ocsp_egress (a dict with 'rules' and 'added')")
    added = set(egress_result.get("added") or [])
    out = []
    for rule in egress_result.get("rules") or []:
        endpoint = {"host": rule.get("address"), "port": rule.get("port")}
        # the rule identity ocsp_egress itself uses (Rule.key), never rebuilt here
        if Rule.from_dict(rule).key not in added and endpoint not in out:
            out.append(endpoint)
    return out


class FilterModule(object):
    def filters(self):
        return {"egress_rollback_endpoints": egress_rollback_endpoints}
