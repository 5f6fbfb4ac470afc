"""Egress planning over recorded command output: rule identity, bad input, detection, nft/iptables plans."""

import json

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils import _firewall
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError


def test_rule_keys_round_trip():
    rule = _firewall.Rule("ip6", "2001:db8::1", 8080, 33)
    assert rule.key == "ip6 2001:db8::1 tcp/8080 uid=33"
    back = _firewall.Rule.from_key(rule.key)
    assert (back.family, back.address, back.port, back.uid) == ("ip6", "2001:db8::1", 8080, 33)


def test_desired_rules_resolve_every_address():
    rules, resolved = _firewall.desired_rules(
        [{"host": "ocsp.example.org", "port": 80}, {"host": "[2001:db8::7]", "port": 8888}],
        resolver=lambda host, port: ["192.0.2.1", "2001:db8::1"] if host == "ocsp.example.org" else
        _firewall._resolve(host, port))
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


def recorded(outputs):
    calls = []

    def run(argv, data=None):
        calls.append((argv, data))
        for prefix, answer in outputs.items():
            if " ".join(argv).startswith(prefix):
                return answer
        return 0, "", ""
    run.calls = calls
    return run


def which_all(name):
    return "/usr/sbin/" + name


def test_detect_refuses_to_guess():
    run = recorded({"/usr/sbin/firewall-cmd --state": (0, "running\n", ""),
                    "/usr/sbin/ufw status": (0, "Status: active\n", "")})
    with pytest.raises(StaplingError, match="more than one firewall is active"):
        _firewall.detect(run, which_all)
    run = recorded({"/usr/sbin/firewall-cmd --state": (252, "not running\n", ""),
                    "/usr/sbin/ufw status": (0, "Status: active\n", "")})
    assert _firewall.detect(run, which_all)[0] == "ufw"


