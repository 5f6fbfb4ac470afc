"""One outcome per host, decided once: plugins/plugin_utils/_outcome.py through the filters that decide it
(stapling_host_report, stapling_fleet_report), on hand-made host reports carrying what the role and the lead's
preflight put there (preflight refusals with their codes, the plan's gate, a rollback with its reload, a kept
stapling cache) and on the lab's recorded facts."""

import copy
import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.filter.stapling_fleet_report import stapling_fleet_report
from ansible_collections.ocsp.stapling.plugins.filter.stapling_host_report import stapling_host_report
from ansible_collections.ocsp.stapling.plugins.filter.stapling_plan import stapling_plan
from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import (
    GOOD, OUTCOMES, REFUSAL_FIXES, STATUS_OF, decide, hazards, margin_seconds)

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def lab():
    with open(os.path.join(UNIT, "fixtures", "plan", "lab_debian.json")) as f:
        return json.load(f)


@pytest.fixture
def plan(lab):
    return stapling_plan(lab["apache_info"], lab["ocsp_responder_info"])


def staple(target, valid=True, **kw):
    out = dict(target, stapled=valid, valid=valid, cert_status="good" if valid else None,
               this_update="2026-12-02T19:00:00Z", next_update="2026-12-02T20:00:00Z", age=60,
               produced_at="2026-12-02T19:00:00Z", signer="issuer" if valid else None,
               errors=[] if valid else [{"code": "no_staple", "msg": "no staple in 5 handshakes"}])
    out.update(kw)
    return out


def applied(plan):
    return {"changed": True, "transaction": "20261202T195000-abc", "reload": "graceful",
            "vhosts": [dict(v, action="added", reason=None) for v in plan["vhosts"]],
            "files": [{"path": "/etc/apache2/conf-available/ocsp-stapling.conf", "action": "created"},
                      {"path": "/etc/apache2/sites-available/good.conf", "action": "updated"}],
            "problems": []}


# --- every outcome, from what the role registers -------------------------------------------------------------------

def test_changed_and_converged(lab, plan):
    staples = {"results": [staple(t) for t in plan["targets"]]}
    changed = stapling_host_report(lab["apache_info"], plan=plan, config=applied(plan), staples=staples,
                                   reload={"mode": "graceful", "downtime": None, "changed": True})
    assert (changed["outcome"], changed["cause"], changed["status"]) == ("changed", None, "changed")
    converged = stapling_host_report(lab["apache_info"], plan=plan, config={"changed": False, "reload": "none"},
                                     staples=staples)
    assert (converged["outcome"], converged["cause"], converged["status"]) == ("converged", None, "ok")
    dry = stapling_host_report(lab["apache_info"], plan=plan, config={"changed": False}, check_mode=True)
    assert dry["outcome"] == "converged"


def test_drift_in_a_dry_run(lab, plan):
    config = dict(applied(plan), transaction=None)
    report = stapling_host_report(lab["apache_info"], plan=plan, config=config, check_mode=True)
    assert report["outcome"] == "drift" and report["status"] == "drift"
    assert report["cause"]["code"] == "drift" and "a rollout would change" in report["cause"]["msg"]
    assert "good.lab.test" in report["cause"]["msg"] and report["cause"]["fix"].startswith("run ocsp.stapling.rollout")


