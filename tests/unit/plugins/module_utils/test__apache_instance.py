"""The one builder of Apache commands and environment, with the real /bin/sh sourcing envvars
(as apache2ctl does) and real directories; no Apache process is started here."""

import os
import pwd
import subprocess

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils._apache_config import Directive
from ansible_collections.ocsp.stapling.plugins.module_utils._apache_instance import (
    ApacheInstance, debian_confdir, source_envvars)
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

STOCK_ENVVARS = "/etc/apache2/envvars"  # Debian's own file (read only)


def real_run(argv, env):
    calls = real_run.calls
    calls.append(list(argv))
    proc = subprocess.run(argv, env=dict(os.environ, LC_ALL="C", **(env or {})), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


real_run.calls = []


def confdir(tmp_path, envvars, name="conf"):
    d = tmp_path / name
    d.mkdir()
    (d / "envvars").write_text(envvars)
    return str(d)


@pytest.mark.skipif(not os.path.exists(STOCK_ENVVARS), reason="Debian's apache2 package provides envvars")
def test_stock_envvars_of_a_second_instance():
    """Debian computes SUFFIX in an `if` from APACHE_CONFDIR: apache2-web2 gets its own run dir and pid file."""
    exported = source_envvars(real_run, STOCK_ENVVARS, "/etc/apache2-web2")[0]
    assert exported["APACHE_RUN_DIR"] == "/var/run/apache2-web2"
    assert exported["APACHE_PID_FILE"] == "/var/run/apache2-web2/apache2.pid"
    assert exported["APACHE_LOCK_DIR"] == "/var/lock/apache2-web2"
    assert exported["APACHE_LOG_DIR"] == "/var/log/apache2-web2"
    assert exported["APACHE_CONFDIR"] == "/etc/apache2-web2"
    assert "SUFFIX" not in exported and "HOME" not in exported  # not exported / unset, as apache2 sees it
    main = source_envvars(real_run, STOCK_ENVVARS, "/etc/apache2")[0]
    assert main["APACHE_RUN_DIR"] == "/var/run/apache2"


def test_shell_features_beyond_export_lines(tmp_path):
    other = tmp_path / "more-envvars"
    other.write_text("APACHE_LOG_DIR=/srv/logs/${SITE:-default}\nexport APACHE_LOG_DIR\n")
    d = confdir(tmp_path, "export HOME=/root A=1\nunset HOME\n"
                          "export APACHE_RUN_USER=www-data APACHE_RUN_GROUP=www-data APACHE_RUN_DIR=/srv/run/x\n"
                          "if [ -n \"$APACHE_CONFDIR\" ]; then export APACHE_LOCK_DIR=$APACHE_RUN_DIR/lock; fi\n"
                          ". {0}\n"
                          "APACHE_HTTPD=/usr/sbin/apache2\nAPACHE_ARGUMENTS='-D STAGING -D X'\n"
                          "export NOT_SET_BY_DEFAULT=\"${{UNSET_THING:-fallback value}}\"\n"
                          "false\n".format(other))
    exported, control = source_envvars(real_run, os.path.join(d, "envvars"), d)
    assert exported["A"] == "1" and "HOME" not in exported
    assert exported["APACHE_RUN_GROUP"] == "www-data" and exported["APACHE_RUN_DIR"] == "/srv/run/x"
    assert exported["APACHE_LOCK_DIR"] == "/srv/run/x/lock"
    assert exported["APACHE_LOG_DIR"] == "/srv/logs/default"
    assert exported["NOT_SET_BY_DEFAULT"] == "fallback value"
    # Unexported, yet apache2ctl reads them itself.
    assert "APACHE_ARGUMENTS" not in exported
    assert control == {"APACHE_HTTPD": "/usr/sbin/apache2", "APACHE_ARGUMENTS": "-D STAGING -D X"}
    # The file is the shell's $0, never part of the script text.
    argv = real_run.calls[-1]
    assert argv[-1] == os.path.join(d, "envvars") and d not in argv[-2]


@pytest.mark.parametrize("body, fragment", [
    ("export APACHE_RUN_DIR=/x\nexit 3\n", "rc=3"),
    ("export APACHE_RUN_DIR=/x\nif then fi\n", "rc=2"),
])
def test_envvars_that_fail_name_the_file(tmp_path, body, fragment):
    d = confdir(tmp_path, body)
    with pytest.raises(StaplingError) as err:
        ApacheInstance("/usr/sbin/apache2ctl", server_root=d, run=real_run)
    assert os.path.join(d, "envvars") in err.value.msg and fragment in err.value.msg
    assert "Fix that file" in err.value.msg


def test_every_command_carries_the_instance(tmp_path):
    d = confdir(tmp_path, "export APACHE_RUN_DIR={0}/run\nAPACHE_ARGUMENTS=-DFOO\n".format(tmp_path))
    inst = ApacheInstance("/usr/sbin/apache2ctl", server_root=d, defines=["SSL"], run=real_run)
    inst.resolve({"HTTPD_ROOT": "/etc/apache2", "SERVER_CONFIG_FILE": "apache2.conf"})
    head = ["/usr/sbin/apache2", "-DFOO", "-d", d, "-f", os.path.join(d, "apache2.conf"), "-D", "SSL"]
    assert inst.server_argv("-V") == head + ["-V"]
    assert inst.configtest_argv("DUMP_VHOSTS") == head + ["-t", "-D", "DUMP_VHOSTS"]
    assert inst.signal_argv("graceful") == head + ["-k", "graceful"]
    assert inst.run_env()["APACHE_RUN_DIR"] == str(tmp_path / "run")
    assert inst.run_env()["APACHE_CONFDIR"] == d
    with pytest.raises(StaplingError):
        inst.signal_argv("rm")


def test_confdir_as_apache2ctl_derives_it():
    """apache2ctl-NAME means APACHE_CONFDIR=/etc/apache2-NAME (setup-instance's symlinks); the environment wins."""
    assert debian_confdir("/usr/local/sbin/apache2ctl-web2", None, {}) == "/etc/apache2-web2"
    assert debian_confdir("/usr/sbin/apache2ctl", None, {}) == "/etc/apache2"
    assert debian_confdir("/usr/sbin/apache2ctl", None, {"APACHE_CONFDIR": "/srv/a"}) == "/srv/a"
    assert debian_confdir("/usr/sbin/apache2ctl", "/srv/root", {}) == "/srv/root"
    assert debian_confdir("/usr/sbin/httpd", None, {}) is None


def test_runtime_dirs_made_as_apache2ctl_makes_them(tmp_path):
    run_dir, lock_dir = tmp_path / "run" / "apache2-x", tmp_path / "lock" / "apache2-x"
    d = confdir(tmp_path, "export APACHE_RUN_USER=www-data\nexport APACHE_RUN_DIR={0}\nexport APACHE_LOCK_DIR={1}\n"
                .format(run_dir, lock_dir))
    inst = ApacheInstance("/usr/sbin/apache2ctl", server_root=d, run=real_run)
    created = inst.prepare_runtime()
    assert created == [str(run_dir), str(run_dir / "socks"), str(lock_dir)]
    www = pwd.getpwnam("www-data")
    assert os.stat(str(run_dir / "socks")).st_uid == www.pw_uid and os.stat(str(lock_dir)).st_uid == www.pw_uid
    assert oct(os.stat(str(run_dir)).st_mode & 0o777) == "0o755"
    assert inst.prepare_runtime() == []  # nothing left to make


def test_runtime_layout_follows_the_configuration(tmp_path):
    d = confdir(tmp_path, "export APACHE_RUN_DIR=/from/env\nexport APACHE_PID_FILE=/from/env/apache2.pid\n"
                          "export APACHE_LOG_DIR=/var/log/apache2-x\nexport APACHE_LOCK_DIR=/lock\n")
    inst = ApacheInstance("/usr/sbin/apache2ctl", server_root=d, run=real_run).resolve({})
    env_only = inst.runtime_layout([], {})
    assert env_only["run_dir"] == "/from/env" and env_only["pid_file"] == "/from/env/apache2.pid"
    assert env_only["envvars"] == os.path.join(d, "envvars") and env_only["lock_dir"] == "/lock"
    assert env_only["env"]["APACHE_LOG_DIR"] == "/var/log/apache2-x"
    directives = [Directive("DefaultRuntimeDir", ["run"], "x", 1), Directive("PidFile", ["run/httpd.pid"], "x", 2),
                  Directive("ErrorLog", ["logs/error_log"], "x", 3)]
    conf = inst.runtime_layout(directives, {})
    # A relative PidFile is ServerRoot's, not DefaultRuntimeDir's (httpd's ap_log_pid: ap_server_root_relative):
    # Red Hat's run/httpd.pid is /etc/httpd/run/httpd.pid, never .../run/run/httpd.pid.
    assert conf["run_dir"] == os.path.join(d, "run") and conf["pid_file"] == os.path.join(d, "run", "httpd.pid")
    assert conf["error_log"] == os.path.join(d, "logs/error_log")


def test_relative_pid_file_is_server_root_relative(tmp_path):
    """Measured with Debian's apache2 2.4.71 (DefaultRuntimeDir run, PidFile run/httpd.pid: the pid file is
    ROOT/run/httpd.pid) and as httpd's log.c says. Red Hat's httpd has DEFAULT_PIDLOG run/httpd.pid compiled in."""
    root = str(tmp_path / "httpd")
    inst = ApacheInstance("/usr/sbin/httpd", server_root=root).resolve({})
    compiled = inst.runtime_layout([], {"DEFAULT_PIDLOG": "run/httpd.pid"})
    assert compiled["pid_file"] == os.path.join(root, "run", "httpd.pid")
    directives = [Directive("DefaultRuntimeDir", ["/run/httpd"], "x", 1), Directive("PidFile", ["httpd.pid"], "x", 2)]
    conf = inst.runtime_layout(directives, {})
    assert conf["run_dir"] == "/run/httpd" and conf["pid_file"] == os.path.join(root, "httpd.pid")
