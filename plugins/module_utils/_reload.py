# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: reload or restart one Apache instance, and prove that it lives.

The exit status of ``apachectl graceful`` proves nothing: Apache can exit about 1.3 s after a graceful
that returned 0 (stapling without a cache, AH01958/AH01872), and removing the stapling cache kills it
on graceful and on ``apachectl restart`` alike (AH00820). So every reload is followed by evidence:
the new generation in the instance's error log, the parent PID from its pid file alive, still alive
after a settle time, and a TLS handshake on every check target.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import time

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

RESUMING = "resuming normal operations"
_AH = re.compile(r"\bAH\d{5}\b")


def read_pid(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except (IOError, OSError, TypeError):
        return None
    return int(text) if text.isdigit() else None


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/{0}/stat".format(pid)) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (IOError, OSError, IndexError):
        return True


class LogTail(object):
    """The lines an error log gains from now on (a rotated, shorter log is read from its start)."""

    def __init__(self, path):
        self.path = path
        self.offset = self._size()

    def _size(self):
        try:
            return os.path.getsize(self.path) if self.path else 0
        except OSError:
            return 0

    def text(self):
        if not self.path:
            return ""
        start = self.offset if self._size() >= self.offset else 0
        try:
            with open(self.path, "rb") as f:
                f.seek(start)
                return f.read(1 << 20).decode("utf-8", "replace")
        except (IOError, OSError):
            return ""

    def lines(self):
        return [line for line in self.text().splitlines() if line.strip()]


def ah_codes(lines):
    return sorted(set(code for line in lines for code in _AH.findall(line)))


def handshake(target, timeout=3.0):
    """(ok, error) of one TLS handshake with target {host, port, sni}; the certificate is not judged here."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((target["host"], int(target["port"])), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=target.get("sni") or None):
                return True, None
    except (OSError, ssl.SSLError) as exc:
        return False, str(exc)


def _accepts(target):
    try:
        with socket.create_connection((target["host"], int(target["port"])), timeout=0.5):
            return True
    except OSError:
        return False


def validate_checks(checks):
    out = []
    for i, c in enumerate(checks or []):
        port = c.get("port")
        if not c.get("host") or not isinstance(port, int) or not 0 < port < 65536:
            raise StaplingError("checks[{0}] {1!r} needs host and a port between 1 and 65535".format(i, c))
        out.append({"host": c["host"], "port": port, "sni": c.get("sni")})
    return out


def decide(mode, needed):
    """What to do: none, graceful or restart."""
    if mode != "auto":
        return mode
    if needed is None:
        raise StaplingError("mode auto needs needed (the reload apache_stapling_config returned: none, graceful or "
                            "restart)")
    return needed


class Reloader(object):
    def __init__(self, instance, layout, run, use_control, sleep=time.sleep, clock=time.monotonic):
        self.instance = instance
        self.layout = layout
        self.run = run
        self.use_control = use_control
        self.sleep = sleep
        self.clock = clock

    def _command(self, action):
        if self.use_control:
            return [self.instance.control, action]
        return self.instance.signal_argv(action)

    def _do(self, action):
        self.instance.prepare_runtime()
        argv = self._command(action)
        rc, out, err = self.run(argv, self.instance.run_env())
        return rc, ((out or "") + (err or "")).strip(), argv

    def pid(self):
        return read_pid(self.layout.get("pid_file"))

    def _clear_stale_pid(self):
        """A pid file naming a dead process (or a zombie nobody reaped) makes Apache refuse to start
        ("already running"): remove it, as an operator would."""
        path = self.layout.get("pid_file")
        pid = self.pid()
        if pid and not pid_alive(pid) and path and os.path.exists(path):
            os.unlink(path)

    def _fail(self, msg, tail, **extra):
        lines = tail.lines()
        codes = ah_codes(lines)
        evidence = " Error log since the reload ({0}): {1}".format(
            ", ".join(codes) or "no AH codes", " | ".join(lines[-8:]) or "empty")
        raise StaplingError(msg + evidence, log=lines, alive=pid_alive(self.pid()), **extra)

    def _wait(self, predicate, timeout):
        deadline = self.clock() + timeout
        while True:
            if predicate():
                return True
            if self.clock() >= deadline:
                return False
            self.sleep(0.02)

    def _checks(self, checks, timeout):
        """Every check target answering a handshake, within timeout; returns per-target results."""
        deadline = self.clock() + timeout
        results = dict((i, {"ok": False, "error": None}) for i in range(len(checks)))
        while True:
            for i, c in enumerate(checks):
                if not results[i]["ok"]:
                    ok, error = handshake(c)
                    results[i] = {"ok": ok, "error": error}
            if all(r["ok"] for r in results.values()) or self.clock() >= deadline:
                break
            self.sleep(0.05)
        return [dict(c, **results[i]) for i, c in enumerate(checks)]

    def reload(self, action, checks, timeout=30, settle=2.0):
        tail = LogTail(self.layout.get("error_log"))
        before = self.pid()
        result = {"mode": action, "pid_before": before if pid_alive(before) else None, "pid_after": None,
                  "downtime": None, "alive": False, "checks": [], "log": []}
        started = self.clock()
        if action == "graceful":
            was_running = pid_alive(before)
            if not was_running:
                self._clear_stale_pid()
            rc, output, argv = self._do("graceful" if was_running else "start")
            if rc != 0:
                self._fail("{0} failed (rc={1}): {2}.".format(" ".join(argv), rc, output[-500:]), tail)
            ok = self._wait(lambda: (RESUMING in tail.text() and pid_alive(self.pid()))
                            or (was_running and not pid_alive(before)), timeout)
            if was_running and not pid_alive(before):
                self._fail("Apache (pid {0}) exited after {1}, which returned 0.".format(before, " ".join(argv)),
                           tail)
            if not ok:
                self._fail("no new generation of Apache took over within {0}s after {1}.".format(
                    timeout, " ".join(argv)), tail)
        elif action == "restart":
            if pid_alive(before):
                rc, output, argv = self._do("stop")
                if rc != 0:
                    self._fail("{0} failed (rc={1}): {2}.".format(" ".join(argv), rc, output[-500:]), tail)
                if not self._wait(lambda: not pid_alive(before), timeout):
                    self._fail("Apache (pid {0}) did not stop within {1}s.".format(before, timeout), tail)
            # A parent that died leaves its children a moment longer, holding the ports: a start then fails
            # on "Address already in use" before the error log is open.
            self._wait(lambda: not any(_accepts(c) for c in checks), timeout)
            self._clear_stale_pid()
            rc, output, argv = self._do("start")
            if rc != 0:
                self._fail("{0} failed (rc={1}): {2}.".format(" ".join(argv), rc, output[-500:]), tail)
            ok = self._wait(lambda: pid_alive(self.pid()) and self.pid() != before and RESUMING in tail.text(),
                            timeout)
            if not ok:
                self._fail("Apache did not come up within {0}s after {1}.".format(timeout, " ".join(argv)), tail)
        if action != "none":
            # Apache can die a moment after a reload that returned 0 (AH01958/AH01872, AH00820).
            self.sleep(settle)
        pid = self.pid()
        result["pid_after"] = pid if pid_alive(pid) else None
        result["alive"] = pid_alive(pid)
        if not result["alive"] and (action != "none" or checks):
            self._fail("Apache is not running after the {0} (pid file {1}: {2}).".format(
                action if action != "none" else "liveness check", self.layout.get("pid_file"), pid), tail)
        result["checks"] = self._checks(checks, timeout)
        failed = [c for c in result["checks"] if not c["ok"]]
        if failed:
            self._fail("no TLS handshake within {0}s with {1}.".format(timeout, ", ".join(
                "{0}:{1} ({2}): {3}".format(c["host"], c["port"], c["sni"], c["error"]) for c in failed)), tail,
                checks=result["checks"])
        if action == "restart":
            result["downtime"] = round(self.clock() - started, 3)
        result["log"] = tail.lines()
        return result