def test_rolled_back_shows_the_rollback_and_its_reload(lab, plan):
    """The issue: a rolled-back host listed `config updated` and `reload graceful` although the rollback restored the
    files and did a full stop/start."""
    bad = [t for t in plan["targets"] if t["sni"] == "second-issuer.lab.test"][0]
    failure = {"task": "Handshake with every planned vhost and judge its staple (bounded retries for the lazy first "
                       "fetch)", "msg": "1 of 3 targets do not staple a valid OCSP response",
               "staples": [staple(bad, valid=False)], "log": []}
    report = stapling_host_report(
        lab["apache_info"], plan=plan, config=applied(plan), rolled_back=True, failure=failure,
        reload={"mode": "graceful", "downtime": None, "changed": True},
        staples={"failed": True, "results": [staple(t, valid=t is not bad) for t in plan["targets"]]},
        restore={"changed": True, "files": [{"path": "/etc/apache2/conf-available/ocsp-stapling.conf",
                                             "action": "restored"},
                                            {"path": "/etc/apache2/sites-available/good.conf",
                                             "action": "restored"}], "reload": "restart"},
        rollback_reload={"mode": "restart", "downtime": 1.234, "changed": True})
    assert report["outcome"] == "rolled_back" and report["status"] == "rolled_back"
    assert report["failure"]["stage"] == "verify"
    cause = report["cause"]
    assert cause["code"] == "verification_failed"
    assert "second-issuer.lab.test (no_staple)" in cause["msg"] and "previous configuration was restored" in cause["msg"]
    assert cause["fix"].startswith("make the responder reachable from the web server")
    assert (report["reload"], report["downtime"]) == ("restart", 1.234)  # the last reload: the rollback's
    assert report["reloads"] == [{"phase": "change", "mode": "graceful", "downtime": None},
                                 {"phase": "rollback", "mode": "restart", "downtime": 1.234}]
    assert [f["restored"] for f in report["config_files"]] == [True, True]
    assert all(v["restored"] for v in report["vhosts"] if v["changed"])


def test_failed_without_rollback_says_the_change_stays(lab, plan):
    failure = {"task": "Handshake with every planned vhost and judge its staple (bounded retries for the lazy first "
                       "fetch)", "msg": "no staple", "staples": [], "log": []}
    report = stapling_host_report(lab["apache_info"], plan=plan, config=applied(plan), rolled_back=False,
                                  failure=failure, staples={"failed": True, "results": []})
    assert report["outcome"] == "failed" and report["status"] == "failed"
    assert "NOT rolled back" in report["cause"]["msg"] and "transaction=20261202T195000-abc" in report["cause"]["msg"]


@pytest.mark.parametrize("stage,result,code", [
    ("reload", {"reload": {"failed": True, "msg": "Apache died (AH01958)"}}, "reload_failed"),
    ("configure", {"config": {"failed": True, "msg": "Apache rejects the changed configuration"}}, "change_refused"),
    ("egress", {"egress": {"failed": True, "msg": "nft said no"}}, "egress_failed"),
])
def test_the_failed_step_names_the_cause(lab, plan, stage, result, code):
    report = stapling_host_report(lab["apache_info"], plan=plan, rolled_back=True,
                                  failure={"task": "whatever the task is called", "msg": "x"}, **result)
    assert report["failure"]["stage"] == stage and report["cause"]["code"] == code
    assert report["outcome"] == "rolled_back"


def test_refused_by_the_plans_gate(lab, plan):
    gated = dict(plan, errors=[{"code": "configtest_failed", "msg": "Apache's configuration already fails"},
                               {"code": "must_staple_unmet", "msg": "must-staple x"}])
    report = stapling_host_report(lab["apache_info"], plan=gated, failure={"task": "plan", "msg": ["a", "b"]})
    assert report["outcome"] == "refused" and report["status"] == "failed"
    assert report["cause"]["code"] == "configtest_failed"
    assert report["cause"]["msg"].startswith("refused before any change, nothing was touched: Apache's configuration")
    assert "(and 1 more: must_staple_unmet)" in report["cause"]["msg"]
    assert report["cause"]["fix"] == REFUSAL_FIXES["configtest_failed"]
    vhost_errors = stapling_host_report(lab["apache_info"], plan=plan,
                                        failure={"task": "plan", "msg": ["missing chain", "revoked"]})
    assert vhost_errors["outcome"] == "refused" and vhost_errors["cause"]["code"] == "vhost_errors"


@pytest.mark.parametrize("code", ["missing_library", "missing_module", "configtest_failed", "journal_unusable",
                                  "control_command_missing"])
