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
