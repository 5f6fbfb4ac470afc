#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: apache_reload
short_description: Reload or restart Apache httpd, and prove it lives and serves
version_added: 1.0.0
description:
  - Reloads one Apache instance gracefully or restarts it (a full stop, then a start), through the instance's control
    command (C(apache2ctl)/C(apachectl) with the instance's environment) or, for an instance the control script cannot
    express (a custom configuration file or C(-D) names), the server binary's C(-k) signals with the same arguments
    and environment - never a systemd-only path.
  - Then waits for proof, bounded by O(timeout) - the new generation in the instance's error log, the parent PID from
    its pid file alive, still alive O(settle) seconds later (Apache can exit about 1.3 s after a graceful that returned
    0, AH01958/AH01872), and a TLS handshake on every O(checks) target. Fails with the error-log lines written since
    the reload (AH codes) when any of these does not hold.
  - A restart is a full stop and start, not C(-k restart) - once stapling has run, removing the stapling cache kills
    Apache on graceful and on C(apachectl restart) alike (AH00820, AH01872); RV(downtime) is measured.
  - A graceful on a stopped Apache starts it, as C(apache2ctl graceful) does.
  - The configuration is tested first; when Apache refuses it, nothing is signalled.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._apache_instance
  - ocsp.stapling._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports what it would do; signals nothing.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - With O(mode=auto) and O(needed=none) nothing is reloaded and the task reports no change; a graceful or restart
        asked for is always done.
options:
  mode:
    description: V(graceful), V(restart) (full stop and start), or V(auto) (what O(needed) says).
    type: str
    choices: [graceful, restart, auto]
    default: auto
  needed:
    description: The RV(ocsp.stapling.apache_stapling_config#module:reload) of M(ocsp.stapling.apache_stapling_config),
      used with O(mode=auto); V(none) reloads nothing and only runs the checks.
    type: str
    choices: [none, graceful, restart]
  checks:
    description: TLS endpoints that must complete a handshake afterwards.
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Address or name to connect to.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        required: true
      sni:
        description: Server name to send.
        type: str
  timeout:
    description: Seconds to wait for each proof (new generation, stop, start, handshakes).
    type: int
    default: 30
  settle:
    description: Seconds Apache must stay alive after the reload before it counts as alive.
    type: float
    default: 2.0
  apache_facts:
    description:
      - What M(ocsp.stapling.apache_info) (or M(ocsp.stapling.apache_stapling_info)) returned for this instance earlier
        in the same run. The module then takes the instance's layout (pid file, error log, run directory) and
        compile settings from them instead of reading Apache again; before it signals anything, it still runs the
        instance's configtest and refuses when Apache rejects the configuration.
    type: dict
    version_added: 1.1.0
"""

EXAMPLES = r"""
- name: Apply the stapling change
  ocsp.stapling.apache_stapling_config:
    vhosts: "{{ plan }}"
  register: stapling

- name: Reload as the change needs, and prove every planned vhost still answers
  ocsp.stapling.apache_reload:
    mode: auto
    needed: "{{ stapling.reload }}"
    checks:
      - {host: 127.0.0.1, port: 443, sni: www.example.org}
"""

RETURN = r"""
mode:
  description: What was done - V(none), V(graceful) or V(restart).
  returned: always
  type: str
  sample: graceful
pid_before:
  description: Parent PID before, or V(null) when Apache was not running.
  returned: always
  type: int
  sample: 4242
pid_after:
  description: Parent PID after, or V(null).
  returned: always
  type: int
  sample: 4242
alive:
  description: Whether the parent was alive after the settle time.
  returned: always
  type: bool
  sample: true
downtime:
  description: For a restart, seconds from the stop to the last check's first successful handshake; else V(null).
  returned: always
  type: float
  sample: 0.412
checks:
  description: Per check target, C(host), C(port), C(sni), C(ok), C(error).
  returned: always
  type: list
  elements: dict
  sample: [{"host": "127.0.0.1", "port": 443, "sni": "www.example.org", "ok": true, "error": null}]
log:
  description: Lines the instance's error log gained since the reload (on failure too).
  returned: always
  type: list
  elements: str
  sample: ["[mpm_event:notice] [pid 4242] AH00493: SIGUSR1 received.  Doing graceful restart"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ocsp.stapling.plugins.module_utils._apache import read_instance
from ansible_collections.ocsp.stapling.plugins.module_utils._apache_instance import (
    instance_argument_spec, instance_from_module, same_instance,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._reload import Reloader, decide, pid_alive, validate_checks


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance_argument_spec(),
            mode=dict(type="str", choices=["graceful", "restart", "auto"], default="auto"),
            needed=dict(type="str", choices=["none", "graceful", "restart"]),
            checks=dict(type="list", elements="dict", default=[], options=dict(
                host=dict(type="str", required=True), port=dict(type="int", required=True), sni=dict(type="str"))),
            timeout=dict(type="int", default=30),
            settle=dict(type="float", default=2.0),
            apache_facts=dict(type="dict"),
        ),
        required_if=[("mode", "auto", ["needed"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["timeout"] <= 0 or p["settle"] < 0:
            raise StaplingError("timeout must be positive and settle not negative (got {0}, {1})".format(
                p["timeout"], p["settle"]))
        checks = validate_checks(p["checks"])
        action = decide(p["mode"], p["needed"])
        if p["apache_facts"]:
            facts = p["apache_facts"]
            same_instance(p, facts.get("layout"))
            instance = instance_from_module(module, layout=facts.get("layout"))
            refused = []
            if action != "none":
                instance.prepare_runtime()
                rc, out, err = instance.run(instance.configtest_argv(), instance.run_env())
                if rc != 0:
                    refused = [{"msg": "Apache rejects the configuration: {0}".format(
                        ((err or "") + (out or "")).strip()[:500])}]
        else:
            instance = instance_from_module(module)
            facts = read_instance(instance)
            refused = [x for x in facts["problems"] if x["code"] == "configtest_failed"]
        layout = facts["layout"]
        if refused and action != "none":
            raise StaplingError("not reloading: {0}. Nothing was signalled; Apache keeps serving the configuration "
                                "it has.".format(refused[0]["msg"]))
        settings = (facts.get("apache") or {}).get("compile_settings") or {}
        default_conf = os.path.join(layout["server_root"], settings.get("SERVER_CONFIG_FILE") or "")
        name = os.path.basename(instance.control)
        use_control = (name.startswith("apache2ctl") or name.startswith("apachectl")) and not p["defines"] \
            and layout["config_file"] == default_conf
        reloader = Reloader(instance, layout, instance.run, use_control)
        if module.check_mode:
            pid = reloader.pid()
            module.exit_json(changed=action != "none", mode=action, pid_before=pid, pid_after=pid, alive=pid_alive(pid),
                             downtime=None, checks=[], log=[])
        result = reloader.reload(action, checks, timeout=p["timeout"], settle=p["settle"])
    except StaplingError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(changed=result["mode"] != "none", **result)


if __name__ == "__main__":
    main()
