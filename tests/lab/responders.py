"""OCSP responders of the lab, both real processes on loopback, stopped by PID.

* ``OpensslResponder``: ``openssl ocsp -multi`` over the PKI's index.txt, signing with
  the intermediate. OpenSSL 3.0's server mode takes a port number only and binds the
  wildcard address; we only ever send it traffic on 127.0.0.1.
* ``FaultResponder``: our own threaded HTTP responder (``python -m lab.responders``),
  bound to 127.0.0.1, which builds real responses with ``cryptography`` and can be
  switched between fault modes while running (``set_mode``), or asked for a fixed mode
  per URL path: ``http://127.0.0.1:PORT/mode/<mode>/``, or made to answer exactly the
  bytes a test gives it (``serve_fixed(name, der)``, under ``/fixed/<name>/``).
"""

import argparse
import base64
import datetime
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .procs import HTTP_PROBE, children_of, free_port, stop_pid, wait_for_port

MODES = ("good", "down", "hang", "http500", "garbage", "trylater", "unauthorized", "expired", "future",
         "wrong_signer", "delegated", "delegated_no_eku", "unknown", "wrong_serial", "revoked")

HERE = os.path.dirname(os.path.abspath(__file__))


class _Process(object):
    """A responder process of ours: started with readiness probed, stopped by PID (children too)."""

    pid = None
    _proc = None
    ready_probe = None  # bytes sent by the readiness probe once connected (lab.procs.HTTP_PROBE), or a bare connect

    def _launch(self, argv, log_path, **popen):
        log = open(log_path, "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **popen)
        log.close()
        self.pid, self._proc = proc.pid, proc
        try:
            wait_for_port(self.port, host=getattr(self, "address", "127.0.0.1"), proc=proc, probe=self.ready_probe)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self):
        kids = children_of(self.pid) if self.pid else []
        stop_pid(self.pid)
        for kid in kids:
            stop_pid(kid)
        if self._proc is not None:
            self._proc.poll()
        self.pid = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class OpensslResponder(_Process):
    """``openssl ocsp`` as a real responder for the intermediate's leaves."""

    # A bare connect-and-close would leave a -multi child spinning (lab.procs.HTTP_PROBE). Our own responder keeps
    # the bare connect: a request would count in its stats, which tests read.
    ready_probe = HTTP_PROBE

    def __init__(self, pki, workdir, port=None, multi=2, nmin=60):
        self.pki = pki
        self.workdir = workdir
        self.port = port or free_port()
        self.multi = multi
        self.nmin = nmin
        self.pid = None
        self.log_path = os.path.join(workdir, "openssl-ocsp.log")

    @property
    def url(self):
        return "http://127.0.0.1:{0}/".format(self.port)

    def start(self):
        inter = self.pki.intermediate
        argv = ["openssl", "ocsp", "-index", self.pki.index_path, "-port", str(self.port),
                "-CA", inter.cert_path, "-rsigner", inter.cert_path, "-rkey", inter.key_path,
                "-nmin", str(self.nmin), "-multi", str(self.multi), "-ignore_err"]
        # No start_new_session: with -multi, openssl makes itself a process-group leader
        # (setpgid), which fails for a session leader and exits 1 right after ACCEPT.
        return self._launch(argv, self.log_path, cwd=self.workdir)


class FaultResponder(_Process):
    """Client side of our own fault-mode responder (a separate process)."""

    def __init__(self, pki_dir, workdir, port=None, mode="good", validity_minutes=60, address="127.0.0.1"):
        self.pki_dir = pki_dir
        self.workdir = workdir
        self.address = address  # the fleet binds it on its bridge's address
        self.port = port or free_port(address)
        self.initial_mode = mode
        self.validity_minutes = validity_minutes
        self.pid = None
        self.log_path = os.path.join(workdir, "fault-responder-{0}.log".format(self.port))

    def url(self, mode=None):
        if mode:
            if mode not in MODES:
                raise ValueError("unknown responder mode {0!r}; one of {1}".format(mode, ", ".join(MODES)))
            return "http://{0}:{1}/mode/{2}/".format(self.address, self.port, mode)
        return "http://{0}:{1}/".format(self.address, self.port)

    def start(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.dirname(HERE) + os.pathsep + env.get("PYTHONPATH", "")
        argv = [sys.executable, "-m", "lab.responders", "--pki", self.pki_dir, "--port", str(self.port),
                "--mode", self.initial_mode, "--validity-minutes", str(self.validity_minutes), "--address", self.address]
        # Its own session: a terminal's Ctrl-C in the CLI does not reach it; we stop it by PID.
        return self._launch(argv, self.log_path, env=env, start_new_session=True)

    def serve_fixed(self, name, der):
        """Have the responder answer every request under ``fixed_url(name)`` with exactly these bytes
        (an odd response made by a test); returns that URL."""
        directory = os.path.join(self.pki_dir, "fixed")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, name + ".der"), "wb") as f:
            f.write(der)
        return self.fixed_url(name)

    def fixed_url(self, name):
        return "http://{0}:{1}/fixed/{2}/".format(self.address, self.port, name)

    def _control(self, path):
        with urllib.request.urlopen("http://{0}:{1}/control/{2}".format(self.address, self.port, path), timeout=5) as r:
            return json.loads(r.read().decode())

    def set_mode(self, mode):
        if mode not in MODES:
            raise ValueError("unknown responder mode {0!r}; one of {1}".format(mode, ", ".join(MODES)))
        return self._control("mode/" + mode)

    def stats(self):
        """{"mode": current, "requests": total OCSP requests, "by_mode": {mode: n}}"""
        return self._control("stats")


