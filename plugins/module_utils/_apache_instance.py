# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: one Apache instance, and the one builder of its commands and environment.

Every Apache call of the collection (``-V``, the configtest with its dumps, graceful, restart) is
built here from the same binary, ``-d``/``-f``/``-D`` arguments and environment, so facts, changes
and reloads always concern the instance asked for, never the machine's default one.

On Debian the environment is what ``apache2ctl`` itself gets: its ``envvars`` sourced by a shell
with a clean environment plus ``APACHE_CONFDIR`` (exactly what the control script runs as root on
every start; no string is built from input: the file is the shell's ``$0``). Commands run through a
``run(argv, env) -> (rc, out, err)`` callable (the module's ``run_command``; tests pass recorded
outputs or the real thing).
"""

from __future__ import annotations

import os
import pwd

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

CONTROL_BINARIES = ("apache2ctl", "apachectl", "httpd", "apache2")
SHELL = "/bin/sh"
SHELL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Sourced with the file as $0 (never interpolated into the script). apache2ctl ignores the status
# of the "." itself; an `exit N` or a syntax error in the file ends the shell, and the missing
# marker says so. Then the exported environment (what the server process sees), and the two
# unexported settings apache2ctl itself reads.
_ENVVARS_SCRIPT = (
    '. "$0"; printf "ocsp.stapling-envvars\\0"; env -0; printf "\\001";'
    ' printf "APACHE_HTTPD=%s\\0APACHE_ARGUMENTS=%s\\0" "${APACHE_HTTPD-}" "${APACHE_ARGUMENTS-}"'
)
_MARKER = "ocsp.stapling-envvars\0"
# The shell's own variables, not the file's.
_SHELL_NOISE = ("PWD", "OLDPWD", "SHLVL", "_", "PATH")


def source_envvars(run, path, confdir):
    """The environment ``apache2ctl`` gets from ``path`` (Debian's envvars) for ``confdir``.

    Returns (exported, control): ``exported`` is what the server process inherits, ``control`` the
    unexported APACHE_HTTPD / APACHE_ARGUMENTS the control script uses itself (empty when unset).
    """
    argv = ["env", "-i", "APACHE_CONFDIR=" + confdir, "PATH=" + SHELL_PATH, SHELL, "-c", _ENVVARS_SCRIPT, path]
    rc, out, err = run(argv, None)
    out = out or ""
    if rc != 0 or _MARKER not in out:
        raise StaplingError("sourcing {0} the way apache2ctl does (sh, APACHE_CONFDIR={1}) failed (rc={2}): {3}. "
                            "Fix that file: apache2ctl and the init script fail on it too.".format(
                                path, confdir, rc, (err or out).strip()[:300] or "no output"))
    body = out.split(_MARKER, 1)[1]
    exported_text, _sep, control_text = body.partition("\001")
    exported = {}
    for item in exported_text.split("\0"):
        name, eq, value = item.partition("=")
        if eq and name and name not in _SHELL_NOISE:
            exported[name] = value
    control = {}
    for item in control_text.split("\0"):
        name, eq, value = item.partition("=")
        if eq and name:
            control[name] = value
    exported.setdefault("APACHE_CONFDIR", confdir)
    return exported, control


def server_binary(control, env):
    """The server binary (apache2/httpd) behind a control script, as apache2ctl picks it."""
    name = os.path.basename(control)
    directory = os.path.dirname(control)
    if name.startswith("apache2ctl") or name.startswith("apachectl"):
        for candidate in (env.get("APACHE_HTTPD"), os.path.join(directory, "apache2"), os.path.join(directory, "httpd"),
                          "/usr/sbin/apache2", "/usr/sbin/httpd"):
            if candidate and os.path.exists(candidate):
                return candidate
        raise StaplingError("found {0} but no server binary (apache2/httpd) beside it; set binary to the server "
                            "binary".format(control))
    return control


def debian_confdir(control, server_root, base_env):
    """APACHE_CONFDIR as apache2ctl derives it: the environment, else apache2ctl-NAME's suffix, else the default."""
    if base_env.get("APACHE_CONFDIR"):
        return base_env["APACHE_CONFDIR"]
    if server_root:
        return server_root
    name = os.path.basename(control)
    if name.startswith("apache2ctl-"):
        return "/etc/apache2-" + name[len("apache2ctl-"):]
    if name in ("apache2ctl", "apache2"):
        return "/etc/apache2"
    return None


class ApacheInstance(object):
    """The binary, arguments and environment of one Apache instance.

    ``resolve()`` finishes it once ``-V`` told the compiled-in defaults; until then ``server_root``
    may be None (``-V`` then runs with only the ``-D`` names and the environment, as Apache would).
    """

    def __init__(self, control, server_root=None, config_file=None, defines=(), base_env=None, run=None):
        self.control = control
        self.run = run
        self.base_env = dict(base_env or {})
        self.defines = list(defines or ())
        base_env = dict(base_env or {})
        self.confdir = debian_confdir(control, server_root, base_env)
        self.envvars = None
        self.env = base_env
        self.control_env = {}
        if self.confdir and run is not None:
            path = base_env.get("APACHE_ENVVARS") or os.path.join(self.confdir, "envvars")
            if os.path.isfile(path):
                self.envvars = path
                exported, self.control_env = source_envvars(run, path, self.confdir)
                self.env = dict(base_env, **exported)
        if not self.envvars:
            self.confdir = base_env.get("APACHE_CONFDIR")
        self.server = server_binary(control, dict(self.env, **self.control_env))
        # APACHE_ARGUMENTS: extra server arguments apache2ctl word-splits onto every call.
        self.extra_args = (self.control_env.get("APACHE_ARGUMENTS") or self.env.get("APACHE_ARGUMENTS") or "").split()
        # apache2ctl passes -d APACHE_CONFDIR: an instance found by its envvars is rooted there.
        self.server_root = server_root or (self.confdir if self.envvars else None)
        self.config_file = config_file

    # --- the one builder ---------------------------------------------------------------
    def resolve(self, settings):
        """Fill server_root / config_file from -V's compile settings (HTTPD_ROOT, SERVER_CONFIG_FILE)."""
        if not self.server_root:
            self.server_root = settings.get("HTTPD_ROOT") or "/etc/httpd"
        config_file = self.config_file or settings.get("SERVER_CONFIG_FILE") or "conf/httpd.conf"
        if not os.path.isabs(config_file):
            config_file = os.path.join(self.server_root, config_file)
        self.config_file = config_file
        return self

    def instance_args(self):
        args = list(self.extra_args)
        if self.server_root:
            args += ["-d", self.server_root]
        if self.config_file:
            args += ["-f", self.config_file]
        for name in self.defines:
            args += ["-D", name]
        return args

    def server_argv(self, *args):
        """argv for the server binary on this instance: ``apache2 -d ROOT -f FILE -D NAME... ARGS``."""
        return [self.server] + self.instance_args() + list(args)

    def configtest_argv(self, *dumps):
        argv = self.server_argv("-t")
        for name in dumps:
            argv += ["-D", name]
        return argv

    def signal_argv(self, action):
        """``-k graceful|restart|stop|start`` on this instance, as apache2ctl runs it after its configtest."""
        if action not in ("start", "stop", "graceful", "restart", "graceful-stop"):
            raise StaplingError("unknown Apache action {0!r}".format(action))
        return self.server_argv("-k", action)

    def run_env(self):
        """The environment every Apache command of this instance gets (plus LC_ALL=C from the runner)."""
        return dict(self.env)

    # --- what the control script does before every command -------------------------------
    def runtime_dirs(self):
        """(path, owner or None) apache2ctl creates before every command, configtest included."""
        if not self.envvars:
            return []
        run_dir = self.env.get("APACHE_RUN_DIR") or "/var/run/apache2"
        lock_dir = self.env.get("APACHE_LOCK_DIR") or "/var/lock/apache2"
        user = self.env.get("APACHE_RUN_USER") or "www-data"
        return [(run_dir, None), (os.path.join(run_dir, "socks"), user), (lock_dir, user)]

    def prepare_runtime(self):
        """Create the run dir, its socks/ and the lock dir as apache2ctl does (a host whose Apache is
        installed but has not run since boot has none: /run is a tmpfs). Starts nothing. Returns the
        directories created."""
        created = []
        for path, owner in self.runtime_dirs():
            if os.path.isdir(path):
                continue
            try:
                os.makedirs(path, 0o755)
                os.chmod(path, 0o755)
                if owner:
                    try:
                        entry = pwd.getpwnam(owner)
                        os.chown(path, entry.pw_uid, entry.pw_gid)
                    except KeyError:
                        raise StaplingError("cannot create {0} for user {1}: no such user (APACHE_RUN_USER in {2})"
                                            .format(path, owner, self.envvars))
            except OSError as exc:
                raise StaplingError("cannot create {0}, which apache2ctl creates before every command: {1}".format(
                    path, exc.strerror or exc))
            created.append(path)
        return created

    # --- what later steps need to find this instance again --------------------------------
    def runtime_layout(self, global_directives=(), settings=None):
        """run_dir, pid_file, lock_dir, log_dir, error_log, envvars, env (the APACHE_* names).

        From the configuration in force first (DefaultRuntimeDir, PidFile, ErrorLog, as Apache
        resolves them: each relative to ServerRoot, PidFile too: httpd's ap_log_pid, so Red Hat's
        compiled-in run/httpd.pid is /etc/httpd/run/httpd.pid), then the environment, then the
        compiled-in defaults."""
        settings = settings or {}
        last = {}
        for d in global_directives:
            if d.args:
                last[d.name.lower()] = d.args[0]
        root = self.server_root or ""

        def rel(path, base):
            return path if not path or os.path.isabs(path) else os.path.normpath(os.path.join(base, path))

        run_dir = last.get("defaultruntimedir") or self.env.get("APACHE_RUN_DIR")
        if not run_dir and settings.get("DEFAULT_REL_RUNTIMEDIR"):
            run_dir = settings["DEFAULT_REL_RUNTIMEDIR"]
        run_dir = rel(run_dir, root) if run_dir else None
        pid_file = last.get("pidfile") or self.env.get("APACHE_PID_FILE") or settings.get("DEFAULT_PIDLOG")
        pid_file = rel(pid_file, root) if pid_file else None
        error_log = last.get("errorlog") or settings.get("DEFAULT_ERRORLOG")
        if error_log and not error_log.startswith(("|", "syslog")):
            error_log = rel(error_log, root)
        log_dir = self.env.get("APACHE_LOG_DIR")
        if not log_dir and error_log and error_log.startswith("/"):
            log_dir = os.path.dirname(error_log)
        return {
            "run_dir": run_dir,
            "pid_file": pid_file,
            "lock_dir": self.env.get("APACHE_LOCK_DIR"),
            "log_dir": log_dir,
            "error_log": error_log,
            "envvars": self.envvars,
            "env": dict((k, v) for k, v in sorted(self.env.items()) if k.startswith("APACHE_")),
        }


# --- the one interface of "which Apache instance" for modules ----------------------------------------------------
# The options every module that acts on an Apache instance takes (documented once, in the doc fragment
# ocsp.stapling._apache_instance), and the one place that turns them into an ApacheInstance.
INSTANCE_OPTIONS = ("binary", "server_root", "config_file", "defines")
BINARY_DIRS = ["/usr/sbin", "/usr/local/apache2/bin"]


def instance_argument_spec():
    """The argument spec of the instance options (binary, server_root, config_file, defines)."""
    return dict(
        binary=dict(type="path"),
        server_root=dict(type="path"),
        config_file=dict(type="path"),
        defines=dict(type="list", elements="str", default=[]),
    )


def find_binary(module):
    """The control or server binary given (it must exist), else the first of CONTROL_BINARIES found; fails the
    module naming what to set."""
    binary = module.params.get("binary")
    if binary:
        if not os.path.exists(binary):
            module.fail_json(msg="binary {0} does not exist; give the path of apache2ctl, apachectl, httpd or "
                                 "apache2".format(binary))
        return binary
    for name in CONTROL_BINARIES:
        binary = module.get_bin_path(name, opt_dirs=BINARY_DIRS)
        if binary:
            return binary
    module.fail_json(msg="no Apache binary found ({0}) on PATH or in {1}; install Apache or set binary".format(
        ", ".join(CONTROL_BINARIES), ", ".join(BINARY_DIRS)))


def module_runner(module):
    """run(argv, env) -> (rc, out, err) over the module's run_command, with LC_ALL=C and the instance's environment."""
    def run(argv, env):
        environ = {"LC_ALL": "C"}
        environ.update(env or {})
        return module.run_command(argv, environ_update=environ)
    return run


def instance_from_module(module, layout=None):
    """The ApacheInstance the module's instance options name (not resolved yet: ``_apache.gather`` runs ``-V`` and
    resolves it). ``layout``: an instance already read (apache_info's ``layout``, or a journal's): its ServerRoot and
    main configuration file are taken as resolved, so nothing needs to ask Apache again. Raises StaplingError when
    the instance's envvars cannot be sourced; fails the module when no binary is found."""
    p = module.params
    binary = find_binary(module)
    base_env = {}
    # apache2ctl honours APACHE_CONFDIR from its environment: so does every command we run on its behalf.
    if not p.get("server_root") and os.environ.get("APACHE_CONFDIR"):
        base_env["APACHE_CONFDIR"] = os.environ["APACHE_CONFDIR"]
    server_root, config_file = p.get("server_root"), p.get("config_file")
    if layout:
        server_root, config_file = layout.get("server_root") or server_root, layout.get("config_file") or config_file
    instance = ApacheInstance(binary, server_root=server_root, config_file=config_file, defines=p.get("defines") or (),
                              base_env=base_env, run=module_runner(module))
    if layout and layout.get("server_root") and layout.get("config_file"):
        instance.resolve({})
    return instance


def same_instance(params, layout, journal=None):
    """Refuse facts (apache_facts, or ``journal``'s recorded ones) of another Apache instance than the one the options
    name (server_root, config_file, where given)."""
    layout = layout or {}
    for key in ("server_root", "config_file"):
        given, recorded = params.get(key), layout.get(key)
        if not given or not recorded:
            continue
        if key == "config_file" and not os.path.isabs(given):
            given = os.path.join(layout.get("server_root") or "", given)
        if os.path.realpath(given) == os.path.realpath(recorded):
            continue
        if journal:
            raise StaplingError("journal {0} belongs to another Apache instance ({1} {2}), not to {1} {3}; give that "
                                "instance's server_root and config_file".format(journal, key, recorded, params[key]))
        raise StaplingError("apache_facts are of another Apache instance ({0} {1}) than {0} {2}; give the facts this "
                            "instance's apache_info returned, or leave {0} out".format(key, recorded, params[key]))