def test_refused_by_the_preflight(lab, code):
    """The preflight (before any change, before the plan): failure task preflight, errors with their codes."""
    errors = [{"code": code, "msg": "preflight: {0} on this host".format(code)}]
    report = stapling_host_report(lab["apache_info"], errors=errors,
                                  failure={"task": "preflight", "msg": errors[0]["msg"]})
    assert report["outcome"] == "refused" and report["transaction"] is None and report["rolled_back"] is False
    assert report["errors"] == errors
    assert report["cause"]["code"] == code and report["cause"]["fix"] == REFUSAL_FIXES[code]
    # the same as a hand-made report of the schema's shape, as the lead's preflight may write it
    hand = {"host": "web1", "status": "failed", "check_mode": False, "state": "present", "transaction": None,
            "rolled_back": False, "failure": {"task": "preflight", "msg": "x"}, "errors": errors, "vhosts": []}
    assert decide(hand)[0] == "refused" and decide(hand)[1]["code"] == code


def test_a_kept_cache_is_information_not_a_failure(lab, plan):
    kept = {"reason": "rollback: the cache was in force under a parent that stapled", "parent_pid": 4242,
            "since": "2026-12-02T19:55:00Z"}
    staples = {"results": [staple(t) for t in plan["targets"]]}
    for config, outcome in (({"changed": False, "reload": "none"}, "converged"), (applied(plan), "changed")):
        report = stapling_host_report(lab["apache_info"], plan=plan, config=config, staples=staples, cache_kept=kept)
        assert report["outcome"] == outcome and report["cause"] is None and report["cache_kept"] == kept
    hand = {"status": "ok", "state": "present", "changed": False, "cache_kept": kept, "vhosts": []}
    assert decide(hand) == ("converged", None)


def test_verification_only(lab):
    target = {"host": "127.0.0.1", "port": 443, "sni": "www.example.org"}
    ok = stapling_host_report(lab["apache_info"], staples={"results": [staple(target)]})
    assert ok["outcome"] == "ok" and ok["state"] is None
    failed = stapling_host_report(
        lab["apache_info"], staples={"failed": True, "results": [staple(target, valid=False)]},
        failure={"task": "verify", "msg": "1 of 1 targets do not staple"})
    assert failed["outcome"] == "failed" and failed["cause"]["code"] == "verification_failed"
    assert failed["cause"]["msg"] == "1 target(s) without a valid staple: www.example.org (no_staple)"
    empty = stapling_host_report(lab["apache_info"], failure={"task": "verify", "code": "nothing_to_verify",
                                                              "msg": "nothing to verify: no vhost"})
    assert empty["outcome"] == "failed" and empty["cause"]["code"] == "nothing_to_verify"
    assert "ocsp_stapling_verify_allow_empty" in empty["cause"]["fix"]


def test_every_outcome_has_words_status_and_a_cause_unless_good():
    assert set(STATUS_OF) == set(OUTCOMES)
    assert set(GOOD) < set(OUTCOMES)


# --- expiring staples ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("age,min_validity,expiring", [
    (60, "33%", False),     # 3540 s of 3600 left
    (2400, "33%", False),   # 1200 s left, the margin 1188 s
    (2413, "33%", True),    # 1187 s left
    (2400, 1300, True),     # seconds
    (2400, "0%", False),
    (3000, 0, False),
])
def test_expiring_is_decided_with_min_validity(lab, age, min_validity, expiring):
    target = {"host": "127.0.0.1", "port": 443, "sni": "www.example.org"}
    report = stapling_host_report(lab["apache_info"], staples={"results": [staple(target, age=age)]},
                                  min_validity=min_validity)
    s = report["vhosts"][0]["staple"]
    assert s["expiring"] is expiring and s["left"] == 3600 - age and s["produced_at"] == "2026-12-02T19:00:00Z"
    assert report["outcome"] == "ok"  # a warning, not a failure


@pytest.mark.parametrize("bad", ["soon", "150%", -5, True, "-1%"])
def test_bad_min_validity_is_a_clear_error(lab, bad):
    with pytest.raises(AnsibleFilterError, match="min_validity .ocsp_stapling_verify_min_validity. must be a number"):
        stapling_host_report(lab["apache_info"], min_validity=bad)
    with pytest.raises(ValueError):
        margin_seconds(bad, 3600)


