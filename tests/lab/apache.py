"""Debian's apache2 in a sandbox: its own APACHE_CONFDIR, run/lock/log dirs, loopback ports.

The sandbox is a copy of the machine's /etc/apache2 (so it has Debian's real layout:
envvars, mods-/conf-/sites-enabled, a2enmod-style symlinks) with its own ``envvars``,
``ports.conf`` and sites, kept as a stock host keeps them: every site is a file in
``sites-available/`` enabled by Debian's own ``a2ensite`` (a relative symlink in ``sites-enabled/``),
the stock ``conf-enabled/`` stays as the package made it, and with ``stock`` Debian's ``000-default``
and ``default-ssl`` sites are enabled too (default-ssl's only change: its port, a free loopback one, as
``ports.conf`` says). Every apache2ctl / a2en* call carries ``APACHE_CONFDIR``: without it they act on the machine's
default instance. The machine's /etc/apache2 is only read, never written.
"""

import grp
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

from .procs import free_port, pid_alive, stop_pid

SYSTEM_CONFDIR = "/etc/apache2"
MODULES = ("ssl", "socache_shmcb", "headers")
SNAKEOIL = "/etc/ssl/certs/ssl-cert-snakeoil.pem"


class ApacheError(RuntimeError):
    """Apache did not do what the lab asked; the message carries the error log's tail."""


