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


def test_only_the_uri_mod_ssl_asks_is_a_destination(pki):
    """Issue 24 #2: a leaf with OCSP URIs http://127.0.0.1:1/, http://169.254.169.254/ and http://10.1.2.3:22/ was
    judged stapleable and all three were opened. mod_ssl asks the first (X509_get1_ocsp's first entry) and nothing
    else: only that one is resolved, judged, probed and returned as an endpoint."""
    leaf = pki.issue_leaf("three_uris", ocsp_uris=["http://127.0.0.1:1/", "http://169.254.169.254/",
                                                   "http://10.1.2.3:22/"])
    certs, endpoints = _responder_info.inspect_all(_responder_info.normalize_inputs([leaf.fullchain_path], None))
    assert certs[0]["stapleable"] is True, certs[0]
    assert [e["asked"] for e in certs[0]["endpoints"]] == [True, False, False]
    assert [e["addresses"] for e in certs[0]["endpoints"]] == [["127.0.0.1"], [], []]  # the others not even resolved
    assert [(e["host"], e["port"], e["uris"]) for e in endpoints] == [("127.0.0.1", 1, ["http://127.0.0.1:1/"])]


@pytest.mark.parametrize("uri, networks, word", [
    ("http://169.254.169.254/", None, "link-local"),
    ("http://[fe80::1]:8080/", None, "link-local"),
    ("http://0.0.0.0/", None, "unspecified"),
    ("http://239.1.2.3/", None, "multicast"),
    ("http://127.0.0.1:1/", ["10.0.0.0/8"], "outside the networks egress is allowed to (10.0.0.0/8)"),
])
def test_a_refused_first_uri_is_no_destination_and_not_probed(pki, uri, networks, word):
    name = "refused_" + "".join(c if c.isalnum() else "_" for c in uri + str(networks))
    leaf = pki.issue_leaf(name, ocsp_uris=[uri, "http://10.1.2.3/"])
    certs, endpoints = _responder_info.inspect_all(_responder_info.normalize_inputs([leaf.fullchain_path], None),
                                                   probe=True, timeout=1, allowed_networks=networks)
    cert = certs[0]
    assert cert["stapleable"] is False and word in cert["reason"] and uri in cert["reason"], cert
    assert cert["probe"]["error"]["code"] == "refused_destination" and word in cert["probe"]["error"]["msg"]
    assert endpoints == []  # neither the refused first URI nor the second, which mod_ssl never asks


def test_a_vhosts_force_url_is_the_destination(pki):
    """With SSLStaplingForceURL in force mod_ssl asks that URL, never the certificate's."""
    d = pki.directory + "/"
    vhosts = [{"server_name": "a", "tls": True, "certificate_file": d + "good.fullchain.pem", "file": "/a", "line": 1,
               "stapling": {"directives": {"SSLStaplingForceURL": "http://10.9.8.7:8080/ocsp"}}},
              {"server_name": "b", "tls": True, "certificate_file": d + "good.fullchain.pem", "file": "/b", "line": 1}]
    items = _responder_info.normalize_inputs(None, vhosts)
    assert [i.get("force_url") for i in items] == ["http://10.9.8.7:8080/ocsp", None]
    certs, endpoints = _responder_info.inspect_all(items, resolve=False)
    assert certs[0]["force_endpoint"]["host"] == "10.9.8.7" and not any(e["asked"] for e in certs[0]["endpoints"])
    assert sorted((e["host"], e["port"]) for e in endpoints) == [("10.9.8.7", 8080), ("ocsp.lab.test", 80)]
    vhosts[0]["stapling"]["directives"]["SSLStaplingForceURL"] = "http://169.254.169.254/"
    certs, endpoints = _responder_info.inspect_all(_responder_info.normalize_inputs(None, vhosts), resolve=False)
    assert certs[0]["stapleable"] is False and "SSLStaplingForceURL http://169.254.169.254/" in certs[0]["reason"]
    assert [(e["host"], e["port"]) for e in endpoints] == [("ocsp.lab.test", 80)]


def test_bad_allowed_networks_are_named():
    with pytest.raises(StaplingError) as err:
        _responder_info.inspect_all([], allowed_networks=["10.0.0.1/8"])
    assert "'10.0.0.1/8' is not a network in CIDR notation" in err.value.msg
