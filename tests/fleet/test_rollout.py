"""ocsp.stapling.rollout over every host of the fleet by SSH (pipelining, forks = N): stock hosts (sites enabled by
a2ensite, default-ssl, a certbot live/ certificate, a 0640 root:ssl-cert site file, two nodes without our Python
libraries, installed by the rollout from the fleet's package source); each stapleable vhost verified by our module
and by curl --cert-status from the controller, vhosts without an OCSP URI left alone and reported, the per-vhost
errors reported, the sites as a2query lists them, and a converged re-run with changed=0 on every host and at most 5
module executions."""

import os

from fleet.testing import (config_digests, curl_cert_status, latest_summary, module_executions, recap, rollout_vars,
                           run_on_fleet)

EXPECTED = {  # vhost of the lab PKI -> (decision, code) the plan gives it
    "good": ("staple", "stapleable"),
    "must_staple": ("staple", "stapleable"),
    "second_issuer": ("staple", "stapleable"),
    "no_uri": ("no_ocsp_uri", "no_ocsp_uri"),
    "revoked": ("error", "certificate_revoked"),
    "missing_chain": ("error", "missing_issuer"),
}


def test_rollout_over_ssh_then_converged(fresh_fleet, tmp_path):
    fleet = fresh_fleet
    hosts = fleet.hosts
    no_uri_before = {}
    installed = dict((h.name, h.exec(["dpkg-query", "-W", "-f", "${Status}", "python3-openssl"],
                                     check=False).stdout.endswith("installed")) for h in hosts)
    assert installed["h01"] is False and installed["h02"] is False and installed["h03"] is True, installed
    sites_before = dict((h.name, sorted(h.exec(["a2query", "-s"]).stdout.split("\n"))) for h in hosts)
    links_before = dict((h.name, sorted((n, os.readlink(h.path("etc/apache2/sites-enabled/" + n)))
                                        for n in os.listdir(h.path("etc/apache2/sites-enabled")))) for h in hosts)
    for h in hosts:
        for site in h.record["sites"]:
            if site["vhost"] in ("good", "must_staple"):
                assert curl_cert_status(fleet, h, site["sni"])[0] != 0  # nothing stapled before
        with open(h.path("etc/apache2/sites-available/no_uri.conf"), "rb") as f:
            no_uri_before[h.name] = f.read()

    rc, results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path))
    assert rc == 0, out[-5000:]
    summary = latest_summary(tmp_path)
    assert sorted(summary["hosts"]) == sorted(h.name for h in hosts)
    for h in hosts:
        report = summary["hosts"][h.name]
        assert report["status"] == "changed" and report["rolled_back"] is False, report
        by_name = dict((v["server_name"], v) for v in report["vhosts"])
        for site in h.record["sites"]:
            v = by_name[site["sni"]]
            assert (v["decision"], v["code"]) == EXPECTED[site["vhost"]], (h.name, v)
            if v["decision"] == "staple":
                assert v["staple"]["valid"] is True and v["staple"]["cert_status"] == "good", (h.name, v)
                rc_curl, curl_out = curl_cert_status(fleet, h, site["sni"])
                assert rc_curl == 0, (h.name, site, curl_out)
            else:
                assert v["staple"]["checked"] is False, (h.name, v)
                assert curl_cert_status(fleet, h, site["sni"])[0] != 0  # not stapled: curl refuses
        with open(h.path("etc/apache2/sites-available/no_uri.conf"), "rb") as f:
            assert f.read() == no_uri_before[h.name]  # left alone, byte for byte
        # The operator's layout as Debian's tools see it: the same sites enabled, by the same links.
        assert sorted(h.exec(["a2query", "-s"]).stdout.split("\n")) == sites_before[h.name]
        assert sorted((n, os.readlink(h.path("etc/apache2/sites-enabled/" + n)))
                      for n in os.listdir(h.path("etc/apache2/sites-enabled"))) == links_before[h.name]
        st = os.stat(h.path("etc/apache2/sites-available/must_staple.conf"))
        assert st.st_mode & 0o777 == 0o640 and st.st_gid != 0, h.name
        # Installed where it was missing, from the fleet's package source (the rollout's preflight step).
        assert h.exec(["dpkg-query", "-W", "-f", "${Status}", "python3-openssl"]).stdout.endswith("installed")
    assert summary["totals"]["changed"] == len(hosts)

    digests = config_digests(fleet)
    apache = dict((h.name, h.apache_pids()) for h in hosts)
    rc, results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path))
    assert rc == 0, out[-5000:]
    per_host = recap(out)
    for h in hosts:
        assert per_host[h.name]["changed"] == 0 and per_host[h.name]["failed"] == 0, (h.name, per_host)
    assert config_digests(fleet) == digests
    assert dict((h.name, h.apache_pids()) for h in hosts) == apache  # not reloaded: the same processes serve
    runs = module_executions(results, [h.name for h in hosts])
    assert all(0 < n <= 5 for n in runs.values()), runs
    assert all(r["status"] == "ok" for r in latest_summary(tmp_path)["hosts"].values())
