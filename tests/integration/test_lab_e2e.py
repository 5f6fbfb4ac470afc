"""The foundation's end-to-end proof: the lab's Apache, with a hand-written stapling config,
staples a good response for the good leaf and none for the leaf without an OCSP URI,
as independent clients (openssl s_client, curl --cert-status) see it."""

import os
import re
import socket
import subprocess

import pytest

from lab import ApacheError, Lab, STAPLING_GLOBAL
from lab.procs import pid_alive


def s_client_status(target, extra=()):
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", "{host}:{port}".format(**target), "-servername", target["sni"],
         "-status"] + list(extra),
        input="", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=20, check=False)
    return proc.stdout


def curl_cert_status(lab, target):
    proc = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--cert-status", "--cacert", lab.pki.root_path,
         "--resolve", "{sni}:{port}:{host}".format(**target), "https://{sni}:{port}/".format(**target)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=20, check=False)
    return proc.returncode, proc.stdout


def test_good_leaf_is_stapled_and_verifies(lab):
    target = lab.vhosts["good"]
    out = s_client_status(target, ["-CAfile", lab.pki.ca_bundle_path])
    assert "OCSP Response Status: successful" in out, out
    assert re.search(r"Cert Status: good", out), out
    assert "Responder Id: O = ocsp.stapling lab, CN = Lab Intermediate CA" in out, out
    rc, err = curl_cert_status(lab, target)
    assert rc == 0, err


def test_no_uri_leaf_gets_no_staple(lab):
    target = lab.vhosts["no_uri"]
    out = s_client_status(target)
    assert "OCSP response: no response sent" in out, out
    rc, err = curl_cert_status(lab, target)
    assert rc == 91 and "no ocsp response" in err.lower(), (rc, err)
    assert "AH02218" in open(lab.apache.error_log).read()


def test_revoked_leaf_staples_revoked_and_curl_refuses(lab):
    target = lab.vhosts["revoked"]
    out = s_client_status(target)
    assert "Cert Status: revoked" in out, out
    rc, err = curl_cert_status(lab, target)
    # curl 7.88 reports a revoked staple as "revocation reason" (exit 91, CURLE_SSL_INVALIDCERTSTATUS).
    assert rc == 91 and "revocation" in err.lower(), (rc, err)


def test_second_issuer_is_answered_by_our_responder(lab):
    before = lab.fault.stats()["requests"]
    target = lab.vhosts["second_issuer"]
    # A fresh connection may be the first to ask: mod_ssl fetches lazily inside it.
    rc, err = curl_cert_status(lab, target)
    assert rc == 0, err
    assert lab.fault.stats()["requests"] >= before