class ApacheSandbox(object):
    def __init__(self, workdir, name="apache", modules=MODULES, stock=False):
        self.root = os.path.join(workdir, name)
        self.confdir = os.path.join(self.root, "conf")
        self.run_dir = os.path.join(self.root, "run")
        self.lock_dir = os.path.join(self.root, "lock")
        self.log_dir = os.path.join(self.root, "log")
        self.vhosts = {}
        self.ports = set()
        self.pid = None
        self._build(modules, stock)
        if stock:
            self.enable_default_ssl()

    # --- layout -------------------------------------------------------------------
    def _build(self, modules, stock):
        if os.path.exists(self.confdir):
            shutil.rmtree(self.confdir)
        shutil.copytree(SYSTEM_CONFDIR, self.confdir, symlinks=True)
        for d in (self.run_dir, self.lock_dir, self.log_dir):
            os.makedirs(d, exist_ok=True)
        # No site of the machine's own; a stock sandbox has Debian's 000-default enabled (on *:80, which no Listen of
        # the sandbox serves). conf-enabled stays as the package made it.
        sites = os.path.join(self.confdir, "sites-enabled")
        for entry in os.listdir(sites):
            os.unlink(os.path.join(sites, entry))
        if stock and os.path.exists(os.path.join(self.confdir, "sites-available", "000-default.conf")):
            self.a2ensite("000-default")
        with open(os.path.join(self.confdir, "envvars"), "w") as f:
            f.write("# ocsp.stapling lab sandbox\nunset HOME\n"
                    "export APACHE_RUN_USER=www-data\nexport APACHE_RUN_GROUP=www-data\n"
                    "export APACHE_PID_FILE={run}/apache2.pid\nexport APACHE_RUN_DIR={run}\n"
                    "export APACHE_LOCK_DIR={lock}\nexport APACHE_LOG_DIR={log}\nexport LANG=C\nexport LANG\n"
                    .format(run=self.run_dir, lock=self.lock_dir, log=self.log_dir))
        for mod in modules:
            self.enable_module(mod)
        # Apache's default ErrorLog is ${APACHE_LOG_DIR}/error.log; keep debug-free but useful.
        self.write_conf("conf-enabled/00-lab.conf", "ServerName lab.test\nLogLevel warn ssl:info\n")
        self._write_ports()

    def enable_module(self, mod):
        """What a2enmod does: symlink mods-available/<mod>.{load,conf} into mods-enabled."""
        for ext in ("load", "conf"):
            src = os.path.join("..", "mods-available", mod + "." + ext)
            dst = os.path.join(self.confdir, "mods-enabled", mod + "." + ext)
            if os.path.exists(os.path.join(self.confdir, "mods-available", mod + "." + ext)) \
                    and not os.path.lexists(dst):
                os.symlink(src, dst)

    def disable_module(self, mod):
        for ext in ("load", "conf"):
            dst = os.path.join(self.confdir, "mods-enabled", mod + "." + ext)
            if os.path.lexists(dst):
                os.unlink(dst)

    def write_conf(self, relpath, text, mode=None, group=None):
        """Write a raw config file below the sandbox's APACHE_CONFDIR (mode and group kept where given); returns its
        path. A path through a symlink (sites-enabled/NAME.conf) writes its target, as an editor would."""
        path = os.path.join(self.confdir, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        if mode is not None:
            os.chmod(path, mode)
        if group is not None:
            os.chown(path, 0, grp.getgrnam(group).gr_gid)
        return path

    def _tool(self, tool, *args):
        proc = subprocess.run([tool, "-q"] + list(args), env=self.ctl_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            raise ApacheError("{0} {1} failed ({2}): {3}".format(tool, " ".join(args), proc.returncode, proc.stdout))
        return proc

    def a2ensite(self, name):
        """Debian's own a2ensite (APACHE_CONFDIR set): the relative symlink sites-enabled/NAME.conf."""
        return self._tool("a2ensite", name)

    def a2dissite(self, name):
        return self._tool("a2dissite", name)

    def site_path(self, name):
        """The file of site NAME (sites-available/NAME.conf), the one an operator edits."""
        return os.path.join(self.confdir, "sites-available", name + ".conf")

    def enabled_path(self, name):
        """The enabling symlink of site NAME (sites-enabled/NAME.conf)."""
        return os.path.join(self.confdir, "sites-enabled", name + ".conf")

    def enable_default_ssl(self, port=None):
        """The stock default-ssl site (snakeoil certificate, no OCSP URI) on a free loopback port, enabled by a2ensite.
        Its only change is the port of its <VirtualHost *:443> line."""
        if not os.path.exists(SNAKEOIL):
            raise ApacheError("{0} is missing: install Debian's ssl-cert package (scripts/apt-packages.txt has it) for "
                              "the stock default-ssl site".format(SNAKEOIL))
        port = port or free_port()
        path = self.site_path("default-ssl")
        with open(path) as f:
            text = f.read()
        new, count = re.subn(r"<VirtualHost\s+(_default_|\*):443>", "<VirtualHost *:{0}>".format(port), text)
        if count != 1:
            raise ApacheError("{0}: no <VirtualHost ...:443> line to move to port {1}".format(path, port))
        with open(path, "w") as f:
            f.write(new)
        self.a2ensite("default-ssl")
        self.ports.add(port)
        self._write_ports()
        target = {"host": "127.0.0.1", "port": port, "sni": None}
        self.vhosts["default-ssl"] = target
        return target

    def read_conf(self, relpath):
        with open(os.path.join(self.confdir, relpath)) as f:
            return f.read()

    def _write_ports(self):
        lines = ["# ocsp.stapling lab: loopback only"]
        lines += ["Listen 127.0.0.1:{0}".format(p) for p in sorted(self.ports)]
        if not self.ports:
            # Apache needs at least one listener to start.
            self.http_port = getattr(self, "http_port", None) or free_port()
            lines.append("Listen 127.0.0.1:{0}".format(self.http_port))
        self.write_conf("ports.conf", "\n".join(lines) + "\n")

    def set_global(self, text, name="zz-lab-stapling"):
        """Global server config snippet (conf-enabled/<name>.conf), e.g. SSLStaplingCache."""
        return self.write_conf("conf-enabled/{0}.conf".format(name), text)

    def add_vhost(self, name, cert_path, key_path, chain_path=None, port=None, server_name=None,
                  aliases=(), directives=(), ca_path=None, mode=None, group=None):
        """A TLS vhost in sites-available/<name>.conf (mode and group where given), enabled with a2ensite as on a
        stock Debian host; returns {"host", "port", "sni"}."""
        port = port or free_port()
        server_name = server_name or name.replace("_", "-") + ".lab.test"
        lines = ["<VirtualHost 127.0.0.1:{0}>".format(port),
                 "    ServerName {0}".format(server_name)]
        lines += ["    ServerAlias {0}".format(a) for a in aliases]
        lines += ["    SSLEngine on",
                  "    SSLCertificateFile {0}".format(cert_path),
                  "    SSLCertificateKeyFile {0}".format(key_path)]
        if chain_path:
            lines.append("    SSLCertificateChainFile {0}".format(chain_path))
        if ca_path:
            lines.append("    SSLCACertificateFile {0}".format(ca_path))
        lines += ["    " + d for d in directives]
        lines += ["    DocumentRoot /var/www/html", "</VirtualHost>", ""]
        self.write_conf("sites-available/{0}.conf".format(name), "\n".join(lines), mode=mode, group=group)
        self.a2ensite(name)
        self.ports.add(port)
        self._write_ports()
        target = {"host": "127.0.0.1", "port": port, "sni": server_name}
        self.vhosts[name] = target
        return target

    def remove_vhost(self, name):
        self.a2dissite(name)
        os.unlink(self.site_path(name))
        target = self.vhosts.pop(name)
        if not any(t["port"] == target["port"] for t in self.vhosts.values()):
            self.ports.discard(target["port"])
        self._write_ports()

    # --- control ------------------------------------------------------------------
    @property
    def ctl_env(self):
        env = dict(os.environ)
        env["APACHE_CONFDIR"] = self.confdir
        # a2ensite & co. keep state markers in /var/lib/apache2 whatever the tree: labs side by side (xdist workers)
        # raced on them ("Failed to remove old marker"). Each sandbox keeps its own.
        env["APACHE_STATE_DIRECTORY"] = os.path.join(self.root, "state")
        env["LC_ALL"] = "C"
        return env

    @property
    def error_log(self):
        return os.path.join(self.log_dir, "error.log")

    @property
    def pid_file(self):
        return os.path.join(self.run_dir, "apache2.pid")

    def ctl(self, *args, check=False, timeout=60):
        """apache2ctl with this sandbox's APACHE_CONFDIR (never the machine's instance)."""
        proc = subprocess.run(["apache2ctl"] + list(args), env=self.ctl_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
        if check and proc.returncode != 0:
            raise ApacheError("apache2ctl {0} failed ({1}):\n{2}".format(" ".join(args), proc.returncode, proc.stdout))
        return proc

    def configtest(self):
        """(ok, output) of apache2ctl configtest."""
        proc = self.ctl("configtest")
        return proc.returncode == 0, proc.stdout

    def _read_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def log_text(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _resumes(self):
        return len(re.findall(r"resuming normal operations", self.log_text()))

    def _wait_generation(self, before, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._resumes() > before:
                pid = self._read_pid()
                if pid and pid_alive(pid):
                    self.pid = pid
                    return
            if self.pid and not pid_alive(self.pid):
                raise ApacheError("apache exited; error log tail:\n" + self.log_tail())
            time.sleep(0.01)
        raise ApacheError("apache did not come up within {0}s; error log tail:\n{1}".format(timeout, self.log_tail()))

    def log_tail(self, n=15):
        return "\n".join(self.log_text().splitlines()[-n:])

    def start(self, timeout=15):
        if self.alive():
            raise ApacheError("sandbox apache already running as pid {0}".format(self.pid))
        before = self._resumes()
        self.ctl("start", check=True)
        self.pid = self._read_pid()
        self._wait_generation(before, timeout)
        self.wait_serving(timeout=timeout)
        return self

    def graceful(self, timeout=15):
        """Graceful reload; returns once the new generation serves; raises if Apache died."""
        before = self._resumes()
        self.ctl("graceful", check=True)
        self._wait_generation(before, timeout)
        self.wait_serving(timeout=timeout)
        if not self.alive():
            raise ApacheError("apache died after graceful; error log tail:\n" + self.log_tail())

    def stop(self, timeout=15):
        """Full stop, by PID (SIGTERM to the parent, which stops its children)."""
        pid = self._read_pid() or self.pid
        if pid:
            stop_pid(pid, timeout=timeout)
        self.pid = None
        for entry in ("apache2.pid",):
            path = os.path.join(self.run_dir, entry)
            if os.path.exists(path) and not pid_alive(self._read_pid()):
                os.unlink(path)

    def alive(self):
        pid = self._read_pid() or self.pid
        return bool(pid) and pid_alive(pid)

    def wait_serving(self, timeout=10):
        """Wait until every TLS port completes a handshake (or the plain listener accepts)."""
        deadline = time.monotonic() + timeout
        targets = list(self.vhosts.values()) or [{"host": "127.0.0.1", "port": self.http_port, "sni": None}]
        pending = {t["port"]: t for t in targets}
        while pending and time.monotonic() < deadline:
            for port, t in list(pending.items()):
                if self._handshake(t) or (not self.vhosts and self._connect(t)):
                    del pending[port]
            if pending:
                time.sleep(0.02)
        if pending:
            raise ApacheError("ports {0} not serving after {1}s; error log tail:\n{2}".format(
                sorted(pending), timeout, self.log_tail()))

    @staticmethod
    def _connect(t):
        try:
            with socket.create_connection((t["host"], t["port"]), timeout=1):
                return True
        except OSError:
            return False

    @staticmethod
    def _handshake(t):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection((t["host"], t["port"]), timeout=2) as sock:
                with ctx.wrap_socket(sock, server_hostname=t["sni"]):
                    return True
        except (OSError, ssl.SSLError):
            return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
