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

import sys
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


def _require(module, has, version, minimal, path, error, name, package, url, extra=None):
    if not has:
        module.fail_json(
            msg=missing_required_lib(
                "{0} >= {1} (Debian/Ubuntu: apt install {2}; RHEL: dnf install {2})".format(name, minimal, package),
                url=url,
            ),
            exception=error,
            **(extra or {})
        )
    if version < LooseVersion(minimal):
        module.fail_json(
            msg="{0} is too old: found {1} at {2}, need {3} or newer. Upgrade the {4} package on the managed host.".format(
                name, version, path, minimal, package
            ),
            **(extra or {})
        )


def _report(has, version, minimal, path, package):
    ok = bool(has) and version >= LooseVersion(minimal)
    return {"found": bool(has), "version": str(version) if version else None, "minimum": minimal,
            "path": path, "ok": ok, "package": package}


# /etc/os-release ID / ID_LIKE words -> the os_family Ansible's setup reports (the package names differ by family).
_FAMILIES = (("debian", "Debian"), ("ubuntu", "Debian"), ("rhel", "RedHat"), ("fedora", "RedHat"),
             ("centos", "RedHat"), ("suse", "Suse"), ("opensuse", "Suse"), ("sles", "Suse"))


def os_family(path="/etc/os-release"):
    """Debian, RedHat or Suse (as ansible_facts.os_family names them) from os-release's ID and ID_LIKE, or None: the
    role names the packages of missing libraries by it without gathering facts."""
    words = []
    try:
        with open(path) as f:
            for line in f:
                name, _sep, value = line.strip().partition("=")
                if name in ("ID", "ID_LIKE"):
                    words += value.strip().strip("\"'").lower().split()
    except (IOError, OSError, UnicodeDecodeError):
        return None
    for word in words:
        for key, family in _FAMILIES:
            if word == key or word.startswith(key + "-"):
                return family
    return None


def libraries():
    """What the node's Python has of the libraries the collection needs (the preflight reads it): per library
    found, version, minimum, path, ok, and the Debian package name (the controller maps other distributions by
    ``os_family``)."""
    return {
        "python": sys.executable,
        "os_family": os_family(),
        "cryptography": _report(HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_VERSION, MINIMAL_CRYPTOGRAPHY_VERSION,
                                CRYPTOGRAPHY_PATH, "python3-cryptography"),
        "pyOpenSSL": _report(HAS_PYOPENSSL, PYOPENSSL_VERSION, MINIMAL_PYOPENSSL_VERSION, PYOPENSSL_PATH,
                             "python3-openssl"),
    }


def require_cryptography(module, **extra):
    """Fail the module unless a recent enough ``cryptography`` is importable (``extra``: more keys of the failure,
    such as the library report)."""
    _require(module, HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_VERSION, MINIMAL_CRYPTOGRAPHY_VERSION,
             CRYPTOGRAPHY_PATH, CRYPTOGRAPHY_IMPORT_ERROR, "cryptography", "python3-cryptography",
             "https://cryptography.io/", extra)


def require_pyopenssl(module):
    """Fail the module unless a recent enough pyOpenSSL is importable."""
    _require(module, HAS_PYOPENSSL, PYOPENSSL_VERSION, MINIMAL_PYOPENSSL_VERSION,
             PYOPENSSL_PATH, PYOPENSSL_IMPORT_ERROR, "pyOpenSSL", "python3-openssl",
             "https://www.pyopenssl.org/")
