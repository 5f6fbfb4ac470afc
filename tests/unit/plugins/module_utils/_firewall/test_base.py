"""What every backend shares: rule identity, the rules wanted for endpoints (validated, resolved, refused where
egress must not go), the host's address families."""

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils._firewall import api as _firewall, base
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.tests.unit.plugins.module_utils._firewall.recorder import recorded


def test_rule_keys_round_trip():
    rule = _firewall.Rule("ip6", "2001:db8::1", 8080, 33)
    assert rule.key == "ip6 2001:db8::1 tcp/8080 uid=33"
    back = _firewall.Rule.from_key(rule.key)
    assert (back.family, back.address, back.port, back.uid) == ("ip6", "2001:db8::1", 8080, 33)


def test_desired_rules_resolve_every_address():
    rules, resolved = _firewall.desired_rules(
        [{"host": "ocsp.example.org", "port": 80}, {"host": "[2001:db8::7]", "port": 8888}],
        resolver=lambda host, port: ["192.0.2.1", "2001:db8::1"] if host == "ocsp.example.org" else
        base._resolve(host, port))
    assert sorted(rules) == ["ip 192.0.2.1 tcp/80", "ip6 2001:db8::1 tcp/80", "ip6 2001:db8::7 tcp/8888"]
    assert resolved[1]["addresses"] == ["2001:db8::7"]


def test_address_family_the_host_lacks():
    only_v4 = set(["ip"])
    with pytest.raises(StaplingError, match="IPv6 is disabled on this host"):
        _firewall.desired_rules([{"host": "2001:db8::1"}], families=only_v4)
    rules, resolved = _firewall.desired_rules([{"host": "ocsp.example.org"}], families=only_v4,
                                              resolver=lambda h, p: ["192.0.2.1", "2001:db8::1"])
    assert sorted(rules) == ["ip 192.0.2.1 tcp/80"] and resolved[0]["skipped"] == ["2001:db8::1"]
    fw = _firewall.Iptables(recorded({}), {"ip": ("/sbin/iptables", "/sbin/iptables-save", "/sbin/iptables-restore")})
    v6, _resolved = _firewall.desired_rules([{"host": "2001:db8::1"}], families=set(["ip", "ip6"]))
    with pytest.raises(StaplingError, match="need ip6tables"):
        fw.plan(v6)


def test_host_families_reads_the_namespace_setting(tmp_path):
    conf = tmp_path / "sys" / "net" / "ipv6" / "conf" / "all"
    conf.mkdir(parents=True)
    (conf / "disable_ipv6").write_text("1\n")
    assert _firewall.host_families(str(tmp_path)) == set(["ip"])
    (conf / "disable_ipv6").write_text("0\n")
    assert _firewall.host_families(str(tmp_path)) == set(["ip", "ip6"])
    assert _firewall.host_families(str(tmp_path / "none")) == set(["ip"])


@pytest.mark.parametrize("endpoint, fragment", [
    ({"port": 80}, "has no host"),
    ({"host": "x", "port": "http"}, "not a number"),
    ({"host": "x", "port": 70000}, "outside 1-65535"),
    ({"host": "x", "protocol": "udp"}, "TCP only"),
    ({"host": "x", "uris": ["http://x/", "ldap://x/"]}, "http:// only"),
    ({"host": "x", "uri": "https://x/", "port": 443}, "http:// only"),
])
def test_bad_endpoints(endpoint, fragment):
    with pytest.raises(StaplingError, match=fragment):
        _firewall.desired_rules([endpoint], resolver=lambda h, p: ["192.0.2.1"])


@pytest.mark.parametrize("address, word", [
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"), ("255.255.255.255", "broadcast"),
    ("::ffff:169.254.169.254", "link-local"),
])
def test_destinations_that_are_never_a_responder_are_refused(address, word):
    """Issue 24 #2: a certificate with OCSP URI http://169.254.169.254/ made the plan accept 169.254.169.254 tcp/80
    for the web server's user."""
    with pytest.raises(StaplingError) as err:
        _firewall.desired_rules([{"host": "ocsp.example.org", "port": 80}], resolver=lambda h, p: [address],
                                families=set(["ip", "ip6"]))
    assert word in err.value.msg and "endpoints[0]: ocsp.example.org port 80" in err.value.msg


def test_private_and_loopback_responders_stay_allowed():
    rules, _resolved = _firewall.desired_rules([{"host": "10.1.2.3"}, {"host": "127.0.0.1", "port": 8080}],
                                               resolver=lambda h, p: [h], families=set(["ip"]))
    assert sorted(rules) == ["ip 10.1.2.3 tcp/80", "ip 127.0.0.1 tcp/8080"]


def test_allowed_networks_restrict_egress():
    rules, _resolved = _firewall.desired_rules([{"host": "10.1.2.3"}], resolver=lambda h, p: [h],
                                               families=set(["ip"]), allowed_networks=["10.0.0.0/8", "2001:db8::/32"])
    assert list(rules) == ["ip 10.1.2.3 tcp/80"]
    with pytest.raises(StaplingError) as err:
        _firewall.desired_rules([{"host": "10.1.2.3"}, {"host": "192.0.2.1"}], resolver=lambda h, p: [h],
                                families=set(["ip"]), allowed_networks=["10.0.0.0/8"])
    assert "endpoints[1]: 192.0.2.1" in err.value.msg and "outside the networks egress is allowed to (10.0.0.0/8)" in \
        err.value.msg
    with pytest.raises(StaplingError) as err:
        _firewall.desired_rules([{"host": "10.1.2.3"}], resolver=lambda h, p: [h], allowed_networks=["10.1.2.3/8"])
    assert "'10.1.2.3/8' is not a network in CIDR notation" in err.value.msg