RULESET = {"nftables": [
    {"metainfo": {"json_schema_version": 1}},
    {"table": {"family": "inet", "name": "host", "handle": 1}},
    {"chain": {"family": "inet", "table": "host", "name": "output", "handle": 1, "type": "filter", "hook": "output",
               "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "host", "name": "ocsp_stapling_egress", "handle": 5}},
    {"rule": {"family": "inet", "table": "host", "chain": "output", "handle": 6, "comment": "ocsp.stapling jump",
              "expr": []}},
    {"rule": {"family": "inet", "table": "host", "chain": "ocsp_stapling_egress", "handle": 7,
              "comment": "ocsp.stapling ip 192.0.2.1 tcp/80", "expr": []}},
    {"rule": {"family": "inet", "table": "host", "chain": "ocsp_stapling_egress", "handle": 8,
              "comment": "ocsp.stapling ip 192.0.2.9 tcp/80", "expr": []}},
]}


def test_nft_plan_adds_missing_and_purges_stale():
    run = recorded({"/usr/sbin/nft -j list ruleset": (0, json.dumps(RULESET), "")})
    assert _firewall.detect(run, lambda n: "/usr/sbin/nft" if n == "nft" else None)[0] == "nftables"
    fw = _firewall.Nftables(run, "/usr/sbin/nft")
    rules, _res = _firewall.desired_rules([{"host": "192.0.2.1"}, {"host": "2001:db8::1"}])
    lines, added, removed, after = fw.plan(rules, purge=True)
    assert added == ["ip6 2001:db8::1 tcp/80"] and removed == ["ip 192.0.2.9 tcp/80"]
    assert lines == ['add rule inet host ocsp_stapling_egress ip6 daddr 2001:db8::1 tcp dport 80 accept '
                     'comment "ocsp.stapling ip6 2001:db8::1 tcp/80"',
                     "delete rule inet host ocsp_stapling_egress handle 8"]
    assert after == ["ip 192.0.2.1 tcp/80", "ip6 2001:db8::1 tcp/80"]
    # Without purge the stale rule stays, and nothing else changes when all is there.
    lines, added, removed, after = fw.plan({k: r for k, r in rules.items() if r.family == "ip"})
    assert lines == [] and removed == [] and "ip 192.0.2.9 tcp/80" in after


SAVED = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT DROP [0:0]
-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""


def test_iptables_plan_builds_an_atomic_restore():
    run = recorded({"/usr/sbin/iptables-save -t filter": (0, SAVED, ""),
                    "/usr/sbin/ip6tables-save -t filter": (0, SAVED, "")})
    binaries = _firewall.iptables_binaries(which_all)
    fw = _firewall.Iptables(run, binaries)
    rules, _res = _firewall.desired_rules([{"host": "192.0.2.1", "port": 8080}], owner_uid=33)
    scripts, added, removed, after = fw.plan(rules)
    assert added == ["ip 192.0.2.1 tcp/8080 uid=33"] and removed == []
    assert scripts["ip"] == [
        "*filter", ":OCSP-STAPLING - [0:0]", '-I OUTPUT 1 -m comment --comment "ocsp.stapling jump" -j OCSP-STAPLING',
        '-A OCSP-STAPLING -d 192.0.2.1 -p tcp -m tcp --dport 8080 -m owner --uid-owner 33 -m comment '
        '--comment "ocsp.stapling ip 192.0.2.1 tcp/8080 uid=33" -j ACCEPT', "COMMIT"]
    # The ip6 table gets our (empty) chain and jump, so later IPv6 endpoints need no new jump.
    assert scripts["ip6"][:3] == ["*filter", ":OCSP-STAPLING - [0:0]",
                                  '-I OUTPUT 1 -m comment --comment "ocsp.stapling jump" -j OCSP-STAPLING']
    fw.apply(scripts)
    assert [c[0] for c in run.calls[-2:]] == [["/usr/sbin/iptables-restore", "--noflush"],
                                              ["/usr/sbin/ip6tables-restore", "--noflush"]]


UFW_STATUS = """Status: active

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW       Anywhere
192.0.2.1 80/tcp           ALLOW OUT   Anywhere                   # ocsp.stapling ip 192.0.2.1 tcp/80
192.0.2.9 80/tcp           ALLOW OUT   Anywhere                   # ocsp.stapling ip 192.0.2.9 tcp/80
"""


def test_ufw_plan_from_status():
    run = recorded({"/usr/sbin/ufw status": (0, UFW_STATUS, "")})
    fw = _firewall.Ufw(run, "/usr/sbin/ufw")
    rules, _res = _firewall.desired_rules([{"host": "192.0.2.1"}, {"host": "192.0.2.2", "port": 8080}])
    commands, added, removed, after = fw.plan(rules, purge=True)
    assert added == ["ip 192.0.2.2 tcp/8080"] and removed == ["ip 192.0.2.9 tcp/80"]
    assert commands == [
        ["/usr/sbin/ufw", "allow", "out", "proto", "tcp", "to", "192.0.2.2", "port", "8080", "comment",
         "ocsp.stapling ip 192.0.2.2 tcp/8080"],
        ["/usr/sbin/ufw", "delete", "allow", "out", "proto", "tcp", "to", "192.0.2.9", "port", "80"]]
    with pytest.raises(StaplingError, match="no owner match"):
        fw.plan(_firewall.desired_rules([{"host": "192.0.2.1"}], owner_uid=33)[0])
    inactive = _firewall.Ufw(recorded({"/usr/sbin/ufw status": (0, "Status: inactive\n", "")}), "/usr/sbin/ufw")
    with pytest.raises(StaplingError, match="not active"):
        inactive.plan(rules)


def test_make_backend_names_the_missing_tool():
    with pytest.raises(StaplingError, match="backend nftables needs the nft command; install nftables"):
        _firewall.make_backend("nftables", recorded({}), lambda name: None)
    assert isinstance(_firewall.make_backend("ufw", recorded({}), which_all), _firewall.Ufw)
    assert isinstance(_firewall.make_backend("iptables", recorded({}), which_all), _firewall.Iptables)


# --- firewalld: a policy of ours, runtime and permanent -------------------------------------

RICH_A = 'rule family="ipv4" destination address="192.0.2.1" port port="80" protocol="tcp" accept'
RICH_B = 'rule family="ipv6" destination address="2001:db8::1" port port="80" protocol="tcp" accept'


def firewalld(runtime, permanent):
    """A recorded firewalld: runtime/permanent are lists of rich rules, or None without our policy."""
    fc = "/usr/sbin/firewall-cmd"
    answers = {fc + " --state": (0, "running\n", "")}
    for scope, rules in (("", runtime), (" --permanent", permanent)):
        answers[fc + scope + " --get-policies"] = (0, "allow-host-ipv6" + (" ocsp-stapling" if rules is not None
                                                                           else "") + "\n", "")
        answers[fc + scope + " --policy ocsp-stapling --list-rich-rules"] = (0, "\n".join(rules or []) + "\n", "")
    return _firewall.Firewalld(recorded(answers), fc)


def test_firewalld_rich_rules_round_trip():
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}, {"host": "2001:db8::1"}], resolver=lambda h, p: [h])
    texts = sorted(_firewall.Firewalld.rich(r) for r in rules.values())
    assert texts == [RICH_A, RICH_B]
    assert sorted(_firewall.Firewalld.parse("\n".join(texts + ['rule service name="ssh" accept']))) == sorted(rules)


