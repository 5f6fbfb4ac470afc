"""The probe against hostile peers on loopback (issue 24 #3): one deadline for the whole exchange, a size cap,
every transport failure a code (never a traceback), no redirect followed with or without a proxy. Each peer is a
real listener (tests/lab/hostile.py); what it saw and whether it could send everything is its log."""

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils import _ocsp
from lab import hostile
from lab.hostile import HostileServer
from lab.pki import PKI
from lab.responders import build_response


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI.create(str(tmp_path_factory.mktemp("pki")), "http://127.0.0.1:1/")


def probe(pki, uri, **kwargs):
    leaf = pki.certs["good"]
    return _ocsp.probe(leaf.cert, leaf.issuer.cert, uri, **kwargs)


def good_body(pki):
    leaf = pki.certs["good"]
    return build_response(pki, _ocsp.build_request(leaf.cert, leaf.issuer.cert), "good")


def test_a_good_answer_is_judged(pki):
    with HostileServer(hostile.respond(200, good_body(pki), ["Content-Type: application/ocsp-response"])) as server:
        result = probe(pki, server.url("/ocsp"), method="post")
    assert result["ok"] and result["valid"] and result["http_status"] == 200 and result["error"] is None, result
    request = server.log[0]["request"]
    # as mod_ssl asks: POST, HTTP/1.0, the DER as body
    assert request.startswith(b"POST /ocsp HTTP/1.0\r\n") and b"\r\nConnection: close\r\n" in request
    assert request.endswith(_ocsp.build_request(pki.certs["good"].cert, pki.intermediate.cert))


def test_get_carries_the_request_in_the_path(pki):
    with HostileServer(hostile.respond(200, good_body(pki))) as server:
        result = probe(pki, server.url("/ocsp"), method="auto")
    assert result["ok"] and result["method"] == "GET", result
    assert server.log[0]["request"].startswith(b"GET /ocsp/M")


@pytest.mark.parametrize("behaviour, code", [
    (hostile.banner, "not_http"),          # BadStatusLine before: every certificate's facts on the host lost
    (hostile.bad_status, "not_http"),
    (hostile.truncated, "incomplete_response"),  # IncompleteRead before
    (hostile.reset, "connection_failed"),
    (hostile.close, "connection_failed"),
    (hostile.respond(500, b"no"), "http_status"),
    (hostile.respond(200, b"<html>not OCSP</html>"), "not_ocsp"),
])
def test_every_transport_failure_is_an_error_with_a_code(pki, behaviour, code):
    with HostileServer(behaviour) as server:
        result = probe(pki, server.url(), timeout=5)
    assert not result["ok"] and result["error"]["code"] == code, result
    assert str(server.port) in result["error"]["msg"] or code == "not_ocsp"


def test_one_deadline_for_the_whole_request(pki):
    """A responder sending one byte at a time, each well within the timeout, held a timeout-3 probe for 40.7 s and
    then crashed it (the timeout was per read). The probe now gives up at its deadline: the peer is cut off
    before it has sent its body."""
    with HostileServer(hostile.drip(interval=0.2, total=300)) as server:
        result = probe(pki, server.url(), timeout=1)
    assert result["error"]["code"] == "timeout", result
    assert server.log and server.log[0]["finished"] is False  # hung up on, 60 s of drip not waited for


@pytest.mark.parametrize("declare", [True, False])
def test_a_huge_body_is_refused_not_read(pki, declare):
    """A 400 MiB body was read whole (peak 441 MiB). Refused at the announced length, or at the cap."""
    with HostileServer(hostile.huge(400 * 1024 * 1024, declare=declare)) as server:
        result = probe(pki, server.url(), timeout=20)
    assert result["error"]["code"] == "response_too_large", result
    assert str(_ocsp.MAX_RESPONSE_BYTES) in result["error"]["msg"]
    assert server.log[0]["finished"] is False  # the peer could not deliver its 400 MiB


def test_a_redirect_is_not_followed(pki):
    with HostileServer(hostile.redirect("http://169.254.169.254/latest/")) as server:
        result = probe(pki, server.url("/ocsp/"), timeout=5)
    assert result["error"]["code"] == "redirect" and result["http_status"] == 302, result
    assert "169.254.169.254" in result["error"]["msg"] and len(server.log) == 1


def test_a_redirect_through_the_proxy_is_not_followed(pki):
    """With a proxy, urllib's opener followed a 302: the proxy saw a request to another path."""
    with HostileServer(hostile.redirect("http://ocsp.lab.test/elsewhere/")) as proxy:
        result = probe(pki, "http://127.0.0.1:9/ocsp/", proxy=proxy.url(), timeout=5)
    assert result["error"]["code"] == "redirect", result
    assert len(proxy.log) == 1  # one request, the redirect not asked for
    assert proxy.log[0]["request"].split(b"\r\n")[0].startswith(b"GET http://127.0.0.1:9/ocsp/M")


