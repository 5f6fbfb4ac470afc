"""ocsp_responder_info's inputs and per-certificate verdicts (without network)."""

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils import _responder_info
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from lab.pki import PKI


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = PKI.create(str(tmp_path_factory.mktemp("pki")), "http://ocsp.lab.test/")
    pki.issue_leaf("ldap_first", ocsp_uris=["ldap://ldap.lab.test/ocsp", "http://ocsp.lab.test/"])
    return pki


@pytest.mark.parametrize("bad, fragment", [
    ([42], "certificates[0] must be a file path or a dictionary"),
    ([{"chain_path": "/x"}], "certificates[0] must be a file path"),
    (["/a.pem", {"path": "/b", "key": "/b.key"}], "certificates[1] has unknown keys key"),
])
def test_bad_certificate_items_are_named(bad, fragment):
    with pytest.raises(StaplingError) as err:
        _responder_info.normalize_inputs(bad, None)
    assert fragment in err.value.msg


def test_vhosts_are_deduplicated_and_non_tls_skipped():
    vhosts = [
        {"server_name": "a", "tls": True, "certificate_file": "/c.pem", "file": "/s/a.conf", "line": 1},
        {"server_name": "b", "tls": True, "certificate_file": "/c.pem", "file": "/s/b.conf", "line": 3},
        {"server_name": "plain", "tls": False, "certificate_file": None},
        {"server_name": "c", "tls": True, "certificate_file": "/d.pem", "certificate_chain_file": "/d.chain"},
    ]
    out = _responder_info.normalize_inputs(None, vhosts)
    assert [(i["path"], i["chain_path"], [v["server_name"] for v in i["vhosts"]]) for i in out] == [
        ("/c.pem", None, ["a", "b"]), ("/d.pem", "/d.chain", ["c"])]


def verdicts(pki, items):
    certs, endpoints = _responder_info.inspect_all(_responder_info.normalize_inputs(items, None), resolve=False)
    return certs, endpoints


def test_verdicts_and_reasons(pki):
    d = pki.directory + "/"
    certs, endpoints = verdicts(pki, [
        d + "good.fullchain.pem", d + "good.crt", {"path": d + "good.crt", "ca_path": pki.ca_bundle_path},
        d + "no_uri.fullchain.pem", d + "expired.fullchain.pem", d + "ldap_first.fullchain.pem", d + "nope.pem",
    ])
    by = [(c["stapleable"] if not c["error"] else "error", c.get("reason") or c["error"]) for c in certs]
    assert by[0] == (True, None)
    assert by[1][0] is False and "AH02217" in by[1][1]
    assert by[2] == (True, None) and certs[2]["issuer_source"] == "ca_path"
    assert by[3][0] is False and "no OCSP URI" in by[3][1]
    assert by[4][0] is False and "expired" in by[4][1]
    assert by[5][0] is False and "ldap://" in by[5][1]
    assert by[6][0] == "error" and "nope.pem" in by[6][1]
    # Only usable endpoints, merged per host and port.
    assert endpoints == [{"host": "ocsp.lab.test", "port": 80, "protocol": "tcp", "uris": ["http://ocsp.lab.test/"],
                          "addresses": [], "resolve_error": None}]
