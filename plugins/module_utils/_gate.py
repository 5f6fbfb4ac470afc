# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: the one rule for an Apache whose configuration already fails its configtest.

Such an Apache is never touched, unless the only fault is an SSLStaplingCache inside a <VirtualHost> (AH00526) and
the change is asked to remove it (fix_misplaced_cache): its own configtest then proves the result. The module
apache_stapling_config refuses with it before writing; the plan filter on the controller refuses the host with it
before anything changes. Standard library only (the controller imports it).
"""

from __future__ import annotations


def configtest_refusal(problems, fix_misplaced_cache=False, option="fix_misplaced_cache"):
    """Why this Apache must not be changed, in words (Apache's own message included), or None.

    ``problems``: apache_info's; ``option``: the name of the fix_misplaced_cache setting in the caller's words (the
    module's option, or the role's variable)."""
    problems = problems or []
    broken = [p for p in problems if p.get("code") == "configtest_failed"]
    if not broken:
        return None
    misplaced = [p for p in problems if p.get("code") == "cache_in_vhost"]
    if misplaced and fix_misplaced_cache:
        return None
    hint = (" (an SSLStaplingCache inside a <VirtualHost> at {0} line {1}: remove it, or set {2}: true)".format(
        misplaced[0].get("file"), misplaced[0].get("line"), option) if misplaced else "")
    return ("Apache's configuration already fails its configtest before any change; nothing was touched. Fix it "
            "first{0}: {1}".format(hint, broken[0].get("msg")))
