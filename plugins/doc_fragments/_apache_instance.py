# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private doc fragment: it is not part of the collection's public API.
# The options of plugins/module_utils/_apache_instance.py instance_argument_spec(), documented once.

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  binary:
    description:
      - Control or server binary (C(apache2ctl), C(apachectl), C(httpd), C(apache2)). Found on the PATH (and in
        C(/usr/sbin), C(/usr/local/apache2/bin)) when absent.
    type: path
  server_root:
    description:
      - ServerRoot (and, on Debian, the C(APACHE_CONFDIR) holding C(envvars)). From the binary's compile-time
        C(HTTPD_ROOT) (or C(/etc/apache2) on Debian) when absent.
      - Point it at a second Debian instance (C(/etc/apache2-NAME), made by Debian's C(setup-instance)); its
        C(envvars) then gives that instance's run directory, pid file and logs. O(binary=apache2ctl-NAME) finds the
        same instance, as the control script does.
    type: path
  config_file:
    description: Main configuration file, relative to O(server_root) or absolute. From C(SERVER_CONFIG_FILE) when absent.
    type: path
  defines:
    description:
      - Names the service passes to Apache with C(-D) (SUSE's C(APACHE_SERVER_FLAGS), for example V(SSL)), used for
        C(<IfDefine>) and passed to the binary's own checks.
    type: list
    elements: str
    default: []
"""