def test_firewalld_first_run_creates_the_policy_and_reloads_once():
    fw = firewalld(None, None)
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}], resolver=lambda h, p: [h])
    commands, added, removed, after = fw.plan(rules)
    flat = [" ".join(c[1:]) for c in commands]
    assert flat == ["--permanent --new-policy ocsp-stapling",
                    "--permanent --policy ocsp-stapling --add-ingress-zone HOST",
                    "--permanent --policy ocsp-stapling --add-egress-zone ANY",
                    "--permanent --policy ocsp-stapling --set-priority=-32768",
                    "--permanent --policy ocsp-stapling --add-rich-rule=" + RICH_A,
                    "--reload"]
    assert added == ["ip 192.0.2.1 tcp/80"] and removed == [] and after == added
    assert "reload" in fw.notes[0]


def test_firewalld_converged_plans_nothing_and_purge_edits_both_scopes():
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}], resolver=lambda h, p: [h])
    assert firewalld([RICH_A], [RICH_A]).plan(rules)[0] == []
    commands, added, removed, after = firewalld([RICH_A, RICH_B], [RICH_B]).plan(rules, purge=True)
    flat = [" ".join(c[1:]) for c in commands]
    assert flat == ["--permanent --policy ocsp-stapling --remove-rich-rule=" + RICH_B,
                    "--permanent --policy ocsp-stapling --add-rich-rule=" + RICH_A,
                    "--policy ocsp-stapling --remove-rich-rule=" + RICH_B]
    assert removed == ["ip6 2001:db8::1 tcp/80"] and added == [] and after == ["ip 192.0.2.1 tcp/80"]
    # Without purge, ours stay (and the runtime-only one is made permanent too).
    commands, added, removed, after = firewalld([RICH_A, RICH_B], [RICH_B]).plan(rules)
    assert removed == [] and len(after) == 2


def test_firewalld_absent_and_refusals():
    commands, added, removed, after = firewalld([RICH_A], [RICH_A]).plan({}, state="absent")
    flat = [" ".join(c[1:]) for c in commands]
    assert flat == ["--permanent --delete-policy ocsp-stapling",
                    "--policy ocsp-stapling --remove-rich-rule=" + RICH_A]
    assert removed == ["ip 192.0.2.1 tcp/80"] and after == []
    assert firewalld([], None).plan({}, state="absent")[0] == []
    owned, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}], owner_uid=33, resolver=lambda h, p: [h])
    with pytest.raises(StaplingError, match="no owner match"):
        firewalld(None, None).plan(owned)
    stopped = _firewall.Firewalld(recorded({"/usr/sbin/firewall-cmd --state": (252, "not running\n", "")}),
                                  "/usr/sbin/firewall-cmd")
    with pytest.raises(StaplingError, match="firewalld is not running"):
        stopped.plan({})


# --- persistence for nftables and iptables ----------------------------------------------------

class FakeFiles(object):
    def __init__(self, files, enabled=False):
        self.files, self.enabled = dict(files), enabled

    def persistence(self, which=which_all):
        answers = {"/usr/sbin/systemctl is-enabled": (0 if self.enabled else 1,
                                                      "enabled\n" if self.enabled else "disabled\n", "")}
        return _firewall.BootPersistence(recorded(answers), which, exists=self.files.__contains__,
                                         read=self.files.__getitem__)


