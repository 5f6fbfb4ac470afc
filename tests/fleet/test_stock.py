"""Stock hosts as operators keep them (issue 22): a node without pyOpenSSL whose operator forbids installing packages
is refused before any change (its tree and Apache processes as they were, the packages named); a host configured by
the seed how-to (the global cache in ServerRoot-relative logs/, SSLUseStapling written by hand) is audited, verified
and left to its operator unless take_over, and never gets a second cache."""

import json

from fleet.testing import config_digests, curl_cert_status, latest_summary, recap, rollout_vars, run_on_fleet

PROFILES = {
    1: {"vhosts": ["good", "no_uri"], "python": "no_openssl"},
    2: {"vhosts": ["good", "must_staple"], "howto": True},
}


def stock_profile(index):
    return PROFILES.get(index) or {"vhosts": ["good", "no_uri"]}


def caches_in_force(host):
    """SSLStaplingCache lines Apache reads on the host (apache2ctl -t -D DUMP_CONFIG needs mod_info: grep the
    enabled configuration instead, as Apache includes it)."""
    out = host.exec(["sh", "-c", "cat /etc/apache2/conf-enabled/*.conf /etc/apache2/sites-enabled/*.conf"]).stdout
    return [line.strip() for line in out.splitlines() if line.strip().lower().startswith("sslstaplingcache")]


def test_stock_hosts_refusal_and_howto(fleet, tmp_path):
    fleet.reset(stock_profile)
    hosts = dict((h.name, h) for h in fleet.hosts)
    bare, howto = hosts["h01"], hosts["h02"]
    digests, apache = config_digests(fleet), bare.apache_pids()

    # 1. Installing forbidden: the node without pyOpenSSL is refused before any change, every gap named at once.
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path,
                                     rollout_vars(tmp_path, apache_stapling_install_dependencies=False,
                                                  apache_stapling_hosts="h01"))
    assert rc != 0, out[-3000:]
    report = latest_summary(tmp_path)["hosts"]["h01"]
    assert report["failure"]["task"] == "preflight" and report["transaction"] is None, report["failure"]
    assert "pyOpenSSL >= " in json.dumps(report["failure"]) and "python3-openssl" in json.dumps(report["failure"])
    assert config_digests(fleet)["h01"] == digests["h01"] and bare.apache_pids() == apache

    # 2. The how-to host: the audit says what is in force and verifies it; nothing changes.
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.audit", tmp_path,
                                     rollout_vars(tmp_path, apache_stapling_hosts="h02"))
    assert rc == 0, out[-3000:]
    assert config_digests(fleet)["h02"] == digests["h02"]
    audit = latest_summary(tmp_path, "audit-latest")["hosts"]["h02"]
    staples = dict((v["server_name"], v["staple"]) for v in audit["vhosts"])
    assert staples["good.lab.test"]["valid"] is True and staples["must-staple.lab.test"]["valid"] is True, staples
    codes = [p["code"] for p in audit["config_problems"]]
    assert "foreign_global_directive" in codes and "cache_dir_missing" in codes, audit["config_problems"]

    # 3. The rollout: one cache (the operator's), their vhosts verified and reported as theirs, left as they are.
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path,
                                     rollout_vars(tmp_path, apache_stapling_hosts="h02"))
    assert rc == 0, out[-3000:]
    assert caches_in_force(howto) == ['SSLStaplingCache "shmcb:logs/stapling-cache(150000)"']
    report = latest_summary(tmp_path)["hosts"]["h02"]
    for v in report["vhosts"]:
        if v["server_name"] in ("good.lab.test", "must-staple.lab.test"):
            assert v["action"] == "refused" and "take_over" in v["action_reason"], v
            assert v["staple"]["valid"] is True, v
    with open(howto.path("etc/apache2/sites-available/good.conf")) as f:
        assert "ocsp.stapling" not in f.read()  # the operator's vhost, untouched
    assert curl_cert_status(fleet, howto, "good.lab.test")[0] == 0

    # 4. take_over: our blocks replace their lines, still one cache (theirs), verified, then converged.
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path,
                                     rollout_vars(tmp_path, apache_stapling_hosts="h02", apache_stapling_take_over=True))
    assert rc == 0, out[-3000:]
    assert caches_in_force(howto) == ['SSLStaplingCache "shmcb:logs/stapling-cache(150000)"']
    report = latest_summary(tmp_path)["hosts"]["h02"]
    assert all(v["staple"]["valid"] for v in report["vhosts"] if v["decision"] == "staple"), report["vhosts"]
    with open(howto.path("etc/apache2/sites-available/good.conf")) as f:
        text = f.read()
    assert text.count("SSLUseStapling") == 1 and "# BEGIN ocsp.stapling" in text
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path,
                                     rollout_vars(tmp_path, apache_stapling_hosts="h02", apache_stapling_take_over=True))
    assert rc == 0 and recap(out)["h02"]["changed"] == 0, out[-3000:]
