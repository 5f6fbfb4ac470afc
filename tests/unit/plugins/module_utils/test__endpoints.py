"""The one endpoint merge and the egress policy, standard library only (the controller imports them)."""

import subprocess
import sys

from ansible_collections.ocsp.stapling.plugins.module_utils import _endpoints


def test_endpoints_merge_per_host_and_port_in_order():
    merged = {}
    _endpoints.merge_endpoint(merged, {"host": "ocsp.example", "port": 80, "addresses": ["192.0.2.1"],
                                       "resolve_error": None, "uri": "http://ocsp.example/a"})
    _endpoints.merge_endpoint(merged, {"host": "ocsp.example", "port": 80, "addresses": ["192.0.2.1", "192.0.2.2"],
                                       "uris": ["http://ocsp.example/b", "http://ocsp.example/a"]})
    _endpoints.merge_endpoint(merged, {"host": "a.example", "port": 8080, "addresses": [], "uri": "http://a.example:8080/"})
    out = _endpoints.merged_list(merged)
    assert [(e["host"], e["port"]) for e in out] == [("a.example", 8080), ("ocsp.example", 80)]
    assert out[1]["addresses"] == ["192.0.2.1", "192.0.2.2"] and out[1]["protocol"] == "tcp"
    assert out[1]["uris"] == ["http://ocsp.example/a", "http://ocsp.example/b"]


def test_forced_url_and_url_endpoints():
    vhost = {"stapling": {"directives": {"SSLStaplingForceURL": '"http://ocsp.example:8888/"'}}}
    assert _endpoints.forced_url(vhost) == "http://ocsp.example:8888/"
    assert _endpoints.forced_url({"stapling": {"directives": {}}}) is None
    assert _endpoints.endpoint_from_url("http://[2001:db8::1]:8080/x")["host"] == "2001:db8::1"
    assert _endpoints.endpoint_from_url("https://x/") is None


def test_importing_it_imports_no_cryptography():
    """A worker of the controller that plans loads every filter file: nothing there may import cryptography."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import ansible_collections.ocsp.stapling.plugins.filter.stapling_plan, "
            "ansible_collections.ocsp.stapling.plugins.filter.stapling_host_report, "
            "ansible_collections.ocsp.stapling.plugins.filter.egress_rollback_endpoints; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cryptography', 'OpenSSL', 'jmespath')))")
    import ansible_collections
    root = ansible_collections.__path__[0].rsplit("/ansible_collections", 1)[0]
    out = subprocess.run([sys.executable, "-c", code, root], stdout=subprocess.PIPE, check=True,
                         universal_newlines=True).stdout
    assert out.strip() == "[]", out
