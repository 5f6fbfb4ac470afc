"""ocsp.stapling.ocsp_egress on real nftables and iptables, in network namespaces the test makes:
a default-deny egress policy, a real OCSP responder reachable only once the module ran."""

import json
import sys

import pytest

from egress_netns import Netns
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


def ocsp_request_works(ns, lab):
    leaf = lab.pki.certs["good"]
    proc = ns.run(["openssl", "ocsp", "-issuer", leaf.issuer.cert_path, "-cert", leaf.cert_path, "-url",
                   "http://127.0.0.1:{0}/".format(ns.port), "-CAfile", lab.pki.ca_bundle_path, "-timeout", "2"])
    return proc.returncode == 0 and "good.crt: good" in proc.stdout


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
    for args, fragment in [
        ({"endpoints": [{"host": "no-such-host.invalid", "port": 80}]}, "cannot resolve"),
        ({"endpoints": [{"host": "127.0.0.1", "port": 80, "protocol": "udp"}]}, "TCP only"),
        ({"endpoints": [{"host": "127.0.0.1", "port": 0}]}, "outside 1-65535"),
        ({"endpoints": [{"host": "127.0.0.1"}], "owner": "no-such-user"}, "not a user"),
        ({"endpoints": [{"host": "127.0.0.1"}], "backend": "firewalld"}, "not supported yet"),
        ({"endpoints": [{"host": "127.0.0.1"}], "backend": "ufw"}, "ufw is not active"),
        ({"endpoints": [{"host": "127.0.0.1"}], "persist": True}, "not implemented yet"),
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
