#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: apache_stapling_info
short_description: Everything a stapling plan needs of one host, read once - Apache, its certificates, the node's libraries
version_added: 1.1.0
description:
  - In one module execution, what M(ocsp.stapling.apache_info) returns (the Apache instance, its layout, every vhost,
    the stapling in force, the problems; with O(journal_dir) the node-side RV(preflight)), what
    M(ocsp.stapling.ocsp_responder_info) returns for the certificates of its TLS vhosts (RV(certificates),
    RV(endpoints)), and the node's Python libraries (RV(libraries)).
  - The result is the whole input of the filter P(ocsp.stapling.stapling_plan#filter) (C(facts |
    ocsp.stapling.stapling_plan)); the role C(ocsp.stapling.apache_stapling) detects with it.
  - Works on a node without the C(cryptography) library. Apache is read as always, RV(libraries) says what is
    missing, and RV(certificates) and RV(endpoints) are empty (reading a certificate needs the library). A caller
    learns every gap at once, installs what is missing, and runs the module again. One certificate that cannot be read
    is reported in its entry (C(error)) and never fails the task.
  - The modules M(ocsp.stapling.apache_info) and M(ocsp.stapling.ocsp_responder_info) stay for their own uses. This
    one saves a second module execution (a Python start on the node, a second transfer) where both are wanted.
  - Changes nothing; with O(probe=true) sends one OCSP request per certificate, as
    M(ocsp.stapling.ocsp_responder_info) does.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._apache_instance
  - ocsp.stapling._attributes
  - ocsp.stapling._attributes.info_module
