# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: the one guarded import of optional Python libraries.

Modules call ``require_cryptography(module)`` / ``require_pyopenssl(module)``
before touching the libraries; both fail with ``missing_required_lib`` (naming
the distro package) when a library is absent, and with a separate "too old,
found X at PATH" message when it is older than we support.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.compat.version import LooseVersion

MINIMAL_CRYPTOGRAPHY_VERSION = "3.4"
MINIMAL_PYOPENSSL_VERSION = "20.0.0"

try:
    import cryptography
    from cryptography import x509  # noqa: F401, pylint: disable=unused-import
    from cryptography.x509 import ocsp  # noqa: F401, pylint: disable=unused-import

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_VERSION = LooseVersion(cryptography.__version__)
    CRYPTOGRAPHY_PATH = getattr(cryptography, "__file__", "?")
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_VERSION = None
    CRYPTOGRAPHY_PATH = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

try:
    import OpenSSL
    from OpenSSL import SSL  # noqa: F401, pylint: disable=unused-import

    HAS_PYOPENSSL = True
    PYOPENSSL_VERSION = LooseVersion(OpenSSL.__version__)
    PYOPENSSL_PATH = getattr(OpenSSL, "__file__", "?")
    PYOPENSSL_IMPORT_ERROR = None
except ImportError:
    HAS_PYOPENSSL = False
    PYOPENSSL_VERSION = None
    PYOPENSSL_PATH = None
    PYOPENSSL_IMPORT_ERROR = traceback.format_exc()


def _require(module, has, version, minimal, path, error, name, package, url):
    if not has:
        module.fail_json(
            msg=missing_required_lib(
                "{0} >= {1} (Debian/Ubuntu: apt install {2}; RHEL: dnf install {2})".format(name, minimal, package),
                url=url,
            ),
            exception=error,
        )
    if version < LooseVersion(minimal):
        module.fail_json(
            msg="{0} is too old: found {1} at {2}, need {3} or newer. Upgrade the {4} package on the managed host.".format(
                name, version, path, minimal, package
            )
        )


def require_cryptography(module):
    """Fail the module unless a recent enough ``cryptography`` is importable."""
    _require(module, HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_VERSION, MINIMAL_CRYPTOGRAPHY_VERSION,
             CRYPTOGRAPHY_PATH, CRYPTOGRAPHY_IMPORT_ERROR, "cryptography", "python3-cryptography",
             "https://cryptography.io/")


def require_pyopenssl(module):
    """Fail the module unless a recent enough pyOpenSSL is importable."""
    _require(module, HAS_PYOPENSSL, PYOPENSSL_VERSION, MINIMAL_PYOPENSSL_VERSION,
             PYOPENSSL_PATH, PYOPENSSL_IMPORT_ERROR, "pyOpenSSL", "python3-openssl",
             "https://www.pyopenssl.org/")
