"""The one rule for an Apache that already refuses its configuration, as the module and the plan apply it."""

from ansible_collections.ocsp.stapling.plugins.module_utils._gate import configtest_refusal

BROKEN = {"code": "configtest_failed", "severity": "error", "msg": "Apache rejects the configuration: AH00526"}
MISPLACED = {"code": "cache_in_vhost", "severity": "error", "file": "/etc/apache2/sites-enabled/a.conf", "line": 7}


def test_a_configuration_apache_refuses_is_never_touched():
    assert configtest_refusal([]) is None
    assert configtest_refusal([MISPLACED]) is None  # Apache accepts it (not loaded there): no refusal here
    why = configtest_refusal([BROKEN])
    assert "already fails its configtest" in why and "AH00526" in why and "nothing was touched" in why


def test_unless_the_only_fault_is_a_misplaced_cache_the_change_removes():
    assert configtest_refusal([BROKEN, MISPLACED], fix_misplaced_cache=True) is None
    why = configtest_refusal([BROKEN, MISPLACED], option="apache_stapling_fix_misplaced_cache")
    assert "/etc/apache2/sites-enabled/a.conf line 7" in why and "apache_stapling_fix_misplaced_cache: true" in why
