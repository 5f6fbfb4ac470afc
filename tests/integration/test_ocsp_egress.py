"""ocsp.stapling.ocsp_egress on real nftables and iptables, in network namespaces the test makes:
a default-deny egress policy, a real OCSP responder reachable only once the module ran."""

import json
import os
import subprocess
import sys

import pytest

from egress_netns import PEER_ADDRESS, Firewalld, Netns
from lab.procs import free_port

MODULE = "ocsp.stapling.ocsp_egress"

HOST_NFT = """table inet host {
  chain output {
    type filter hook output priority 0; policy drop;
    ct state established,related accept
    tcp dport 9999 accept comment "someone else's rule"
  }
}
"""


@pytest.fixture
def netns(tmp_path, lab):
    ns = Netns(tmp_path)
    try:
        port = free_port()
        ns.start([sys.executable, "-m", "lab.responders", "--pki", lab.pki.directory, "--port", str(port)],
                 "responder.log")
        ns.wait_listening(port)
        ns.port = port
        yield ns
    finally:
        ns.close()


def run_in(run_playbook, ns, args, check=False, diff=False):
    play = [{"hosts": "nshost", "gather_facts": False, "tasks": [{
        "name": "egress", MODULE: args, "check_mode": check, "diff": diff, "ignore_errors": True}]}]
    rc, results, output = run_playbook(json.dumps(play), inventory=ns.inventory(),
                                       env={"PYTHONPATH": ":".join(sys.path)})
    task = [r for r in results if r["task"] == "egress"]
    assert task, output
    result = task[0]["result"]
    result.setdefault("failed", task[0]["status"] == "failed")
    result["_output"] = output
    return result


def ocsp_request_works(ns, lab, host="127.0.0.1", port=None):
    leaf = lab.pki.certs["good"]
    proc = ns.run(["openssl", "ocsp", "-issuer", leaf.issuer.cert_path, "-cert", leaf.cert_path, "-url",
                   "http://{0}:{1}/".format(host, port or ns.port), "-CAfile", lab.pki.ca_bundle_path,
                   "-timeout", "2"])
    return proc.returncode == 0 and "good.crt: good" in proc.stdout


@pytest.mark.core_matrix
def test_nftables_default_deny(run_playbook, netns, lab):
    netns.run(["nft", "-f", "-"], data=HOST_NFT, check=True)
    assert not netns.can_connect(netns.port)
    endpoints = [{"host": "127.0.0.1", "port": netns.port}]
    check = run_in(run_playbook, netns, {"endpoints": endpoints}, check=True, diff=True)
    assert not check["failed"], check["_output"]
    assert check["changed"] and check["backend"] == "nftables" and check["added"] == [
        "ip 127.0.0.1 tcp/{0}".format(netns.port)]
    assert not netns.can_connect(netns.port)  # check mode changed nothing
    real = run_in(run_playbook, netns, {"endpoints": endpoints}, diff=True)
    assert real["changed"] and not real["failed"], real["_output"]
    assert netns.can_connect(netns.port) and ocsp_request_works(netns, lab)
    assert "ocsp_stapling_egress" in real["diff"]["after"]
    again = run_in(run_playbook, netns, {"endpoints": endpoints})
    assert again["changed"] is False and again["added"] == [] and again["removed"] == []
    # A stale rule of ours goes with purge; the host's own rules stay.
    other = free_port()
    moved = run_in(run_playbook, netns, {"endpoints": [{"host": "127.0.0.1", "port": other}], "purge": True})
    assert moved["changed"] and moved["removed"] == ["ip 127.0.0.1 tcp/{0}".format(netns.port)]
    assert not netns.can_connect(netns.port)
    ruleset = netns.run(["nft", "list", "ruleset"]).stdout
    assert "someone else's rule" in ruleset and "policy drop" in ruleset
    gone = run_in(run_playbook, netns, {"state": "absent"})
    assert gone["changed"] and "ocsp" not in netns.run(["nft", "list", "ruleset"]).stdout
    assert run_in(run_playbook, netns, {"state": "absent"})["changed"] is False


