"""The role refuses, before any change, a host it cannot change safely: the config tree stays byte-identical,
the host fails with the reason, and the summary says why."""

import os

import pytest

from lab.trees import tree_digest
from rollout_helpers import latest_report, run_rollout


@pytest.mark.core_matrix
def test_configtest_already_failing_is_never_touched(rollout_lab, tmp_path):
    # A cache inside a vhost: Apache refuses the configuration (AH00526); the running server keeps the old one.
    good = rollout_lab.apache.vhosts["good"]
    path = os.path.join(rollout_lab.apache.confdir, "sites-enabled", "good.conf")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("</VirtualHost>", "    SSLStaplingCache shmcb:/tmp/x(32768)\n</VirtualHost>"))
    ok, _output = rollout_lab.apache.configtest()
    assert not ok
    before = tree_digest(rollout_lab.apache.confdir)
    rc, _results, out = run_rollout(rollout_lab, tmp_path)
    assert rc != 0
    assert "Refused, nothing changed" in out and "configtest" in out
    assert tree_digest(rollout_lab.apache.confdir) == before
    assert rollout_lab.apache.alive()
    report = latest_report(tmp_path)
    assert report["status"] == "failed" and [e["code"] for e in report["errors"]] == ["configtest_failed"]
    assert report["transaction"] is None and report["rolled_back"] is False
    assert good["sni"] in [v["server_name"] for v in report["vhosts"]]


def test_must_staple_without_its_chain_is_refused(rollout_lab, tmp_path):
    leaf = rollout_lab.pki.certs["must_staple"]
    rollout_lab.apache.add_vhost("must_staple_nochain", leaf.cert_path, leaf.key_path,
                                 server_name="must-staple-nochain.lab.test")
    rollout_lab.apache.graceful()
    before = tree_digest(rollout_lab.apache.confdir)
    rc, _results, out = run_rollout(rollout_lab, tmp_path)
    assert rc != 0 and "must-staple-nochain.lab.test" in out and "must-staple" in out
    assert tree_digest(rollout_lab.apache.confdir) == before
    report = latest_report(tmp_path)
    assert [e["code"] for e in report["errors"]] == ["must_staple_unmet"]
    d = {v["server_name"]: v for v in report["vhosts"]}
    assert d["must-staple-nochain.lab.test"]["code"] == "missing_issuer"


def test_fail_on_vhost_error_given_as_a_string(rollout_lab, tmp_path):
    """-e apache_stapling_fail_on_vhost_error=true arrives as a string: '| bool' makes it work (2.19 rejects it raw)."""
    before = tree_digest(rollout_lab.apache.confdir)
    rc, _results, out = run_rollout(rollout_lab, tmp_path, args=["-e", "apache_stapling_fail_on_vhost_error=true"])
    assert rc != 0 and "Refused, nothing changed" in out and "SSLCertificateChainFile" in out
    assert tree_digest(rollout_lab.apache.confdir) == before
    report = latest_report(tmp_path)
    assert report["status"] == "failed"
    codes = {v["server_name"]: v["code"] for v in report["vhosts"]}
    assert codes["missing-chain.lab.test"] == "missing_issuer" and codes["revoked.lab.test"] == "certificate_revoked"