@pytest.mark.parametrize("uri, networks, word", [
    ("http://169.254.169.254/", None, "link-local"),
    ("http://[fe80::1]/", None, "link-local"),
    ("http://0.0.0.0:8080/", None, "unspecified"),
    ("http://224.0.0.1/", None, "multicast"),
    ("http://255.255.255.255/", None, "broadcast"),
    ("http://[::ffff:169.254.169.254]/", None, "link-local"),
    ("http://127.0.0.1:9/", ["10.0.0.0/8"], "outside the networks"),
])
def test_refused_destinations_are_never_asked(pki, uri, networks, word):
    result = probe(pki, uri, timeout=2, allowed_networks=networks)
    assert result["error"]["code"] == "refused_destination" and word in result["error"]["msg"], result


def test_refused_destination_through_a_proxy(pki):
    with HostileServer(hostile.respond(200, good_body(pki))) as proxy:
        result = probe(pki, "http://169.254.169.254/", proxy=proxy.url(), timeout=2)
    assert result["error"]["code"] == "refused_destination" and not proxy.log, result


def test_the_addresses_given_are_the_ones_asked(pki):
    with HostileServer(hostile.respond(200, good_body(pki))) as server:
        result = probe(pki, "http://responder.invalid:{0}/".format(server.port), addresses=["127.0.0.1"])
    assert result["ok"], result
    assert b"\r\nHost: responder.invalid:" in server.log[0]["request"]


def test_a_bad_proxy_is_an_error(pki):
    result = probe(pki, "http://127.0.0.1:9/", proxy="https://proxy.example:3128")
    assert result["error"]["code"] == "bad_proxy" and "http://" in result["error"]["msg"]


# --- the HTTP reader at its edges, over a real socket pair (what a peer sends, then it closes or holds on) --------
def read_answer(payload, hold=False):
    """_read_response on one end of a socket pair, the payload sent from the other (by a thread: it may be larger
    than the socket's buffer); the sender then closes, or with hold keeps the connection open."""
    import socket
    import threading
    ours, peer = socket.socketpair()

    def send():
        try:
            peer.sendall(payload)
        except OSError:
            pass  # we stopped reading and closed: the peer could not deliver it all
        if not hold:
            peer.shutdown(socket.SHUT_WR)
    sender = threading.Thread(target=send)
    sender.start()
    try:
        return _ocsp._read_response(ours, lambda: 2.0, "http://peer/")
    finally:
        ours.close()
        sender.join()
        peer.close()


def head(status=200, length=None, sep=b"\r\n"):
    lines = [b"HTTP/1.0 %d X" % status] + ([b"Content-Length: " + str(length).encode()] if length is not None else [])
    return sep.join(lines) + sep + sep


@pytest.mark.parametrize("payload, found", [
    (head(200, 3) + b"abcdef", (200, b"abc")),                                  # the announced length, not more
    (head(200) + b"abcdef", (200, b"abcdef")),                                  # no length: to the close
    (head(200, 3, sep=b"\n") + b"abc", (200, b"abc")),                          # bare line feeds, as some servers send
    (head(299, 0), (299, b"")),                                                 # every 2xx is a success
    (head(200, _ocsp.MAX_RESPONSE_BYTES) + b"x" * _ocsp.MAX_RESPONSE_BYTES,     # exactly the cap: taken
     (200, b"x" * _ocsp.MAX_RESPONSE_BYTES)),
    (head(200) + b"x" * _ocsp.MAX_RESPONSE_BYTES, (200, b"x" * _ocsp.MAX_RESPONSE_BYTES)),
])
def test_http_answer_read(payload, found):
    assert read_answer(payload) == found


@pytest.mark.parametrize("payload, code, said", [
    (head(200, _ocsp.MAX_RESPONSE_BYTES + 1), "response_too_large", "announced a body of"),
    (head(200) + b"x" * (_ocsp.MAX_RESPONSE_BYTES + 1), "response_too_large", "a body of more than"),
    (head(200, -1), "not_http", "Content-Length -1"),
    (b"HTTP/1.0 200 X\r\nContent-Length: ten\r\n\r\n", "not_http", "Content-Length b'ten'"),
    (b"HTTP/1.0 200 X\r\n" + b"X" * (_ocsp.MAX_HEADER_BYTES - 16), "not_http", "before the end of its HTTP headers"),
    (b"HTTP/1.0 200 X\r\n" + b"X" * _ocsp.MAX_HEADER_BYTES, "response_too_large", "bytes of HTTP headers"),
    (b"\n\n", "not_http", "no HTTP status line"),
    (b"HTTP", "not_http", "before the end of its HTTP headers"),
    (b"", "connection_failed", "without an answer"),
    (head(200, 10) + b"abc", "incomplete_response", "promised 10 bytes"),
    (head(199, 0), "http_status", "HTTP 199"),
    (head(300, 0), "redirect", "HTTP 300"),
    (head(399, 0), "redirect", "HTTP 399"),
    (head(400, 0), "http_status", "HTTP 400"),
])
def test_http_answer_refused(payload, code, said):
    with pytest.raises(_ocsp.ProbeError) as caught:
        read_answer(payload)
    assert caught.value.code == code and said in caught.value.msg, caught.value.msg


def test_a_peer_that_is_not_http_is_refused_at_its_first_bytes():
    """Five bytes that cannot start an HTTP answer are enough: the probe does not wait for more (the peer holds the
    connection open; waiting would end at the deadline, as a timeout)."""
    with pytest.raises(_ocsp.ProbeError) as caught:
        read_answer(b"SSH-2", hold=True)
    assert caught.value.code == "not_http", caught.value.msg
