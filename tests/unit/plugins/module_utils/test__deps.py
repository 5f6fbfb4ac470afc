"""The guarded import of optional libraries: present, missing, too old."""

import pytest

from ansible.module_utils.compat.version import LooseVersion
from ansible_collections.ocsp.stapling.plugins.module_utils import _deps


class Failed(Exception):
    pass


class RecordingModule(object):
    """Stands in for AnsibleModule's one method these helpers call."""

    def __init__(self):
        self.failure = None

    def fail_json(self, **kwargs):
        self.failure = kwargs
        raise Failed(kwargs["msg"])


def test_real_libraries_are_accepted():
    module = RecordingModule()
    _deps.require_cryptography(module)
    _deps.require_pyopenssl(module)
    assert module.failure is None
    assert _deps.HAS_CRYPTOGRAPHY and _deps.HAS_PYOPENSSL


@pytest.mark.parametrize("flag, func, package", [
    ("HAS_CRYPTOGRAPHY", "require_cryptography", "python3-cryptography"),
    ("HAS_PYOPENSSL", "require_pyopenssl", "python3-openssl"),
])
def test_missing_library_names_the_distro_package(monkeypatch, flag, func, package):
    monkeypatch.setattr(_deps, flag, False)
    module = RecordingModule()
    with pytest.raises(Failed):
        getattr(_deps, func)(module)
    assert package in module.failure["msg"]
    assert "Failed to import the required Python library" in module.failure["msg"]


def test_too_old_library_says_what_was_found_where(monkeypatch):
    monkeypatch.setattr(_deps, "CRYPTOGRAPHY_VERSION", LooseVersion("2.8"))
    monkeypatch.setattr(_deps, "CRYPTOGRAPHY_PATH", "/usr/lib/python3/dist-packages/cryptography/__init__.py")
    module = RecordingModule()
    with pytest.raises(Failed):
        _deps.require_cryptography(module)
    msg = module.failure["msg"]
    assert "too old: found 2.8 at /usr/lib/python3/dist-packages/cryptography" in msg
    assert "need 3.4 or newer" in msg
