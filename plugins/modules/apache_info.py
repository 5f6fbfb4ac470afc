#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: apache_info
short_description: Apache httpd as Apache sees it, for OCSP stapling
version_added: 1.0.0
description:
  - Finds the Apache binary and reports its version, MPM, compile-time settings and loaded modules, the OpenSSL of the
    command line and, separately, the OpenSSL library mod_ssl really links, whether the host can staple with mod_ssl
    and with mod_md, the layout (Debian, Red Hat, SUSE, custom), every virtual host with its names, addresses and
    certificate, chain, CA and key file paths, and the stapling directives in force.
  - Reads the configuration as Apache 2.4 reads it (Include and IncludeOptional with globs and directories, Define and
    C(${VAR}) including Debian's C(envvars), IfModule in LoadModule order, IfDefine, IfVersion, IfFile, mod_macro's
    C(<Macro>), C(Use) and C(UndefMacro), Apache's line continuation and quoting, its rules for end tags and for
    sections left open at the end of a file), and cross-checks the vhost list with Apache's own C(-t -D DUMP_VHOSTS).
  - Where Apache refuses the configuration, the facts are still returned with Apache's own message as the problem
    C(configtest_failed) (and C(config_unreadable) when this reading stopped too, with no vhost reported).
  - Every Apache command (C(-V), the configtest with C(DUMP_MODULES) and C(DUMP_VHOSTS)) runs on the instance asked
    for, with the same C(-d), C(-f), C(-D) arguments and environment. On Debian that environment is what C(apache2ctl)
    gets - the instance's C(envvars) sourced by C(/bin/sh) with a clean environment plus C(APACHE_CONFDIR), as the
    control script does on every start - and, like C(apache2ctl), the module first creates the instance's run
    directory (with C(socks/)) and lock directory when they are missing (a host whose Apache has not run since boot).
  - Changes no configuration and starts nothing. Never reads key files, only reports their paths.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._apache_instance
  - ocsp.stapling._attributes
  - ocsp.stapling._attributes.info_module
