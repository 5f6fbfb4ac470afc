#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ocsp_egress
short_description: Open firewall egress from the web server to exactly its OCSP responders
version_added: 1.0.0
description:
  - Allows outbound TCP from this host to each resolved address and port of the given OCSP responder endpoints (what
    M(ocsp.stapling.ocsp_responder_info) returns as RV(ocsp.stapling.ocsp_responder_info#module:endpoints)), and nothing
    wider; optionally only for the web server's user.
  - The rules are the collection's own, in a chain of their own marked with the comment C(ocsp.stapling), reached by a
    jump at the top of the host's own output chain(s). In nftables an accept in a separate base chain does not override
    a drop in another base chain on the same hook, so the jump goes where the host filters.
  - Only accept rules and jumps are added; policies and other rules are never changed. Changes are applied atomically.
  - The certificate served decides where a web server asks for OCSP, so an endpoint that resolves to what can never be
    a responder (a link-local address such as C(169.254.169.254), where cloud metadata services answer; the
    unspecified address; multicast; the IPv4 broadcast) is refused, naming it, before any change. Private and loopback
    addresses are allowed (a private CA's responder). O(allowed_networks) restricts egress further.
  - Backends C(nftables), C(iptables) (its nf_tables or legacy variant, whichever is in use), C(ufw) (rules
    C(allow out) with the comment C(ocsp.stapling ...), persisted by ufw itself, no owner match) and C(firewalld).
  - With C(firewalld) the rules are rich rules in a policy of the collection's own, C(ocsp-stapling) (ingress zone
    C(HOST), egress zone C(ANY), priority -32768 so it comes before the host's own policies and zones), kept in both
    the runtime and the permanent configuration. firewalld creates policies only in its permanent configuration, so
    the first run reloads firewalld once, with a warning, because a reload replaces runtime-only changes made by
    others with the permanent configuration. No owner match. After O(state=absent) the emptied policy stays in the running
    firewalld until its next reload; it is gone from the permanent configuration at once.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  endpoints:
    description:
      - Responder endpoints, each with C(host) (name or address) and C(port) (default 80); C(protocol) if given must be
        C(tcp). Other keys (as M(ocsp.stapling.ocsp_responder_info) returns them) are ignored.
      - Host names are resolved on this host; every address (IPv4 and IPv6) gets a rule. Where IPv6 is disabled on
        the host, IPv6 addresses of a name are skipped (listed in RV(resolved)) and an IPv6-only endpoint fails.
      - An endpoint whose C(uri), C(uris) or C(scheme) is not C(http://) fails the task (mod_ssl fetches OCSP over
        plain HTTP only).
    type: list
    elements: dict
    default: []
  backend:
    description:
      - The firewall to use. V(auto) detects the one active and refuses to guess when more than one is.
      - V(none) (or V(auto) on a host whose egress nothing filters) changes nothing.
    type: str
    choices: [auto, nftables, iptables, firewalld, ufw, none]
    default: auto
  state:
    description: V(present) ensures the rules; V(absent) removes every rule, jump and chain of ours.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description: With O(state=present), also remove rules of ours for endpoints no longer given (after a certificate renewal).
    type: bool
    default: false
  owner:
    description: Allow the traffic only for this user (owner match), for example the web server's C(www-data).
    type: str
  allowed_networks:
    description:
      - Networks (CIDR, such as V(10.20.0.0/16) or V(2001:db8::/32)) egress may go to. An endpoint resolving to an
        address outside all of them is refused before any change, naming it.
      - Empty (the default) restricts nothing beyond the destinations always refused (see the description).
    type: list
    elements: str
    default: []
    version_added: 1.1.0
  persist:
    description:
      - Make the rules survive a reboot (nftables and iptables). The host's own firewall configuration is never
        edited; instead the module writes its rules to C(/etc/ocsp-stapling/egress.nft) (nftables) or
        C(/etc/ocsp-stapling/egress-ipv4.rules) and C(egress-ipv6.rules) (iptables, loaded with
        C(iptables-restore --noflush)) and enables the oneshot systemd unit C(ocsp-stapling-egress.service), ordered
        after and C(PartOf) C(nftables.service) or C(netfilter-persistent.service). If the host's table or output
        chain is missing at boot, only that unit fails; the host's own firewall loads as before. Needs systemd.
      - V(false) keeps the rules in the running firewall only, and removes that file and unit if an earlier run wrote
        them (so a purged responder does not come back at the next boot). O(state=absent) removes them too.
      - ufw and firewalld keep their rules themselves whatever this says (RV(persisted) is V(true)).
    type: bool
    default: false
notes:
  - Run it with privileges (C(become)).
"""

EXAMPLES = r"""
- name: What the served certificates need
  ocsp.stapling.ocsp_responder_info:
    vhosts: "{{ apache_facts.vhosts }}"
  register: ocsp_facts

- name: Open egress to exactly those responders, dropping ours that are no longer needed
  ocsp.stapling.ocsp_egress:
    endpoints: "{{ ocsp_facts.endpoints }}"
    owner: www-data
    purge: true
  become: true

- name: The same, kept across reboots (nftables and iptables get a unit of ours that loads them after the host's firewall)
  ocsp.stapling.ocsp_egress:
    endpoints: "{{ ocsp_facts.endpoints }}"
    persist: true
  become: true

- name: Remove everything this collection opened
  ocsp.stapling.ocsp_egress:
    state: absent
  become: true
"""

RETURN = r"""
backend:
  description: The backend used (V(none) when nothing filters egress).
  returned: always
  type: str
  sample: nftables
rules:
  description: Our rules after the run (predicted in check mode), each with C(family), C(address), C(port), C(protocol), C(uid).
  returned: always
  type: list
  elements: dict
  sample: [{"family": "ip", "address": "192.0.2.10", "port": 80, "protocol": "tcp", "uid": 33}]
added:
  description: Keys of the rules added (or that would be).
  returned: always
  type: list
  elements: str
  sample: ["ip 192.0.2.10 tcp/80 uid=33"]
removed:
  description: Keys of the rules removed (or that would be).
  returned: always
  type: list
  elements: str
  sample: []
resolved:
  description: Each endpoint with the addresses it resolved to on this host (C(skipped) lists IPv6 addresses left out
    because IPv6 is disabled here).
  returned: when O(state=present)
  type: list
  elements: dict
  sample: [{"host": "ocsp.example.org", "port": 80, "addresses": ["192.0.2.10", "2001:db8::10"]}]
persisted:
  description: Whether the rules survive a reboot (ufw and firewalld keep their rules themselves).
  returned: success
  type: bool
  sample: true
persist_files:
  description: The files of ours that load the rules at boot (nftables and iptables with O(persist=true)).
  returned: when the backend is nftables or iptables
  type: list
  elements: str
  sample: ["/etc/ocsp-stapling/egress.nft", "/etc/systemd/system/ocsp-stapling-egress.service"]
detection:
  description: What backend detection saw (with O(backend=auto)).
  returned: when O(backend=auto)
  type: dict
  sample: {"nftables_output_chains": ["inet filter output"]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._firewall.api import ensure


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoints=dict(type="list", elements="dict", default=[]),
            backend=dict(type="str", default="auto", choices=["auto", "nftables", "iptables", "firewalld", "ufw", "none"]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            purge=dict(type="bool", default=False),
            owner=dict(type="str"),
            persist=dict(type="bool", default=False),
            allowed_networks=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )

    def run(argv, data=None):
        return module.run_command(argv, data=data, binary_data=False, environ_update={"LC_ALL": "C"})

    def which(name):
        return module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"])

    try:
        result = ensure(module.params, run, which, module.check_mode, module._diff)
    except StaplingError as exc:
        details = dict(exc.details)
        # ansible-core 2.19+ deprecates `warnings` given to exit_json/fail_json: each goes through module.warn().
        for warning in details.pop("warnings", []):
            module.warn(warning)
        module.fail_json(msg=exc.msg, **details)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