# --- hazards -------------------------------------------------------------------------------------------------------

AH01958 = {"code": "stapling_without_cache", "severity": "error", "file": "/etc/apache2/sites-enabled/a.conf",
           "line": 3, "msg": "SSLUseStapling on for a but no global SSLStaplingCache"}


def test_hazards_are_errors_and_the_codes_that_stop_apache(lab, plan):
    facts = copy.deepcopy(lab["apache_info"])
    facts["problems"] = [AH01958, {"code": "vhost_not_read", "severity": "warning", "file": "x", "line": 1, "msg": "y"},
                         {"code": "cache_in_vhost", "severity": "warning", "file": "b.conf", "line": 9, "msg": "z"}]
    config = {"changed": False, "problems": [AH01958]}  # the config module repeats apache_info's problems
    report = stapling_host_report(facts, plan=plan, config=config, check_mode=True)
    assert [(h["code"], h["file"], h["line"]) for h in report["hazards"]] == [
        ("stapling_without_cache", "/etc/apache2/sites-enabled/a.conf", 3), ("cache_in_vhost", "b.conf", 9)]
    assert "AH01958" in report["hazards"][0]["fix"]
    # after a change that was applied and verified, the hazards it removed are gone
    staples = {"results": [staple(t) for t in plan["targets"]]}
    fixed = stapling_host_report(facts, plan=plan, config=applied(plan), staples=staples)
    assert fixed["outcome"] == "changed" and fixed["hazards"] == []
    assert hazards([AH01958], outcome="rolled_back", state="present")[0]["code"] == "stapling_without_cache"


# --- the fleet document ---------------------------------------------------------------------------------------------

def test_hosts_without_a_report(lab, plan):
    one = stapling_host_report(lab["apache_info"], plan=plan, config={"changed": False})
    doc = stapling_fleet_report(
        {"web1": one, "web2": None, "web3": {}, "web4": None, "web5": one}, "rollout", "2026-12-02T20:00:00Z",
        failed_hosts=["web2", "web3", "web5"],
        last_results={"web2": [{}, {"unreachable": True, "msg": "Failed to connect to the host via ssh"}],
                      "web3": [{"failed": True, "msg": "apache2ctl: not found"}, None]})
    h = doc["hosts"]
    assert (h["web2"]["outcome"], h["web2"]["status"]) == ("unreachable", "unreachable")
    assert h["web2"]["cause"]["msg"] == "Ansible could not reach the host: Failed to connect to the host via ssh"
    assert h["web3"]["outcome"] == "no_report" and h["web3"]["cause"]["msg"].endswith(": apache2ctl: not found")
    assert h["web4"]["outcome"] == "no_report" and h["web4"]["cause"]["code"] == "not_run"
    assert h["web5"]["outcome"] == "failed" and h["web5"]["cause"]["code"] == "failed_after_report"
    assert doc["totals"]["outcomes"] == {"failed": 1, "rolled_back": 0, "refused": 0, "unreachable": 1,
                                         "no_report": 2, "drift": 0, "changed": 0, "converged": 1, "ok": 0}
    with pytest.raises(AnsibleFilterError, match="last_results must be a dict"):
        stapling_fleet_report({}, "rollout", "x", last_results=["web2"])


def test_a_rolled_back_host_counts_no_valid_staple(lab, plan):
    staples = {"results": [staple(t) for t in plan["targets"]]}
    back = stapling_host_report(lab["apache_info"], plan=plan, config=applied(plan), staples=staples,
                                rolled_back=True, failure={"task": "x", "msg": "y"})
    doc = stapling_fleet_report({"web1": back}, "rollout", "x")
    assert doc["totals"]["staples_valid"] == 0 and doc["hosts"]["web1"]["outcome"] == "rolled_back"


def test_failure_record_has_one_shape():
    from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import failure_record
    assert failure_record("plan", ["a", "b"]) == {"task": "plan", "msg": "a; b", "staples": [], "log": []}
    assert failure_record("verify", "x", code="nothing_to_verify")["code"] == "nothing_to_verify"
