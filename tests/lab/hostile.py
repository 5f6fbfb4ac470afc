"""Hostile TCP peers on loopback, for the probe and the handshake: each connection gets one scripted behaviour.

``HostileServer(behaviour)`` listens on 127.0.0.1 (a port the kernel picks) in a thread of the test's own process
and answers every connection with ``behaviour(conn, request_bytes)``. What each connection sent and how it ended is
recorded in ``server.log`` (``{"request": bytes, "finished": bool}``: ``finished`` is False when the client hung
up before the behaviour had sent everything), so tests assert on what happened, never on how long it took.
``stop()`` (or the context manager) closes the listener and joins the threads.

Behaviours here: ``banner`` (an SSH server's greeting, no HTTP), ``drip`` (a valid header, then the body one
byte at a time), ``huge`` (a body far over any OCSP response), ``redirect`` (302 to another path), ``reset``
(RST after the request), ``bad_status`` (a status line that is not HTTP), ``truncated`` (Content-Length promises
more than is sent), ``respond`` (a fixed status and body), ``close`` (accept and close, no byte).
"""

import socket
import struct
import threading
import time


class HostileServer(object):
    def __init__(self, behaviour, read_request=True):
        self.behaviour = behaviour
        self.read_request = read_request
        self.log = []
        self._stop = threading.Event()
        self._threads = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def url(self, path="/"):
        return "http://127.0.0.1:{0}{1}".format(self.port, path)

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn):
        entry = {"request": b"", "finished": False}
        self.log.append(entry)
        try:
            conn.settimeout(5)
            if self.read_request:
                entry["request"] = _read_request(conn)
            self.behaviour(self, conn, entry["request"])
            entry["finished"] = True
        except OSError:
            pass  # the client went away: finished stays False
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self._sock.close()
        self._acceptor.join(5)
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _read_request(conn):
    """Headers and (by Content-Length) body of one HTTP request, or what came before the peer stopped sending."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _colon, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


# --- behaviours ------------------------------------------------------------------------------------------------

def banner(server, conn, request):
    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")


def bad_status(server, conn, request):
    conn.sendall(b"HTTP/1.1 OK FINE\r\n\r\n")


def close(server, conn, request):
    pass


def reset(server, conn, request):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def respond(status=200, body=b"", headers=()):
    def behaviour(server, conn, request):
        lines = ["HTTP/1.0 {0} X".format(status), "Content-Length: {0}".format(len(body))] + list(headers)
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return behaviour


def truncated(server, conn, request):
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: 1000\r\n\r\n0123")


def drip(interval=0.2, total=300):
    """A valid header, then ``total`` body bytes one every ``interval`` s (a minute by default)."""
    def behaviour(server, conn, request):
        conn.sendall("HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {0}\r\n\r\n".format(
            total).encode("ascii"))
        for _byte in range(total):
            if server._stop.is_set():
                raise OSError("stopped")
            conn.sendall(b"0")
            time.sleep(interval)
    return behaviour


def huge(size=400 * 1024 * 1024, declare=True):
    """A body of ``size`` bytes (400 MiB by default), with or without a Content-Length saying so."""
    def behaviour(server, conn, request):
        head = "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
        if declare:
            head += "Content-Length: {0}\r\n".format(size)
        conn.sendall((head + "\r\n").encode("ascii"))
        block = b"\x30" * 65536
        sent = 0
        while sent < size:
            if server._stop.is_set():
                raise OSError("stopped")
            conn.sendall(block[:min(len(block), size - sent)])
            sent += len(block)
    return behaviour


def redirect(location="/elsewhere/"):
    def behaviour(server, conn, request):
        conn.sendall("HTTP/1.0 302 Found\r\nLocation: {0}\r\nContent-Length: 0\r\n\r\n".format(location).encode(
            "ascii"))
    return behaviour
