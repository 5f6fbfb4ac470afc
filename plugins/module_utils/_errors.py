# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: the one domain exception raised by module_utils.

Modules catch it once, in main(), and turn it into fail_json(msg=...).
Messages name the input at fault and what to do about it.
"""

from __future__ import annotations


class StaplingError(Exception):
    """A problem with the input or the host that the user has to fix."""

    def __init__(self, msg, **details):
        super(StaplingError, self).__init__(msg)
        self.msg = msg
        self.details = details