def ocsp_query(lab, leaf_name, url):
    leaf = lab.pki.certs[leaf_name]
    return subprocess.run(
        ["openssl", "ocsp", "-issuer", leaf.issuer.cert_path, "-cert", leaf.cert_path, "-url", url,
         "-CAfile", lab.pki.ca_bundle_path, "-timeout", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=20, check=False)


@pytest.mark.parametrize("mode, verifies, expect", [
    ("good", True, "good.crt: good"),
    ("revoked", True, "good.crt: revoked"),
    ("unknown", True, "good.crt: unknown"),
    ("delegated", True, "good.crt: good"),
    ("wrong_signer", False, "Response Verify Failure"),
    ("delegated_no_eku", False, "missing ocspsigning usage"),
    ("trylater", False, "Responder Error: trylater"),
    ("unauthorized", False, "Responder Error: unauthorized"),
    ("wrong_serial", False, "No Status found"),
    ("expired", False, "Status times invalid"),
    ("garbage", False, "Error querying OCSP responder"),
    ("http500", False, "Error querying OCSP responder"),
    ("down", False, "Error querying OCSP responder"),
])
def test_fault_responder_modes_per_path(lab, mode, verifies, expect):
    proc = ocsp_query(lab, "good", lab.fault.url(mode))
    assert expect in proc.stdout, proc.stdout
    assert ("Response verify OK" in proc.stdout and proc.returncode == 0) == verifies or mode == "expired", proc.stdout


def test_fault_responder_switches_mode_while_running(fault_responder, lab):
    assert ocsp_query(lab, "good", fault_responder.url()).returncode == 0
    fault_responder.set_mode("wrong_signer")
    proc = ocsp_query(lab, "good", fault_responder.url())
    assert proc.returncode != 0 and "Verify Failure" in proc.stdout, proc.stdout
    stats = fault_responder.stats()
    assert stats["mode"] == "wrong_signer" and stats["by_mode"] == {"good": 1, "wrong_signer": 1}, stats


def test_hanging_responder_does_not_block_others(fault_responder, lab):
    with socket.create_connection(("127.0.0.1", fault_responder.port), timeout=5) as idle:
        idle.sendall(b"POST /mode/hang/ HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        assert ocsp_query(lab, "good", fault_responder.url()).returncode == 0


def test_graceful_into_cacheless_stapling_is_caught(apache_sandbox, lab):
    """LAB-NOTES: SSLUseStapling on without SSLStaplingCache passes configtest, and a graceful
    into it returns 0 while the server dies. The sandbox must notice, not trust the exit code."""
    leaf = lab.pki.certs["good"]
    apache_sandbox.add_vhost("good", leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path)
    apache_sandbox.start()
    apache_sandbox.add_vhost("good", leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                             port=apache_sandbox.vhosts["good"]["port"], directives=["SSLUseStapling on"])
    ok, out = apache_sandbox.configtest()
    assert ok, out
    with pytest.raises(ApacheError):
        apache_sandbox.graceful(timeout=10)
    assert not apache_sandbox.alive()
    assert "AH01958" in apache_sandbox.log_text()


def test_sandbox_never_touches_the_machine_apache(apache_sandbox):
    assert apache_sandbox.ctl_env["APACHE_CONFDIR"] != "/etc/apache2"
    proc = apache_sandbox.ctl("-t", "-D", "DUMP_RUN_CFG")
    assert apache_sandbox.run_dir in proc.stdout, proc.stdout


def test_down_stops_every_process(tmp_path):
    lab = Lab(str(tmp_path / "lab")).up(vhosts=("good",))
    state = lab.status()
    pids = [state["openssl"]["pid"], state["fault"]["pid"], state["apache"]["pid"]]
    assert all(pid_alive(p) for p in pids)
    # Stop from a fresh object, as the CLI's 'down' does from another process.
    Lab(str(tmp_path / "lab")).down()
    assert not any(pid_alive(p) for p in pids)
    assert not os.path.exists(os.path.join(str(tmp_path / "lab"), "state.json"))
    assert "SSLStaplingCache" in STAPLING_GLOBAL


def _cpu_ticks(pid):
    with open("/proc/{0}/stat".format(pid)) as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_an_idle_openssl_responder_uses_no_cpu(tmp_path):
    """OpenSSL 3.0's `openssl ocsp -multi` child spins at 100 % CPU on a connection closed before its request line;
    the lab's readiness probe used to do exactly that, and every lab of a session kept a child spinning. Started
    and probed as the lab starts it, then left idle, no process of the responder accumulates CPU."""
    from lab import PKI, OpensslResponder
    from lab.procs import children_of
    pki = PKI.create(str(tmp_path / "pki"), "http://127.0.0.1:1/")
    responder = OpensslResponder(pki, str(tmp_path)).start()
    try:
        for _i in range(100):  # the parent forks its -multi 2 children as it starts
            pids = [responder.pid] + children_of(responder.pid)
            if len(pids) == 3:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert len(pids) == 3, pids
        before = dict((pid, _cpu_ticks(pid)) for pid in pids)
        subprocess.run(["sleep", "2"], check=True)
        spent = dict((pid, _cpu_ticks(pid) - before[pid]) for pid in pids)
        # A spinning child spends most of the 200 ticks (100 per second) of these two seconds; idle ones spend none.
        assert all(ticks < 20 for ticks in spent.values()), spent
    finally:
        responder.stop()
