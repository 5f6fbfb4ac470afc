"""Staple fetching without a server: issuer lookup order and result folding across TLS versions."""

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils import _staple
from lab.pki import PKI


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI.create(str(tmp_path_factory.mktemp("pki")), "http://127.0.0.1:1/")


def test_issuer_from_presented_chain_then_ca_file(pki):
    leaf = pki.certs["good"].cert
    assert _staple._issuer_for(leaf, [leaf, pki.intermediate.cert], []) is pki.intermediate.cert
    # The server sent no chain: the CA file supplies the issuer.
    assert _staple._issuer_for(leaf, [leaf], [pki.root.cert, pki.intermediate.cert]) is pki.intermediate.cert
    # A rogue certificate with the issuer's name does not count.
    assert _staple._issuer_for(leaf, [leaf, pki.rogue.cert], []) is None


def test_ca_file_loading_names_the_file(tmp_path, pki):
    assert len(_staple.load_ca_file(pki.ca_bundle_path)) == 3
    assert _staple.load_ca_file(None) == []
    bad = tmp_path / "ca.pem"
    bad.write_text("nothing here")
    with pytest.raises(Exception) as err:
        _staple.load_ca_file(str(bad))
    assert str(bad) in str(err.value)


def test_unreachable_target_is_reported_per_version():
    result = _staple.check_target({"host": "127.0.0.1", "port": 1, "sni": "x"}, attempts=2, timeout=2)
    assert not result["stapled"] and not result["valid"]
    # The same error on both versions is reported once at the top, and per version below.
    assert [e["code"] for e in result["errors"]] == ["connection_refused"]
    assert [result["tls"][v]["errors"][0]["code"] for v in ("1.3", "1.2")] == ["connection_refused"] * 2
    assert result["handshakes"] == 2


@pytest.mark.parametrize("sni", ["a..b.example", "x" * 64 + ".example", "x" * 300])
def test_odd_server_name_is_that_targets_bad_sni_and_the_others_are_judged(sni):
    """Apache accepts ServerName a..b.example or a 64-character label; no SNI can carry them (IDNA refuses an empty
    label or one over 63 characters). Issue 24 #7: that raised an uncaught UnicodeError in the worker thread, and no
    target of the host was judged."""
    from lab.hostile import HostileServer, close
    with HostileServer(close, read_request=False) as server:
        odd = {"host": "127.0.0.1", "port": server.port, "sni": sni}
        plain = {"host": "127.0.0.1", "port": server.port, "sni": "plain.example"}
        results = _staple.check_targets([odd, plain], attempts=1, timeout=5)
    assert [e["code"] for e in results[0]["errors"]] == ["bad_sni"], results[0]
    assert sni[:40] in results[0]["errors"][0]["msg"] and not results[0]["valid"]
    assert results[0]["handshakes"] == 0  # no connection made for a name no client can send
    # the other target was judged: the listener closes without a word, a TLS error of its own
    assert results[1]["errors"] and results[1]["errors"][0]["code"] == "tls_error", results[1]


def test_odd_host_is_that_targets_connection_error():
    results = _staple.check_targets([{"host": "a..b.example", "port": 443, "sni": "www.example"}], attempts=1,
                                    timeout=2)
    assert [e["code"] for e in results[0]["errors"]] == ["connection_failed"], results[0]
    assert "a..b.example" in results[0]["errors"][0]["msg"]