def planned_nftables(rules):
    outputs = {"/usr/sbin/nft -j list ruleset": (0, json.dumps({"nftables": [
        {"table": {"family": "inet", "name": "host"}},
        {"chain": {"family": "inet", "table": "host", "name": "output", "type": "filter", "hook": "output"}},
    ]}), "")}
    fw = _firewall.Nftables(recorded(outputs), "/usr/sbin/nft")
    fw.plan(rules)
    return fw


def test_persistence_nftables_file_and_unit():
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}, {"host": "2001:db8::1"}], owner_uid=33,
                                               resolver=lambda h, p: [h])
    fw = planned_nftables(rules)
    files = FakeFiles({}).persistence().wanted_files(fw, sorted(rules), rules)
    nft = files["/etc/ocsp-stapling/egress.nft"]
    body = [line for line in nft.splitlines() if not line.startswith("#")]
    assert body == [
        "add chain inet host ocsp_stapling_egress",
        "flush chain inet host ocsp_stapling_egress",
        'add rule inet host ocsp_stapling_egress meta skuid 33 ip daddr 192.0.2.1 tcp dport 80 accept '
        'comment "ocsp.stapling ip 192.0.2.1 tcp/80 uid=33"',
        'add rule inet host ocsp_stapling_egress meta skuid 33 ip6 daddr 2001:db8::1 tcp dport 80 accept '
        'comment "ocsp.stapling ip6 2001:db8::1 tcp/80 uid=33"',
        'insert rule inet host output jump ocsp_stapling_egress comment "ocsp.stapling jump"']
    unit = files[_firewall.UNIT_PATH]
    assert "ExecStart=/usr/sbin/nft -f /etc/ocsp-stapling/egress.nft\n" in unit
    assert "After=nftables.service\n" in unit and "PartOf=nftables.service\n" in unit
    assert "WantedBy=sysinit.target" in unit
    writes, removals, enable = FakeFiles({}).persistence().plan(files)
    assert sorted(writes) == sorted(files) and removals == {} and enable is True
    assert FakeFiles(files, enabled=True).persistence().plan(files) == ({}, {}, None)  # converged


def test_persistence_off_removes_ours_and_needs_systemd_when_on():
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}], resolver=lambda h, p: [h])
    fw = planned_nftables(rules)
    files = FakeFiles({}).persistence().wanted_files(fw, sorted(rules), rules)
    writes, removals, enable = FakeFiles(files, enabled=True).persistence().plan({})
    assert writes == {} and removals == files and enable is False  # with their content, for the diff
    assert FakeFiles({}).persistence().plan({}) == ({}, {}, None)
    # Without systemd a left-over file is still removed (nothing to disable), and persist: true is refused.
    assert FakeFiles(files).persistence(which=lambda name: None).plan({}) == ({}, files, None)
    with pytest.raises(StaplingError, match="needs systemd"):
        FakeFiles({}).persistence(which=lambda name: None).wanted_files(fw, sorted(rules), rules)


def test_persistence_iptables_files_per_family():
    rules, _resolved = _firewall.desired_rules([{"host": "192.0.2.1"}, {"host": "2001:db8::1"}], resolver=lambda h, p: [h])
    fw = _firewall.Iptables(recorded({}), _firewall.iptables_binaries(which_all))
    files = FakeFiles({}).persistence().wanted_files(fw, sorted(rules), rules)
    v4 = files["/etc/ocsp-stapling/egress-ipv4.rules"]
    assert ":OCSP-STAPLING - [0:0]" in v4 and "-d 192.0.2.1 " in v4 and "2001:db8::1" not in v4
    assert "-d 2001:db8::1 " in files["/etc/ocsp-stapling/egress-ipv6.rules"]
    only_v4 = dict((k, r) for k, r in rules.items() if r.family == "ip")
    files = FakeFiles({}).persistence().wanted_files(fw, sorted(only_v4), only_v4)
    assert "-j OCSP-STAPLING" in files["/etc/ocsp-stapling/egress-ipv6.rules"]  # chain and jump, as live
    unit = files[_firewall.UNIT_PATH]
    assert "ExecStart=/usr/sbin/iptables-restore --noflush /etc/ocsp-stapling/egress-ipv4.rules\n" in unit
    assert "ExecStart=/usr/sbin/ip6tables-restore --noflush /etc/ocsp-stapling/egress-ipv6.rules\n" in unit
    assert "After=netfilter-persistent.service" in unit


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
