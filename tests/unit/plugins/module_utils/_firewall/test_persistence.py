"""Boot-time persistence of nftables and iptables rules: our file and our unit, never the host's own."""

import json

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils._firewall import api as _firewall
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.tests.unit.plugins.module_utils._firewall.recorder import recorded, which_all


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