options:
  journal_dir:
    description:
      - With it, RV(preflight) says what this host lacks for a change, as O(ocsp.stapling.apache_info#module:journal_dir)
        does.
    type: path
  snippet_name:
    description: File name of the global snippet the preflight checks (as O(ocsp.stapling.apache_stapling_config#module:snippet_name)).
    type: str
    default: ocsp-stapling.conf
  probe:
    description:
      - Send a real OCSP request to the responder mod_ssl will ask for each certificate and validate the answer, as
        O(ocsp.stapling.ocsp_responder_info#module:probe) does.
    type: bool
    default: false
  timeout:
    description: Seconds for each probe (connect, send and read), as O(ocsp.stapling.ocsp_responder_info#module:timeout).
    type: float
    default: 5
  proxy:
    description: HTTP proxy for the probes (C(http://HOST:PORT)), as O(ocsp.stapling.ocsp_responder_info#module:proxy).
    type: str
  allowed_networks:
    description:
      - Networks (CIDR) egress may go to, as O(ocsp.stapling.ocsp_responder_info#module:allowed_networks). Empty
        means anywhere but link-local, unspecified, multicast and broadcast destinations.
    type: list
    elements: str
    default: []
seealso:
  - module: ocsp.stapling.apache_info
  - module: ocsp.stapling.ocsp_responder_info
  - plugin: ocsp.stapling.stapling_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Read the host once
  ocsp.stapling.apache_stapling_info:
    journal_dir: /var/lib/ocsp-stapling/journal
  register: host_facts

- name: Plan from it (on the controller)
  ansible.builtin.set_fact:
    plan: "{{ host_facts | ocsp.stapling.stapling_plan(exclude=['legacy.*']) }}"

- name: Say what the node lacks
  ansible.builtin.debug:
    msg: "{{ host_facts.libraries | dict2items | selectattr('value.ok', 'defined') | rejectattr('value.ok')
             | map(attribute='key') | list }}"
"""

RETURN = r"""
preflight:
  description: As RV(ocsp.stapling.apache_info#module:preflight).
  returned: when O(journal_dir) is given
  type: list
  elements: dict
  sample: []
apache:
  description: As RV(ocsp.stapling.apache_info#module:apache).
  returned: always
  type: dict
  sample: {"version": "2.4.71", "mpm": "event", "ssl_module": true}
openssl:
  description: As RV(ocsp.stapling.apache_info#module:openssl).
  returned: always
  type: dict
  sample: {"cli_version": "3.0.19", "mod_ssl_version": "3.0.19"}
capabilities:
  description: As RV(ocsp.stapling.apache_info#module:capabilities).
  returned: always
  type: dict
  sample: {"mod_ssl_stapling": {"ok": true, "reason": null, "warning": null}}
layout:
  description: As RV(ocsp.stapling.apache_info#module:layout).
  returned: always
  type: dict
  sample: {"family": "debian", "server_root": "/etc/apache2", "config_file": "/etc/apache2/apache2.conf"}
global_stapling:
  description: As RV(ocsp.stapling.apache_info#module:global_stapling).
  returned: always
  type: dict
  sample: {}
vhosts:
  description: As RV(ocsp.stapling.apache_info#module:vhosts).
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/apache2/sites-available/www.conf", "line": 1, "server_name": "www.example.org", "tls": true}]
cross_check:
  description: As RV(ocsp.stapling.apache_info#module:cross_check).
  returned: always
  type: dict
  sample: {"ran": true, "apache_vhosts": 4, "disagreements": 0}
problems:
  description: As RV(ocsp.stapling.apache_info#module:problems).
  returned: always
  type: list
  elements: dict
  sample: []
files_read:
  description: As RV(ocsp.stapling.apache_info#module:files_read).
  returned: always
  type: list
  elements: str
  sample: [/etc/apache2/apache2.conf]
certificates:
  description:
    - The certificates of the TLS vhosts, as RV(ocsp.stapling.ocsp_responder_info#module:certificates) over
      RV(vhosts). Empty when the node lacks C(cryptography) (see RV(libraries)).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/ssl/certs/www.pem", "has_ocsp_uri": true, "stapleable": true}]
endpoints:
  description: As RV(ocsp.stapling.ocsp_responder_info#module:endpoints); empty without C(cryptography).
  returned: always
  type: list
  elements: dict
  sample: [{"host": "ocsp.example.net", "port": 80, "protocol": "tcp", "addresses": ["192.0.2.10"], "uris": []}]
libraries:
  description: As RV(ocsp.stapling.ocsp_responder_info#module:libraries); also returned when the task fails.
  returned: always
  type: dict
  sample: {"python": "/usr/bin/python3", "os_family": "Debian",
           "cryptography": {"found": true, "version": "38.0.4", "minimum": "3.4", "ok": true,
                            "package": "python3-cryptography"}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ocsp.stapling.plugins.module_utils._apache import read_instance, warnings_of
from ansible_collections.ocsp.stapling.plugins.module_utils._apache_instance import (
    instance_argument_spec, instance_from_module,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._deps import libraries
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._responder_info import inspect_all, normalize_inputs
from ansible_collections.ocsp.stapling.plugins.module_utils._stapling_config import preflight


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance_argument_spec(),
            journal_dir=dict(type="path"),
            snippet_name=dict(type="str", default="ocsp-stapling.conf"),
            probe=dict(type="bool", default=False),
            timeout=dict(type="float", default=5),
            proxy=dict(type="str", no_log=True),
            allowed_networks=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    libs = libraries()
    try:
        facts = read_instance(instance_from_module(module), openssl=module.get_bin_path("openssl"),
                              ldd=module.get_bin_path("ldd"))
        if p["journal_dir"]:
            facts["preflight"] = preflight(facts, p["journal_dir"], p["snippet_name"])
        certificates, endpoints = [], []
        if libs["cryptography"]["ok"]:
            inputs = normalize_inputs(None, [v for v in facts["vhosts"] if v.get("tls")])
            certificates, endpoints = inspect_all(inputs, probe=p["probe"], timeout=p["timeout"], proxy=p["proxy"],
                                                  allowed_networks=p["allowed_networks"])
    except StaplingError as exc:
        module.fail_json(msg=exc.msg, libraries=libs)
    for warning in warnings_of(facts):
        module.warn(warning)
    module.exit_json(changed=False, certificates=certificates, endpoints=endpoints, libraries=libs, **facts)


if __name__ == "__main__":
    main()
