"""ocsp.stapling.apache_reload through ansible-playbook against Debian's real apache2 in a sandbox:
graceful, restart, Apache dying after a graceful that returned 0 (AH01958/AH01872), and the AH00820
path proven on this Apache (removing the cache after stapling ran kills it on graceful; a full stop and
start survives)."""

import time

import pytest

from lab import STAPLING_GLOBAL

MODULE = "ocsp.stapling.apache_reload"


def sandbox_with_vhost(s, lab, stapling=True):
    good = lab.pki.certs["good"]
    if stapling:
        s.set_global(STAPLING_GLOBAL)
    target = s.add_vhost("good", good.cert_path, good.key_path, chain_path=good.chain_path,
                         server_name="good.lab.test", directives=["SSLUseStapling on"] if stapling else [])
    return target


def reload(run_module, s, check=False, **args):
    return run_module(MODULE, dict({"server_root": s.confdir, "timeout": 15, "settle": 1.5}, **args), check=check)


@pytest.mark.core_matrix
def test_graceful_keeps_the_parent_and_serves(run_module, apache_sandbox, lab):
    s = apache_sandbox
    target = sandbox_with_vhost(s, lab, stapling=False)
    s.start()
    pid = s.pid
    checked = reload(run_module, s, check=True, mode="graceful", checks=[target])
    assert checked["changed"] is True and checked["mode"] == "graceful" and s._read_pid() == pid
    assert s._resumes() == 1  # check mode signalled nothing
    result = reload(run_module, s, mode="graceful", checks=[target])
    assert not result["failed"], result["_output"]
    assert result["changed"] and result["pid_before"] == pid and result["pid_after"] == pid and result["alive"]
    assert result["checks"][0]["ok"] is True and s._resumes() == 2
    assert any("AH00493" in line or "graceful" in line.lower() for line in result["log"]), result["log"]
    nothing = reload(run_module, s, mode="auto", needed="none", checks=[target])
    assert nothing["changed"] is False and nothing["mode"] == "none" and nothing["checks"][0]["ok"]


def test_restart_is_a_full_stop_and_start(run_module, apache_sandbox, lab):
    s = apache_sandbox
    target = sandbox_with_vhost(s, lab, stapling=False)
    s.start()
    pid = s.pid
    result = reload(run_module, s, mode="restart", checks=[target])
    assert not result["failed"], result["_output"]
    assert result["pid_before"] == pid and result["pid_after"] not in (None, pid)
    assert result["downtime"] is not None and result["downtime"] > 0
    s.pid = result["pid_after"]
    assert s.alive()


def test_death_after_a_graceful_that_returned_zero(run_module, apache_sandbox, lab):
    s = apache_sandbox
    target = sandbox_with_vhost(s, lab, stapling=False)
    s.start()
    # Stapling on with no cache anywhere: configtest passes, the new generation cannot start.
    s.write_conf("sites-enabled/good.conf", s.read_conf("sites-enabled/good.conf").replace(
        "SSLEngine on", "SSLEngine on\n    SSLUseStapling on"))
    ok, out = s.configtest()
    assert ok, out  # the trap: Apache's own test says yes
    result = reload(run_module, s, mode="graceful", checks=[target])
    assert result["failed"]
    assert "AH01958" in result["msg"] or "AH01872" in result["msg"], result["msg"]
    assert "AH01958" in s.log_text()
    assert result["alive"] is False and not s.alive()


def test_removing_the_cache_after_stapling_ran_needs_a_full_restart(run_module, apache_sandbox, lab):
    s = apache_sandbox
    target = sandbox_with_vhost(s, lab, stapling=True)
    s.start()
    staple = run_module("ocsp.stapling.ocsp_staple_info", {"targets": [target], "ca_file": lab.pki.root_path})
    assert staple["results"][0]["stapled"] is True, staple["_output"]
    # Take the cache away (SSLUseStapling off keeps the configuration valid): graceful kills this Apache.
    s.set_global("# cache removed\n")
    s.write_conf("sites-enabled/good.conf", s.read_conf("sites-enabled/good.conf").replace(
        "SSLUseStapling on", "SSLUseStapling off"))
    assert s.configtest()[0]
    died = reload(run_module, s, mode="graceful", checks=[target])
    assert died["failed"] and died["alive"] is False, died["_output"]
    # The evidence names the graceful it died in (mod_ssl's AH00820/AH01872 reach the log on some runs only).
    assert "exited after" in died["msg"] and "AH00493" in died["msg"], died["msg"]
    # Restore the cache, and restart: Apache serves again (restart from a dead server is a start).
    s.set_global(STAPLING_GLOBAL)
    back = reload(run_module, s, mode="restart", checks=[target])
    assert not back["failed"], back["_output"]
    s.pid = back["pid_after"]
    assert s.alive() and back["checks"][0]["ok"]


def test_the_same_removal_survives_a_full_restart(run_module, apache_sandbox, lab):
    s = apache_sandbox
    target = sandbox_with_vhost(s, lab, stapling=True)
    s.start()
    run_module("ocsp.stapling.ocsp_staple_info", {"targets": [target], "ca_file": lab.pki.root_path})
    s.set_global("# cache removed\n")
    s.write_conf("sites-enabled/good.conf", s.read_conf("sites-enabled/good.conf").replace(
        "SSLUseStapling on", "SSLUseStapling off"))
    result = reload(run_module, s, mode="restart", checks=[target])
    assert not result["failed"], result["_output"]
    time.sleep(0.5)
    s.pid = result["pid_after"]
    assert s.alive()


def test_refused_configuration_signals_nothing(run_module, apache_sandbox, lab):
    s = apache_sandbox
    target = sandbox_with_vhost(s, lab, stapling=False)
    s.start()
    pid, resumes = s.pid, s._resumes()
    s.write_conf("conf-enabled/zz-broken.conf", "SSLStaplingCacheTypo on\n")
    result = reload(run_module, s, mode="graceful", checks=[target])
    assert result["failed"] and "not reloading" in result["msg"] and "Nothing was signalled" in result["msg"]
    assert s._read_pid() == pid and s._resumes() == resumes and s.alive()


def test_bad_input(run_module, apache_sandbox):
    s = apache_sandbox
    for args, fragment in (({"mode": "reboot"}, "mode"), ({"mode": "auto"}, "needed"),
                           ({"mode": "graceful", "checks": [{"host": "127.0.0.1", "port": 70000}]}, "65535")):
        result = reload(run_module, s, **args)
        assert result["failed"] and fragment in result["msg"], result["msg"]