# ---------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------

def build_response(pki, der_request, mode, validity_minutes=60):
    """DER OCSP response for der_request in the given mode (None: drop the connection)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    if mode == "trylater":
        return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
            serialization.Encoding.DER)
    if mode == "unauthorized":
        return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
            serialization.Encoding.DER)
    try:
        req = ocsp.load_der_ocsp_request(der_request)
    except ValueError:
        return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
            serialization.Encoding.DER)

    # Which of our CAs is the request about? Match the issuer key hash.
    issuer = None
    for name in ("intermediate", "intermediate2", "root", "rsa_intermediate"):
        ca = pki.certs.get(name)
        if ca is None:
            continue
        digest = hashes.Hash(req.hash_algorithm)
        spki = ca.cert.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        # issuerKeyHash is over the subjectPublicKey BIT STRING value, not the whole SPKI.
        digest.update(_bit_string_value(spki))
        if digest.finalize() == req.issuer_key_hash:
            issuer = ca
            break
    if issuer is None:
        return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
            serialization.Encoding.DER)

    leaf = pki.find_by_serial(req.serial_number)
    if mode == "unknown" or leaf is None or leaf.issuer is not issuer:
        status, rev_time = ocsp.OCSPCertStatus.UNKNOWN, None
    elif mode == "revoked" or req.serial_number in pki.revoked:
        status = ocsp.OCSPCertStatus.REVOKED
        rev_time = datetime.datetime.strptime(pki.revoked.get(req.serial_number, "2020-01-01T00:00:00Z"),
                                              "%Y-%m-%dT%H:%M:%SZ")
    else:
        status, rev_time = ocsp.OCSPCertStatus.GOOD, None

    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    this_update = now - datetime.timedelta(minutes=1)
    next_update = now + datetime.timedelta(minutes=validity_minutes)
    if mode == "expired":
        this_update = now - datetime.timedelta(days=2)
        next_update = now - datetime.timedelta(days=1)
    elif mode == "future":
        this_update = now + datetime.timedelta(days=1)
        next_update = now + datetime.timedelta(days=2)
    serial = req.serial_number + 1 if mode == "wrong_serial" else req.serial_number

    signer_cert, signer_key, extra = issuer.cert, issuer.key, []
    if mode == "wrong_signer":
        signer_cert, signer_key = pki.rogue.cert, pki.rogue.key
        extra = [pki.rogue.cert]
    elif mode in ("delegated", "delegated_no_eku"):
        delegate = pki.delegate if mode == "delegated" else pki.delegate_no_eku
        signer_cert, signer_key, extra = delegate.cert, delegate.key, [delegate.cert]

    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=req.issuer_name_hash, issuer_key_hash=req.issuer_key_hash, serial_number=serial,
        algorithm=req.hash_algorithm, cert_status=status, this_update=this_update, next_update=next_update,
        revocation_time=rev_time,
        revocation_reason=x509.ReasonFlags.key_compromise if rev_time else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
    if extra:
        builder = builder.certificates(extra)
    for ext in req.extensions:
        if isinstance(ext.value, x509.OCSPNonce):
            builder = builder.add_extension(ext.value, critical=False)
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _bit_string_value(spki_der):
    """The subjectPublicKey BIT STRING contents (without the unused-bits byte) of an SPKI."""
    def read(data, pos):
        tag = data[pos]
        length = data[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[pos:pos + n], "big")
            pos += n
        return tag, pos, length
    pos = read(spki_der, 0)[1]                # outer SEQUENCE
    pos2, alg_len = read(spki_der, pos)[1:]   # AlgorithmIdentifier
    tag, pos3, bs_len = read(spki_der, pos2 + alg_len)
    assert tag == 0x03
    return spki_der[pos3 + 1:pos3 + bs_len]


class _State(object):
    def __init__(self, pki, mode, validity_minutes):
        self.pki = pki
        self.mode = mode
        self.validity_minutes = validity_minutes
        self.lock = threading.Lock()
        self.requests = 0
        self.by_mode = {}
        self.stopping = threading.Event()


def _handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *args):  # quiet, but to our log file
            sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))

        def _split(self):
            path = urllib.parse.unquote(self.path)
            mode = None
            if path.startswith("/mode/"):
                rest = path[len("/mode/"):]
                mode, path = rest.partition("/")[::2]
                path = "/" + path
            return mode, path

        def _send(self, code, body, ctype="application/ocsp-response"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _answer(self, der, mode):
            mode = mode or state.mode
            with state.lock:
                state.requests += 1
                state.by_mode[mode] = state.by_mode.get(mode, 0) + 1
            if mode == "down":
                # Reset the connection: the client sees a refused/broken exchange.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            if mode == "hang":
                state.stopping.wait(300)
                self.close_connection = True
                return
            if mode == "http500":
                return self._send(500, b"internal error\n", "text/plain")
            if mode == "garbage":
                return self._send(200, b"<html>this is not an OCSP response</html>\n")
            self._send(200, build_response(state.pki, der, mode, state.validity_minutes))

        def _fixed(self):
            """/fixed/<name>/...: the bytes a test stored with FaultResponder.serve_fixed, whatever was asked."""
            name = self.path[len("/fixed/"):].partition("/")[0]
            path = os.path.join(state.pki.directory, "fixed", os.path.basename(name) + ".der")
            if not name or not os.path.isfile(path):
                return self._send(404, b"no fixed response of that name\n", "text/plain")
            with state.lock:
                state.requests += 1
                state.by_mode["fixed"] = state.by_mode.get("fixed", 0) + 1
            with open(path, "rb") as f:
                return self._send(200, f.read())

        def do_GET(self):
            if self.path.startswith("/control/"):
                return self._control(self.path[len("/control/"):])
            if self.path.startswith("/fixed/"):
                return self._fixed()
            mode, path = self._split()
            if mode is not None and mode not in MODES:
                return self._send(404, b"unknown mode\n", "text/plain")
            try:
                der = base64.b64decode(path.lstrip("/"))
            except ValueError:
                der = b""
            self._answer(der, mode)

        def do_POST(self):
            if self.path.startswith("/fixed/"):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                return self._fixed()
            mode = self._split()[0]
            if mode is not None and mode not in MODES:
                return self._send(404, b"unknown mode\n", "text/plain")
            length = int(self.headers.get("Content-Length") or 0)
            der = self.rfile.read(length) if length else b""
            self._answer(der, mode)

        def _control(self, what):
            if what.startswith("mode/"):
                mode = what[len("mode/"):]
                if mode not in MODES:
                    return self._send(400, json.dumps({"error": "unknown mode " + mode}).encode(), "application/json")
                state.mode = mode
            with state.lock:
                body = {"mode": state.mode, "requests": state.requests, "by_mode": dict(state.by_mode)}
            self._send(200, json.dumps(body).encode(), "application/json")

    return Handler


def serve(pki_dir, port, mode="good", validity_minutes=60, address="127.0.0.1"):
    from .pki import PKI
    state = _State(PKI.load(pki_dir), mode, validity_minutes)
    server = ThreadingHTTPServer((address, port), _handler(state))
    server.daemon_threads = True

    def _stop(signum, frame):
        state.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.stdout.write("fault responder on {0}:{1} mode={2}\n".format(address, port, mode))
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.1)
    server.server_close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="The lab's fault-mode OCSP responder")
    parser.add_argument("--pki", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="good", choices=MODES)
    parser.add_argument("--validity-minutes", type=int, default=60)
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (the firewall tests use a "
                        "namespace's veth address)")
    args = parser.parse_args(argv)
    serve(args.pki, args.port, args.mode, args.validity_minutes, args.address)


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------------------------------
# Odd responses: DER surgery on a real response, re-signed with the signer's key
# ---------------------------------------------------------------------------------------

def _der_len(n):
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def der_tree(data):
    """[[tag_byte, children_or_bytes]] of consecutive DER elements; constructed ones are parsed."""
    out, pos = [], 0
    while pos < len(data):
        tag = data[pos]
        length, hdr = data[pos + 1], 2
        if length & 0x80:
            count = length & 0x7F
            length, hdr = int.from_bytes(data[pos + 2:pos + 2 + count], "big"), 2 + count
        content = data[pos + hdr:pos + hdr + length]
        out.append([tag, der_tree(content) if tag & 0x20 else content])
        pos += hdr + length
    return out


def der_encode(nodes):
    out = b""
    for tag, value in nodes:
        content = der_encode(value) if isinstance(value, list) else value
        out += bytes([tag]) + _der_len(len(content)) + content
    return out


def _oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.insert(0, 0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(chunk)
    return out


ODD_RESPONSES = {
    "unknown_certid_hash": "the CertID names hash algorithm 1.3.14.3.2.26.17, which does not exist",
    "unknown_signature_algorithm": "signatureAlgorithm 1.2.3.4.5.6, which no one knows",
    "two_certificates": "two SingleResponses: another serial first, then ours",
    "critical_unknown_extension": "a critical responseExtension 1.2.3.4.5.7",
    "noncritical_unknown_extension": "a non-critical responseExtension 1.2.3.4.5.8 (to be ignored)",
    "rsa_pss": "signed RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) by an RSA signer",
    "produced_in_future": "producedAt 2035-01-01 (thisUpdate and nextUpdate as they were)",
}


def odd_response(der, kind, signer_key=None, produced_at=None):
    """An odd variant (see ODD_RESPONSES) of the DER response ``der``, re-signed with signer_key where the
    signed part changed (the responder's key; RSA for ``rsa_pss``). ``produced_at`` (a datetime, UTC) replaces
    2035-01-01 for ``produced_in_future``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    top = der_tree(der)
    response_bytes = top[0][1][1][1][0]             # [0] EXPLICIT ResponseBytes SEQUENCE
    basic = der_tree(response_bytes[1][1][1])       # OCTET STRING holding BasicOCSPResponse
    tbs, alg = basic[0][1][0], basic[0][1][1]
    fields = tbs[1]
    responses = [f for f in fields if f[0] == 0x30][0]
    resign = True
    if kind == "unknown_certid_hash":
        for single in responses[1]:
            single[1][0][1][0][1][0][1] = _oid("1.3.14.3.2.26.17")
    elif kind == "unknown_signature_algorithm":
        alg[1] = [[0x06, _oid("1.2.3.4.5.6")]]
        resign = False
    elif kind == "two_certificates":
        import copy
        other = copy.deepcopy(responses[1][0])
        serial = other[1][0][1][3]
        serial[1] = (int.from_bytes(serial[1], "big") + 7).to_bytes(len(serial[1]), "big")
        responses[1].insert(0, other)
    elif kind in ("critical_unknown_extension", "noncritical_unknown_extension"):
        if kind == "critical_unknown_extension":
            ext = [0x30, [[0x06, _oid("1.2.3.4.5.7")], [0x01, b"\xff"], [0x04, b"\x05\x00"]]]
        else:
            ext = [0x30, [[0x06, _oid("1.2.3.4.5.8")], [0x04, b"\x05\x00"]]]
        existing = [f for f in fields if f[0] == 0xA1]
        if existing:
            existing[0][1][0][1].append(ext)
        else:
            fields.append([0xA1, [[0x30, [ext]]]])
    elif kind == "produced_in_future":
        produced = [f for f in fields if f[0] == 0x18][0]
        produced[1] = (produced_at.strftime("%Y%m%d%H%M%SZ") if produced_at else "20350101000000Z").encode("ascii")
    elif kind == "rsa_pss":
        sha256 = [0x30, [[0x06, _oid("2.16.840.1.101.3.4.2.1")]]]
        mgf = [0x30, [[0x06, _oid("1.2.840.113549.1.1.8")], sha256]]
        alg[1] = [[0x06, _oid("1.2.840.113549.1.1.10")],
                  [0x30, [[0xA0, [sha256]], [0xA1, [mgf]], [0xA2, [[0x02, b"\x20"]]]]]]
    else:
        raise ValueError("unknown odd response {0!r}; one of {1}".format(kind, ", ".join(ODD_RESPONSES)))
    if resign:
        data = der_encode([tbs])
        if kind == "rsa_pss":
            signature = signer_key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                                        hashes.SHA256())
        elif isinstance(signer_key, rsa.RSAPrivateKey):
            signature = signer_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = signer_key.sign(data, ec.ECDSA(hashes.SHA256()))
        basic[0][1][2][1] = b"\x00" + signature
    response_bytes[1][1][1] = der_encode(basic)
    return der_encode(top)