options:
  journal_dir:
    description:
      - With it, RV(preflight) says what this host lacks for a change by M(ocsp.stapling.apache_stapling_config),
        whether this journal directory is usable (owned by root, not writable by others, not a symlink, writable),
        the control command, files with our snippet's name that are the operator's, a socache module for the cache.
    type: path
    version_added: 1.1.0
  snippet_name:
    description: File name of the global snippet the preflight checks (as O(ocsp.stapling.apache_stapling_config#module:snippet_name)).
    type: str
    default: ocsp-stapling.conf
    version_added: 1.1.0
notes:
  - A vhost made by a mod_macro C(Use) line is reported at that line, with C(macro) naming the definition; the role
    and M(ocsp.stapling.apache_stapling_config) do not edit such vhosts (the line would change the macro).
  - C(<IfDirective>) and C(<IfSection>) are read as if in force (problem C(condition_not_evaluated)).
"""

EXAMPLES = r"""
- name: Know the web server
  ocsp.stapling.apache_info:
  register: apache_facts

- name: A second Debian instance with its own APACHE_CONFDIR
  ocsp.stapling.apache_info:
    server_root: /etc/apache2-staging

- name: Refuse hosts that cannot staple
  ansible.builtin.assert:
    that: apache_facts.capabilities.mod_ssl_stapling.ok
    fail_msg: "{{ apache_facts.capabilities.mod_ssl_stapling.reason }}"

- name: Inspect the certificates Apache serves
  ocsp.stapling.ocsp_responder_info:
    vhosts: "{{ apache_facts.vhosts }}"
"""

RETURN = r"""
preflight:
  description:
    - Only with O(journal_dir). What this host lacks for a change, as C({code, msg}) (none when it can be changed),
      C(journal_unusable), C(control_command_missing), C(not_ours) (a file with our snippet's name that is the
      operator's; also C(path)), C(missing_socache) (no socache module to load for the stapling cache). The role adds
      the engine, configtest and Python library checks on the controller and refuses the host with every gap at once.
  returned: when O(journal_dir) is given
  type: list
  elements: dict
  sample: [{"code": "journal_unusable", "msg": "journal_dir /var/lib/ocsp-stapling/journal cannot be trusted: ..."}]
  version_added: 1.1.0
apache:
  description: The server.
  returned: always
  type: dict
  sample: {"version": "2.4.71", "version_raw": "Apache/2.4.71 (Debian)", "mpm": "event", "binary": "/usr/sbin/apache2ctl",
           "server_binary": "/usr/sbin/apache2", "modules": ["ssl_module", "socache_shmcb_module"], "ssl_module": true,
           "socache_shmcb_module": true, "md_module": false, "watchdog_module": false,
           "compile_settings": {"HTTPD_ROOT": "/etc/apache2", "SERVER_CONFIG_FILE": "apache2.conf"}}
openssl:
  description: C(cli_version) (C(openssl version)) and C(mod_ssl_version), the library mod_ssl links, with its path.
  returned: always
  type: dict
  sample: {"cli_version": "3.0.19", "cli_version_raw": "OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)",
           "mod_ssl_version": "3.0.19", "mod_ssl_library": "/lib/x86_64-linux-gnu/libcrypto.so.3",
           "mod_ssl_path": "/usr/lib/apache2/modules/mod_ssl.so"}
capabilities:
  description: C(mod_ssl_stapling) and C(mod_md_stapling), each with C(ok) and C(reason) (and C(warning) for mod_ssl).
  returned: always
  type: dict
  sample: {"mod_ssl_stapling": {"ok": true, "reason": null, "warning": null},
           "mod_md_stapling": {"ok": false, "reason": "mod_md (md_module) is not loaded; Debian: a2enmod md"}}
layout:
  description:
    - C(family) (V(debian), V(redhat), V(suse), V(custom)), C(server_root), C(config_file), C(global_snippet_dir),
      C(global_snippet_enable), C(service), and this instance's command line and runtime paths, so that later steps
      act on the same instance - C(control) (the binary given or found), C(server_binary), C(defines), C(run_dir),
      C(pid_file), C(lock_dir), C(log_dir), C(error_log), C(envvars) (the file sourced, or V(null)), C(env) (the
      C(APACHE_*) variables Apache runs with), C(created_dirs) (runtime directories this run created, as
      C(apache2ctl) does before every command).
    - C(run_dir), C(pid_file) and C(error_log) come from the configuration in force (C(DefaultRuntimeDir),
      C(PidFile), C(ErrorLog)), then the environment, then the compiled-in defaults.
  returned: always
  type: dict
  sample: {"family": "debian", "server_root": "/etc/apache2-web2", "config_file": "/etc/apache2-web2/apache2.conf",
           "global_snippet_dir": "/etc/apache2-web2/conf-available", "global_snippet_enable": "a2enconf",
           "service": "apache2-web2", "control": "/usr/sbin/apache2ctl", "server_binary": "/usr/sbin/apache2",
           "defines": [], "run_dir": "/var/run/apache2-web2", "pid_file": "/var/run/apache2-web2/apache2.pid",
           "lock_dir": "/var/lock/apache2-web2", "log_dir": "/var/log/apache2-web2",
           "error_log": "/var/log/apache2-web2/error.log", "envvars": "/etc/apache2-web2/envvars",
           "env": {"APACHE_CONFDIR": "/etc/apache2-web2", "APACHE_RUN_DIR": "/var/run/apache2-web2"},
           "created_dirs": []}
global_stapling:
  description: Stapling directives of the global server config, by name, each with C(args), C(value), C(file), C(line).
  returned: always
  type: dict
  sample: {"SSLStaplingCache": {"name": "SSLStaplingCache", "args": ["shmcb:/var/run/apache2/ssl_stapling(32768)"],
           "value": "shmcb:/var/run/apache2/ssl_stapling(32768)", "file": "/etc/apache2/conf-enabled/stapling.conf",
           "line": 2}}
vhosts:
  description: Every virtual host, in configuration order.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: File of the C(<VirtualHost>) line (for a vhost a macro made, the file of the C(Use) line).
      type: str
      returned: always
      sample: /etc/apache2/sites-enabled/www.conf
    line:
      description:
        - The line the C(<VirtualHost>) starts on, as an editor shows it (a header continued over several lines
          starts on its first; Apache's C(DUMP_VHOSTS) names the last). For a vhost a macro made, the C(Use) line.
      type: int
      returned: always
      sample: 1
    macro:
      description: For a vhost made by a mod_macro C(Use) line, the macro's C(name) (lower case, as mod_macro knows
        it) and the C(file) and C(line) of its C(<Macro>) definition; V(null) otherwise.
      type: dict
      returned: always
      sample: {"name": "vhost", "file": "/etc/apache2/conf-enabled/macros.conf", "line": 1}
    addresses:
      description: The C(<VirtualHost>) addresses.
      type: list
      elements: str
      returned: always
      sample: ["*:443"]
    server_name:
      description: ServerName, or V(null).
      type: str
      returned: always
      sample: www.example.org
    server_aliases:
      description: ServerAlias names.
      type: list
      elements: str
      returned: always
      sample: [example.org]
    tls:
      description: Whether C(SSLEngine on) is in force.
      type: bool
      returned: always
      sample: true
    certificate_file:
      description: SSLCertificateFile (absolute path), or V(null).
      type: str
      returned: always
      sample: /etc/ssl/certs/www.pem
    certificate_chain_file:
      description: SSLCertificateChainFile, or V(null).
      type: str
      returned: always
      sample: null
    ca_certificate_file:
      description: SSLCACertificateFile, or V(null).
      type: str
      returned: always
      sample: null
    key_file:
      description: SSLCertificateKeyFile path (never its content), or V(null).
      type: str
      returned: always
      sample: /etc/ssl/private/www.key
    stapling:
      description:
        - C(enabled) (C(SSLUseStapling on) in force on a TLS vhost), C(directives) in force by name with their values, own
          or inherited from the global server config, and the names of the C(inherited) ones (their file and line are in
          RV(global_stapling)).
      type: dict
      returned: always
      sample: {"enabled": true, "directives": {"SSLUseStapling": "on", "SSLStaplingCache": "shmcb:/run/x(32768)"},
               "inherited": ["SSLStaplingCache"]}
cross_check:
  description:
    - Whether Apache's own C(-t -D DUMP_VHOSTS) ran (C(ran)), how many vhosts it lists (C(apache_vhosts)), and how many
      differ from this reading (C(disagreements)); each difference is in RV(problems).
  returned: always
  type: dict
  sample: {"ran": true, "apache_vhosts": 12, "disagreements": 0}
problems:
  description:
    - Structured findings, each with C(code), C(severity), C(msg), C(file), C(line). Codes include C(cache_in_vhost),
      C(stapling_without_cache), C(cache_module_missing), C(missing_file), C(undefined_variable),
      C(condition_not_evaluated), C(vhost_not_read), C(vhost_not_in_dump), C(configtest_failed) (Apache's own
      message), C(config_unreadable) (where this reading stopped, only beside C(configtest_failed)).
  returned: always
  type: list
  elements: dict
  sample: [{"code": "cache_in_vhost", "severity": "error", "file": "/etc/apache2/sites-enabled/www.conf", "line": 7,
            "msg": "SSLStaplingCache inside <VirtualHost> ..."}]
files_read:
  description: Configuration files read, in order.
  returned: always
  type: list
  elements: str
  sample: [/etc/apache2/apache2.conf]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ocsp.stapling.plugins.module_utils._apache import read_instance, warnings_of
from ansible_collections.ocsp.stapling.plugins.module_utils._apache_instance import (
    instance_argument_spec, instance_from_module,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._stapling_config import preflight


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance_argument_spec(),
            journal_dir=dict(type="path"),
            snippet_name=dict(type="str", default="ocsp-stapling.conf"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        facts = read_instance(instance_from_module(module), openssl=module.get_bin_path("openssl"),
                              ldd=module.get_bin_path("ldd"))
        if p["journal_dir"]:
            facts["preflight"] = preflight(facts, p["journal_dir"], p["snippet_name"])
    except StaplingError as exc:
        module.fail_json(msg=exc.msg)
    for warning in warnings_of(facts):
        module.warn(warning)
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
