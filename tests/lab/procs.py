"""Process helpers for the lab: free ports, readiness probes, stopping by PID."""

import errno
import os
import signal
import socket
import time


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# What a readiness probe sends to an HTTP server before it closes. OpenSSL 3.0's `openssl ocsp` has a bug: a
# connection closed before its request line leaves the process (with -multi, the child) reading EOF forever at
# 100 % CPU (openssl/openssl#23934, #31129). A bare connect-and-close probe left one such child per lab and per
# netns responder, spinning through the whole test session: a third of the integration stage's CPU went there.
# A complete request is answered (openssl: "malformedrequest"; our responder: 404) and the connection ends cleanly.
HTTP_PROBE = b"GET / HTTP/1.0\r\n\r\n"


def wait_for_port(port, host="127.0.0.1", timeout=10.0, proc=None, probe=None):
    """Wait until something accepts TCP connections on host:port; raise on timeout or if proc died. With probe
    (bytes), send it once connected and read the answer to its end before closing (see HTTP_PROBE)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process {0} exited with {1} before listening on {2}:{3}".format(
                proc.pid, proc.returncode, host, port))
        try:
            with socket.create_connection((host, port), timeout=0.5) as sock:
                if probe:
                    sock.settimeout(max(1.0, deadline - time.monotonic()))
                    sock.sendall(probe)
                    while sock.recv(4096):
                        pass
                return True
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on {0}:{1} after {2}s".format(host, port, timeout))


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open("/proc/{0}/stat".format(pid)) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def stop_pid(pid, timeout=5.0, sig=signal.SIGTERM):
    """Send sig to pid, wait until it is gone, SIGKILL after timeout. True if it was running."""
    if not pid_alive(pid):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + 2
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


def children_of(pid):
    """PIDs whose parent is pid (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/{0}/stat".format(entry)) as f:
                fields = f.read().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out
