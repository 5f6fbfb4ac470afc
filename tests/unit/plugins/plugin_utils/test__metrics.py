"""The verify run as Prometheus text exposition (plugins/plugin_utils/_metrics.py), read back by prometheus_client's
own parser, on the recorded verify summary of the lab; the atomic write."""

import copy
import json
import os
import stat

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.ocsp.stapling.plugins.plugin_utils._metrics import exposition, write_atomic
from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import epoch

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def recorded(name):
    with open(os.path.join(UNIT, "fixtures", "report", name + ".json")) as f:
        return json.load(f)


def parse(text):
    return dict((f.name, f) for f in text_string_to_metric_families(text))


def test_one_series_per_verified_vhost_with_ssl_exporters_names():
    doc = recorded("verify_lab")
    text, count = exposition(doc)
    families = parse(text)
    vhosts = doc["hosts"]["localhost"]["vhosts"]
    assert len(vhosts) == 3
    for name in ("ssl_ocsp_response_stapled", "ssl_ocsp_response_status", "ssl_ocsp_response_this_update",
                 "ssl_ocsp_response_next_update", "ssl_ocsp_response_produced_at", "ocsp_stapling_staple_valid"):
        assert families[name].type == "gauge"
        samples = families[name].samples
        assert len(samples) == 3, (name, samples)
        assert sorted(s.labels["vhost"] for s in samples) == sorted(v["server_name"] for v in vhosts)
        assert all(s.labels["host"] == "localhost" for s in samples)
    by_vhost = dict((s.labels["vhost"], s) for s in families["ssl_ocsp_response_next_update"].samples)
    for v in vhosts:
        s = by_vhost[v["server_name"]]
        assert s.value == epoch(v["staple"]["next_update"])
        assert s.labels["serial"] == v["certificate"]["serial"] and s.labels["address"] == v["addresses"][0]
    assert [s.value for s in families["ssl_ocsp_response_status"].samples] == [0, 0, 0]
    assert [s.value for s in families["ssl_ocsp_response_stapled"].samples] == [1, 1, 1]
    assert [(s.labels, s.value) for s in families["ocsp_stapling_verify_success"].samples] == [({"host": "localhost"},
                                                                                               1)]
    assert families["ocsp_stapling_verify_last_run_timestamp_seconds"].samples[0].value == epoch(doc["generated"])
    assert count == 6 * 3 + 2


def test_a_vhost_without_staple_has_no_times_and_a_failed_host_is_not_a_success():
    doc = recorded("verify_lab")
    h = doc["hosts"]["localhost"]
    h["outcome"], h["cause"] = "failed", {"code": "verification_failed", "msg": "x", "fix": "y"}
    h["vhosts"][1]["staple"] = dict(h["vhosts"][1]["staple"], present=False, valid=False, cert_status=None,
                                    this_update=None, next_update=None, produced_at=None)
    h["vhosts"][2]["staple"]["cert_status"] = "revoked"
    families = parse(exposition(doc)[0])
    assert len(families["ssl_ocsp_response_stapled"].samples) == 3
    assert sorted(s.value for s in families["ssl_ocsp_response_stapled"].samples) == [0, 1, 1]
    assert len(families["ssl_ocsp_response_next_update"].samples) == 2
    assert sorted(s.value for s in families["ssl_ocsp_response_status"].samples) == [0, 1]
    assert families["ocsp_stapling_verify_success"].samples[0].value == 0


def test_label_values_from_hosts_are_escaped_and_cut():
    doc = recorded("verify_lab")
    v = doc["hosts"]["localhost"]["vhosts"]
    v[0]["server_name"] = 'a"b\\c\nd} evil{x="1"'
    v[1]["server_name"] = "x" * 5000
    v[2]["server_name"] = "x" * 5000 + "y"  # the same label set once cut: written once
    v[2]["addresses"], v[2]["certificate"] = v[1]["addresses"], v[1]["certificate"]
    families = parse(exposition(doc)[0])
    names = sorted(s.labels["vhost"] for s in families["ssl_ocsp_response_stapled"].samples)
    assert names[0] == 'a"b\\c\nd} evil{x="1"'
    assert names[1] == "x" * 254 + u"\u2026" and len(names) == 2


def test_write_is_atomic_and_never_a_prom_file_half_written(tmp_path, monkeypatch):
    target = tmp_path / "ocsp_stapling.prom"
    target.write_text("old\n")
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.basename(src), open(src).read(), stat.S_IMODE(os.stat(src).st_mode)))
        assert open(str(target)).read() == "old\n"  # the old file until the rename
        return real_replace(src, dst)
    monkeypatch.setattr(os, "replace", spy)
    write_atomic(str(target), "new\n", 0o640)
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    name, content, mode = seen[0]
    assert name.startswith(".ocsp_stapling.prom.") and name.endswith(".tmp") and not name.endswith(".prom")
    assert content == "new\n" and mode == 0o640
    assert sorted(os.listdir(str(tmp_path))) == ["ocsp_stapling.prom"]  # nothing left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "x.prom"
    target.write_text("old\n")

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(str(target), "new\n")
    assert target.read_text() == "old\n" and sorted(os.listdir(str(tmp_path))) == ["x.prom"]


def test_a_summary_of_several_hosts():
    doc = recorded("verify_lab")
    other = copy.deepcopy(doc["hosts"]["localhost"])
    doc["hosts"]["web2"] = other
    families = parse(exposition(doc)[0])
    assert len(families["ssl_ocsp_response_stapled"].samples) == 6
    assert sorted(s.labels["host"] for s in families["ocsp_stapling_verify_success"].samples) == ["localhost", "web2"]