@pytest.mark.parametrize("iptables", ["iptables", "iptables-legacy"])
def test_iptables_default_deny(run_playbook, netns, lab, iptables):
    netns.run([iptables, "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
              check=True)
    netns.run([iptables, "-A", "OUTPUT", "-p", "tcp", "--dport", "9999", "-j", "ACCEPT"], check=True)
    netns.run([iptables, "-P", "OUTPUT", "DROP"], check=True)
    assert not netns.can_connect(netns.port)
    endpoints = [{"host": "127.0.0.1", "port": netns.port}]
    real = run_in(run_playbook, netns, {"endpoints": endpoints})
    assert not real["failed"], real["_output"]
    assert real["changed"] and real["backend"] == "iptables"
    assert netns.can_connect(netns.port) and ocsp_request_works(netns, lab)
    assert run_in(run_playbook, netns, {"endpoints": endpoints})["changed"] is False
    saved = netns.run([iptables + "-save", "-t", "filter"]).stdout
    assert "--dport 9999 -j ACCEPT" in saved and ":OUTPUT DROP" in saved and "OCSP-STAPLING" in saved
    gone = run_in(run_playbook, netns, {"state": "absent"})
    assert gone["changed"] and "OCSP-STAPLING" not in netns.run([iptables + "-save", "-t", "filter"]).stdout
    assert not netns.can_connect(netns.port)


def test_owner_match_allows_only_that_user(run_playbook, netns):
    netns.run(["nft", "-f", "-"], data=HOST_NFT, check=True)
    result = run_in(run_playbook, netns, {"endpoints": [{"host": "127.0.0.1", "port": netns.port}],
                                          "owner": "www-data"})
    assert result["changed"] and not result["failed"], result["_output"]
    assert result["rules"][0]["uid"] == 33
    assert netns.can_connect(netns.port, user="www-data")
    assert not netns.can_connect(netns.port)  # root is not the web server


def test_bad_input_leaves_nothing(run_playbook, netns):
    netns.run(["nft", "-f", "-"], data=HOST_NFT, check=True)
    netns.run(["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"], check=True)  # this namespace only
    for args, fragment in [
        ({"endpoints": [{"host": "2001:db8::1", "port": 80}]}, "IPv6 is disabled on this host"),
        ({"endpoints": [{"host": "127.0.0.1", "port": 389, "uri": "ldap://127.0.0.1/"}]}, "http:// only"),
        ({"endpoints": [{"host": "no-such-host.invalid", "port": 80}]}, "cannot resolve"),
        ({"endpoints": [{"host": "127.0.0.1", "port": 80, "protocol": "udp"}]}, "TCP only"),
        ({"endpoints": [{"host": "127.0.0.1", "port": 0}]}, "outside 1-65535"),
        ({"endpoints": [{"host": "127.0.0.1"}], "owner": "no-such-user"}, "not a user"),
        ({"endpoints": [{"host": "127.0.0.1"}], "backend": "firewalld"}, "firewalld is not running"),
        ({"endpoints": [{"host": "127.0.0.1"}], "backend": "ufw"}, "ufw is not active"),
    ]:
        result = run_in(run_playbook, netns, args)
        assert result["failed"] and fragment in result["msg"], (args, result.get("msg"))
    assert "ocsp" not in netns.run(["nft", "list", "ruleset"]).stdout


def test_ufw_default_deny(run_playbook, netns, lab):
    netns.private_etc("ufw")
    # ufw accepts everything on lo, and the responder is in this namespace on loopback: take that
    # one accept out of this namespace's private copy, so loopback egress is filtered like any other.
    for name, chain in (("before.rules", "ufw-before-output"), ("before6.rules", "ufw6-before-output")):
        path = "{0}/ufw/{1}".format(netns.etc, name)
        with open(path) as f:
            rules = f.read()
        line = "-A {0} -o lo -j ACCEPT".format(chain)
        assert line in rules
        with open(path, "w") as f:
            f.write(rules.replace(line, ""))
    before = open("/etc/ufw/ufw.conf").read()
    netns.run(["ufw", "--force", "enable"], check=True)
    netns.run(["ufw", "default", "deny", "outgoing"], check=True)
    assert not netns.can_connect(netns.port)
    endpoints = [{"host": "127.0.0.1", "port": netns.port}]
    real = run_in(run_playbook, netns, {"endpoints": endpoints}, diff=True)
    assert not real["failed"], real["_output"]
    assert real["backend"] == "ufw" and real["changed"] and real["persisted"] is True
    assert netns.can_connect(netns.port) and ocsp_request_works(netns, lab)
    assert "ocsp.stapling ip 127.0.0.1 tcp/{0}".format(netns.port) in real["diff"]["after"]
    assert run_in(run_playbook, netns, {"endpoints": endpoints})["changed"] is False
    refused = run_in(run_playbook, netns, {"endpoints": endpoints, "owner": "www-data"})
    assert refused["failed"] and "no owner match" in refused["msg"]
    gone = run_in(run_playbook, netns, {"state": "absent"})
    assert gone["changed"] and gone["removed"] == ["ip 127.0.0.1 tcp/{0}".format(netns.port)]
    assert not netns.can_connect(netns.port)
    assert "Status: active" in netns.run(["ufw", "status"]).stdout  # ufw itself left as it was
    assert open("/etc/ufw/ufw.conf").read() == before  # the machine's own ufw untouched


HOST_IPTABLES = [["-A", "OUTPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
                 ["-A", "OUTPUT", "-p", "tcp", "--dport", "9999", "-j", "ACCEPT"],
                 ["-P", "OUTPUT", "DROP"]]


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_persist_survives_a_reboot(run_playbook, netns, lab, backend):
    """persist: true writes a rules file and a unit of ours; after a "reboot" (ruleset flushed, the host's own
    firewall loaded again, then our unit's commands) the responder is reachable again, and the module agrees
    nothing is missing. The namespace gets private /etc/systemd and /etc/ocsp-stapling."""
    systemd = netns.private_etc("systemd")
    ours = netns.private_etc("ocsp-stapling", copy=False)

    def host_firewall():  # what the host's own nftables.service / netfilter-persistent loads at boot
        if backend == "nftables":
            netns.run(["nft", "-f", "-"], data=HOST_NFT, check=True)
        else:
            for args in HOST_IPTABLES:
                netns.run(["iptables"] + args, check=True)

    def reboot(with_host_firewall=True):
        netns.run(["nft", "flush", "ruleset"], check=True)  # iptables here is the nf_tables variant
        if with_host_firewall:
            host_firewall()

    host_firewall()
    args = {"endpoints": [{"host": "127.0.0.1", "port": netns.port}], "persist": True, "backend": backend}
    check = run_in(run_playbook, netns, args, check=True, diff=True)
    assert check["changed"] and not check["failed"], check["_output"]
    assert "ExecStart=" in check["diff"]["after"] and os.listdir(ours) == []  # predicted, nothing written
    assert not os.path.exists(os.path.join(systemd, "system", "ocsp-stapling-egress.service"))
    real = run_in(run_playbook, netns, args, diff=True)
    assert not real["failed"], real["_output"]
    assert real["changed"] and real["persisted"] is True
    rules_files = ["egress.nft"] if backend == "nftables" else ["egress-ipv4.rules", "egress-ipv6.rules"]
    assert real["persist_files"] == ["/etc/ocsp-stapling/" + n for n in rules_files] + [
        "/etc/systemd/system/ocsp-stapling-egress.service"]
    unit_path = os.path.join(systemd, "system", "ocsp-stapling-egress.service")
    assert os.path.islink(os.path.join(systemd, "system", "sysinit.target.wants", "ocsp-stapling-egress.service"))
    assert sorted(os.listdir(ours)) == rules_files
    assert "/etc/ocsp-stapling/" + rules_files[0] in real["diff"]["after"]
    verify = subprocess.run(["systemd-analyze", "verify", unit_path], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert verify.returncode == 0, verify.stdout
    assert run_in(run_playbook, netns, args)["changed"] is False

    with open(unit_path) as f:
        loads = [line.split("=", 1)[1].split() for line in f.read().splitlines() if line.startswith("ExecStart=")]
    reboot()
    assert not netns.can_connect(netns.port)
    for argv in loads:
        netns.run(argv, check=True)
    assert netns.can_connect(netns.port) and ocsp_request_works(netns, lab)
    assert run_in(run_playbook, netns, args)["changed"] is False  # the unit loaded exactly what the module wants

    if backend == "nftables":  # the host's table is missing at boot: only our load fails, nothing half-loaded
        reboot(with_host_firewall=False)
        assert netns.run(loads[0]).returncode != 0
        assert netns.run(["nft", "list", "ruleset"]).stdout.strip() == ""
        host_firewall()

    # Our unit run again on top of a ruleset that already holds our rules (a restart without a flush, or a
    # `netfilter-persistent save` followed by a boot): a second jump, which changes nothing and must not
    # stop state=absent from removing everything.
    for argv in loads:
        netns.run(argv, check=True)
    assert run_in(run_playbook, netns, args)["changed"] is False

    off = run_in(run_playbook, netns, dict(args, persist=False), diff=True)
    assert off["changed"] and off["persisted"] is False and not off["failed"], off["_output"]
    assert "# /etc/systemd/system/ocsp-stapling-egress.service\n(absent)" in off["diff"]["after"]
    assert "ExecStart=" in off["diff"]["before"]
    assert not os.path.exists(unit_path) and os.listdir(ours) == []
    assert not os.path.lexists(os.path.join(systemd, "system", "sysinit.target.wants", "ocsp-stapling-egress.service"))
    assert netns.can_connect(netns.port)  # the running rules stay; only the boot-time copy went
    gone = run_in(run_playbook, netns, {"state": "absent", "backend": backend})
    assert gone["changed"] and not gone["failed"], gone["_output"]
    ruleset = netns.run(["nft", "list", "ruleset"]).stdout
    assert "ocsp" not in ruleset.lower() and not netns.can_connect(netns.port)


@pytest.fixture
def firewalld(netns):
    fwd = Firewalld(netns)
    try:
        yield fwd
    finally:
        fwd.close()


def test_firewalld_default_deny(run_playbook, netns, firewalld, lab):
    """A real firewalld (own D-Bus, own config dir) in the namespace, whose own policy rejects all egress from
    the host; the responder sits in a peer namespace behind a veth pair (firewalld always accepts lo)."""
    peer = netns.add_peer()
    port = free_port()
    peer.start([sys.executable, "-m", "lab.responders", "--pki", lab.pki.directory, "--port", str(port),
                "--address", PEER_ADDRESS], "peer-responder.log")
    netns.wait_listening(port, host=PEER_ADDRESS)
    for args in (["--new-policy", "denyout"], ["--policy", "denyout", "--add-ingress-zone", "HOST"],
                 ["--policy", "denyout", "--add-egress-zone", "ANY"], ["--policy", "denyout", "--set-target", "REJECT"]):
        assert firewalld.cmd("--permanent", *args).returncode == 0
    assert firewalld.cmd("--reload").returncode == 0
    assert not netns.can_connect(port, host=PEER_ADDRESS)

    args = {"endpoints": [{"host": PEER_ADDRESS, "port": port}]}
    check = run_in(run_playbook, netns, args, check=True)
    assert not check["failed"], check["_output"]
    assert check["backend"] == "firewalld" and check["changed"]
    assert check["added"] == ["ip {0} tcp/{1}".format(PEER_ADDRESS, port)]
    assert "ocsp-stapling" not in firewalld.cmd("--get-policies").stdout  # check mode changed nothing
    real = run_in(run_playbook, netns, args, diff=True)
    assert real["changed"] and not real["failed"], real["_output"]
    assert real["persisted"] is True and any("reload" in w for w in real.get("warnings", []))
    assert netns.can_connect(port, host=PEER_ADDRESS) and ocsp_request_works(netns, lab, PEER_ADDRESS, port)
    policy_file = os.path.join(firewalld.config, "policies", "ocsp-stapling.xml")
    with open(policy_file) as f:
        assert PEER_ADDRESS in f.read()  # in firewalld's permanent configuration too
    assert "runtime: rule family" in real["diff"]["after"]
    again = run_in(run_playbook, netns, args)
    assert again["changed"] is False and not again.get("warnings")

    other = free_port()
    moved = run_in(run_playbook, netns, {"endpoints": [{"host": PEER_ADDRESS, "port": other}], "purge": True})
    assert moved["changed"] and moved["removed"] == ["ip {0} tcp/{1}".format(PEER_ADDRESS, port)]
    assert not netns.can_connect(port, host=PEER_ADDRESS)
    assert "denyout" in firewalld.cmd("--get-policies").stdout  # the host's own policy stays
    refused = run_in(run_playbook, netns, dict(args, owner="www-data"))
    assert refused["failed"] and "no owner match" in refused["msg"]

    gone = run_in(run_playbook, netns, {"state": "absent"})
    assert gone["changed"] and gone["removed"] == ["ip {0} tcp/{1}".format(PEER_ADDRESS, other)]
    assert not os.path.exists(policy_file)
    assert firewalld.cmd("--policy", "ocsp-stapling", "--list-rich-rules").stdout.strip() == ""
    assert run_in(run_playbook, netns, {"state": "absent"})["changed"] is False
    back = run_in(run_playbook, netns, args)  # and back again, without another reload
    assert back["changed"] and not back.get("warnings") and netns.can_connect(port, host=PEER_ADDRESS)


def test_destinations_no_responder_can_be_are_refused_before_any_change(run_playbook, netns):
    """Issue 24 #2: a certificate's OCSP URIs http://169.254.169.254/ and http://10.1.2.3:22/ became accept rules
    for the web server's user. The metadata address is refused, naming it, and nothing is added; an operator's
    allowed_networks refuses everything outside them too."""
    netns.run(["nft", "-f", "-"], data=HOST_NFT, check=True)
    before = netns.run(["nft", "list", "ruleset"], check=True).stdout
    result = run_in(run_playbook, netns, {"endpoints": [{"host": "10.1.2.3", "port": 22},
                                                        {"host": "169.254.169.254", "port": 80}]})
    assert result["failed"] and "endpoints[1]: 169.254.169.254 port 80" in result["msg"], result["_output"]
    assert "link-local" in result["msg"] and not result.get("added")
    assert netns.run(["nft", "list", "ruleset"], check=True).stdout == before
    outside = run_in(run_playbook, netns, {"endpoints": [{"host": "127.0.0.1", "port": netns.port}],
                                           "allowed_networks": ["10.0.0.0/8"]})
    assert outside["failed"] and "outside the networks egress is allowed to (10.0.0.0/8)" in outside["msg"]
    inside = run_in(run_playbook, netns, {"endpoints": [{"host": "127.0.0.1", "port": netns.port}],
                                          "allowed_networks": ["127.0.0.0/8"]}, check=True)
    assert not inside["failed"] and inside["added"] == ["ip 127.0.0.1 tcp/{0}".format(netns.port)], inside["_output"]
