"""Today's platforms in one fleet (issue 23): Debian 12 (bookworm) and Debian 13 (trixie: Python 3.13, OpenSSL 3.5's
mod_ssl) hosts beside Red Hat's and SUSE's Apache layouts driven by Debian's apache2 binary (tests/fleet/README.md
says what is real and what is simulated there). One rollout, the canary on one kind and the next batch across all:
every stapleable vhost stapled, as curl --cert-status judges it from the controller; a converged re-run with
changed=0 everywhere; then state absent in a maintenance window (apache_stapling_restart_allowed) leaves each host's
configuration tree exactly as it was (without the window our inert cache snippet stays until Apache restarts, by
design: roles/apache_stapling/README.md, "Downtime")."""

import os
import time

from fleet.testing import curl_cert_status, latest_summary, recap, rollout_vars, run_on_fleet
from lab.trees import tree_diff, tree_entries

# The canary (host 1) is a trixie host; the second batch holds every kind. A "rhel" host whose operator trimmed
# socache_shmcb out of conf.modules.d gets our conf.modules.d file for it (and loses it again on absent).
PLATFORMS = {
    1: {"os": "trixie", "vhosts": ["good", "no_uri", "must_staple"]},
    2: {"os": "rhel", "vhosts": ["good", "no_uri", "must_staple"]},
    3: {"os": "suse", "vhosts": ["good", "no_uri", "must_staple"]},
    4: {"os": "bookworm", "vhosts": ["good", "no_uri", "second_issuer"]},
    5: {"os": "rhel", "vhosts": ["good", "second_issuer"], "socache": False},
    6: {"os": "trixie", "vhosts": ["good", "revoked"], "python": "no_openssl"},
}
STAPLEABLE = ("good", "must_staple", "second_issuer")
# What is ours on each layout once stapling is on (besides the vhost blocks): the global snippet where the layout
# puts it, and on the trimmed Red Hat host the file that loads socache_shmcb.
OURS = {
    "debian": ["conf-available/ocsp-stapling.conf", "conf-enabled/ocsp-stapling.conf"],
    "redhat": ["conf.d/ocsp-stapling.conf"],
    "suse": ["conf.d/ocsp-stapling.conf"],
}
SOCACHE_FILE = "conf.modules.d/00-ocsp-stapling-socache.conf"


def platform_profile(index):
    return PLATFORMS.get(index) or {"os": "bookworm", "vhosts": ["good", "no_uri"]}


def trees(fleet):
    """{host: tree_entries} of each host's configuration: its Apache tree, and SUSE's /etc/sysconfig/apache2."""
    out = {}
    for h in fleet.hosts:
        entries = tree_entries(h.path(h.tree))
        if h.kind == "suse":
            with open(h.path("etc/sysconfig/apache2"), "rb") as f:
                entries["/etc/sysconfig/apache2"] = f.read()
        out[h.name] = entries
    return out


def test_rollout_over_todays_platforms(fleet, tmp_path):
    assert len(fleet.hosts) >= 5, "the platform test needs at least 5 hosts (OCSP_FLEET_N)"
    started = time.monotonic()
    fleet.reset(platform_profile)
    print("platforms: reset {0:.1f}s".format(time.monotonic() - started))
    hosts = fleet.hosts
    kinds = dict((h.name, h.kind) for h in hosts)
    assert set(kinds.values()) == {"bookworm", "trixie", "rhel", "suse"}, kinds
    # The node's Python: Debian 13's on trixie, Debian 12's under every other layout.
    for h in hosts:
        python = h.exec(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout
        assert python.strip() == {"trixie": "3.13"}.get(h.kind, "3.11"), (h.name, python)
    before = trees(fleet)
    for h in hosts:
        for site in h.record["sites"]:
            if site["vhost"] in STAPLEABLE:
                assert curl_cert_status(fleet, h, site["sni"])[0] != 0  # nothing stapled before

    # The rollout: trixie's canary alone, then every kind in one batch.
    started = time.monotonic()
    rc, results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path, rollout_vars(tmp_path))
    print("platforms: rollout {0:.1f}s".format(time.monotonic() - started))
    assert rc == 0, out[-5000:]
    canary = [i for i, r in enumerate(results) if r["host"] == "h01"]
    others = [i for i, r in enumerate(results) if r["host"] not in ("h01", "localhost")]
    assert canary and others and max(canary) < min(others)  # the canary's batch ended before the next began
    summary = latest_summary(tmp_path)
    for h in hosts:
        report = summary["hosts"][h.name]
        assert report["status"] == "changed" and report["rolled_back"] is False, (h.name, report)
        family = {"bookworm": "debian", "trixie": "debian", "rhel": "redhat", "suse": "suse"}[h.kind]
        assert report["apache"]["family"] == family, (h.name, report["apache"])
        # The layout's own control command found on the node (Red Hat has no apache2ctl; SUSE's is its apachectl).
        assert report["apache"]["binary"] == {"redhat": "/usr/sbin/apachectl"}.get(family, "/usr/sbin/apache2ctl"), (
            h.name, report["apache"])
        # mod_ssl's own OpenSSL: Debian 13's 3.5 on trixie, Debian 12's 3.0 under every other layout.
        assert report["openssl"]["mod_ssl_version"].startswith("3.5." if h.kind == "trixie" else "3.0."), (
            h.name, report["openssl"])
        by_name = dict((v["server_name"], v) for v in report["vhosts"])
        for site in h.record["sites"]:
            v = by_name[site["sni"]]
            rc_curl, curl_out = curl_cert_status(fleet, h, site["sni"])
            if site["vhost"] in STAPLEABLE:
                assert v["decision"] == "staple" and v["staple"]["valid"] is True, (h.name, v)
                assert rc_curl == 0, (h.name, site, curl_out)  # stapled and verified by curl
            else:
                assert v["decision"] != "staple" and rc_curl != 0, (h.name, v, curl_out)
        ours = OURS[family] + ([SOCACHE_FILE] if h.profile.get("socache") is False else [])
        for rel in ours:
            with open(h.path(os.path.join(h.tree, rel)), "rb") as f:
                assert f.read().startswith(b"# Managed by ocsp.stapling"), (h.name, rel)
        added = sorted(set(tree_entries(h.path(h.tree))) - set(before[h.name]))
        assert sorted(ours) == added, (h.name, added)
    assert summary["totals"]["changed"] == len(hosts)
    # The trixie host without pyOpenSSL got Debian 13's from its own suite's package source.
    version = dict((h.name, h.exec(["dpkg-query", "-W", "-f", "${Version}", "python3-openssl"]).stdout) for h in hosts
                   if h.profile.get("python"))
    assert version and all(v.startswith("25.") for v in version.values()), version

    # Converged: nothing changes anywhere, the same Apache processes serve (one batch: the canary proved the change).
    apache = dict((h.name, h.apache_pids()) for h in hosts)
    after = trees(fleet)
    started = time.monotonic()
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path,
                                     rollout_vars(tmp_path, apache_stapling_canary="100%"))
    print("platforms: converged re-run {0:.1f}s".format(time.monotonic() - started))
    assert rc == 0, out[-5000:]
    per_host = recap(out)
    for h in hosts:
        assert per_host[h.name]["changed"] == 0 and per_host[h.name]["failed"] == 0, (h.name, per_host[h.name])
    assert trees(fleet) == after
    assert dict((h.name, h.apache_pids()) for h in hosts) == apache

    # Absent in a maintenance window: every tree as it was before the rollout, byte for byte, Apache serving.
    started = time.monotonic()
    rc, _results, out = run_on_fleet(fleet, "ocsp.stapling.rollout", tmp_path,
                                     rollout_vars(tmp_path, apache_stapling_state="absent", apache_stapling_canary="100%",
                                                  apache_stapling_restart_allowed=True))
    print("platforms: absent {0:.1f}s".format(time.monotonic() - started))
    assert rc == 0, out[-5000:]
    now = trees(fleet)
    for h in hosts:
        assert now[h.name] == before[h.name], (h.name, tree_diff(before[h.name], now[h.name]))
        assert h.apache_pids(), h.name
        for site in h.record["sites"]:
            assert curl_cert_status(fleet, h, site["sni"])[0] != 0  # no staple any more
        report = latest_summary(tmp_path)["hosts"][h.name]
        assert not report.get("cache_kept"), (h.name, report)
