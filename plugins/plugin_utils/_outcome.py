# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private: not part of the collection's public API.
"""One outcome per host, decided once (in the JSON summary) from the host's report, with its cause and the fix; the
hazards in a host's configuration. Shared by the report filters (which decide), the report view (which only reads
what was decided, deciding itself only for summaries written before the field existed) and the metrics writer."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Every outcome a host can have, in the order a reader should see them (what needs attention first).
OUTCOMES = ("failed", "rolled_back", "refused", "unreachable", "no_report", "drift", "changed", "converged", "ok")
# Outcomes that need nothing from anyone: every other outcome is listed under "needs attention" with cause and fix.
GOOD = ("ok", "converged", "changed")
# The older `status` field, kept for readers of schema 1, derived from the outcome.
STATUS_OF = {"ok": "ok", "converged": "ok", "changed": "changed", "drift": "drift", "refused": "failed",
             "rolled_back": "rolled_back", "failed": "failed", "unreachable": "unreachable", "no_report": "no_report"}
# outcome -> (words, tone) as the report shows them
WORDS = {
    "failed": ("failed", "bad"),
    "rolled_back": ("rolled back", "bad"),
    "refused": ("refused", "bad"),
    "unreachable": ("unreachable", "bad"),
    "no_report": ("no report", "bad"),
    "drift": ("would change", "warn"),
    "changed": ("changed", "ok"),
    "converged": ("converged", "ok"),
    "ok": ("ok", "ok"),
}

# Why a host was refused before any change (the plan's gate, and the preflight's checks): code -> the fix.
REFUSAL_FIXES = {
    "cannot_staple": "upgrade Apache (2.3.3 or newer, 2.4.13 or newer recommended) or the OpenSSL mod_ssl links "
                     "(0.9.8h or newer), or leave this host out (apache_stapling_hosts)",
    "configtest_failed": "fix what `apachectl configtest` reports on the host first (nothing was touched), then run "
                         "again; a misplaced SSLStaplingCache can be moved by apache_stapling_fix_misplaced_cache",
    "engine_unavailable": "enable mod_md (a2enmod md; Apache 2.4.42 or newer) or set apache_stapling_engine: mod_ssl",
    "must_staple_unmet": "make the must-staple vhosts stapleable (serve their chain, fix their OCSP URI) or leave them "
                         "out (apache_stapling_vhosts_exclude): they would be refused by clients without a staple",
    "missing_library": "install the Python library the message names on the host (Debian: python3-cryptography, "
                       "python3-openssl), then run again",
    "missing_module": "enable the Apache module the message names on the host (Debian: a2enmod ssl, a2enmod "
                      "socache_shmcb), then run again",
    "journal_unusable": "make apache_stapling_journal_dir a directory owned by root, not writable by group or others "
                        "and not a symlink (or point the variable at one), then run again",
    "control_command_missing": "install Apache's control command (apache2ctl / apachectl) on the host or name it "
                               "with apache_stapling_binary, then run again",
    "vhost_errors": "fix each vhost listed with its own fix, or set apache_stapling_fail_on_vhost_error: false to "
                    "roll out to the others",
}

# Problems in a host's configuration that mean Apache will not start or will not staple (beyond every problem of
# severity error): code -> the fix.
HAZARD_FIXES = {
    "stapling_without_cache": "add a global SSLStaplingCache (a rollout adds its own) or turn that SSLUseStapling off: "
                              "Apache passes configtest and then fails to start (AH01958) at its next restart",
    "cache_in_vhost": "move SSLStaplingCache to the global server config (or set apache_stapling_fix_misplaced_cache): "
                      "Apache refuses to start with it inside a <VirtualHost> (AH00526)",
    "cache_module_missing": "enable the socache module the cache needs (Debian: a2enmod socache_shmcb)",
    "missing_file": "restore the file or correct the path: Apache does not start without it",
    "configtest_failed": "fix what `apachectl configtest` reports",
    "config_unreadable": "fix the configuration so that it can be read (see the message)",
}
HAZARD_CODES = tuple(HAZARD_FIXES)

# Staple verification error codes (ocsp.stapling.ocsp_staple_info and the validator) in words, with the next step.
STAPLE_ERRORS = {
    "no_staple": "no staple: Apache sent no OCSP response (is the responder reachable from the web server? "
                 "egress, proxy, error log AH01974/AH01941)",
    "must_staple_unsatisfied": "must-staple certificate served without a valid staple: clients that enforce it "
                               "refuse the site",
    "revoked": "the stapled response says the certificate is revoked: replace the certificate",
    "unknown": "the responder does not know this certificate (status unknown): wrong responder or issuer",
    "expired": "the stapled response has expired (nextUpdate passed): Apache or the responder is not refreshing it",
    "too_old": "the stapled response is older than allowed (max_age)",
    "not_yet_valid": "the stapled response is not valid yet (thisUpdate in the future): check the clocks",
    "signature_invalid": "the stapled response's signature does not verify: a wrong or rogue responder key",
    "signer_not_authorized": "the stapled response is signed by a certificate the issuer did not authorize for "
                             "OCSP signing",
    "wrong_certificate": "the stapled response is for another certificate (CertID does not match)",
    "unsuccessful": "the responder answered with an error status (e.g. tryLater) and Apache stapled it",
    "not_ocsp": "what Apache stapled is not an OCSP response",
    "malformed": "the stapled response does not decode",
    "unsupported_algorithm": "the stapled response uses an algorithm the verifier cannot check",
    "unsupported_critical_extension": "the stapled response carries an unknown critical extension",
    "no_issuer": "the issuer certificate was neither sent by the server nor in the CA file: the staple cannot be "
                 "checked (serve the chain, or set the CA file)",
    "no_certificate": "the server presented no certificate",
    "unreadable_certificate": "the served certificate cannot be read",
    "connection_refused": "connection refused: nothing listens on this address and port",
    "connection_failed": "the connection failed",
    "timeout": "the handshake timed out",
    "tls_error": "the TLS handshake failed",
    "not_tls": "the port does not speak TLS",
}

# What to do about a staple that did not verify, by its first error code.
STAPLE_FIXES = {
    "no_staple": "make the responder reachable from the web server (egress: apache_stapling_egress; a proxy: "
                 "apache_stapling_proxy_url) and read Apache's error log (AH01974, AH01941)",
    "must_staple_unsatisfied": "staple it (mod_md preferred) before clients that enforce must-staple refuse the site",
    "revoked": "replace the revoked certificate",
    "unknown": "check the responder and the issuer: the responder does not know this certificate",
    "expired": "find out why the response is not refreshed (responder down? SSLStaplingStandardCacheTimeout?)",
    "too_old": "find out why the response is not refreshed (responder down? SSLStaplingStandardCacheTimeout?)",
    "not_yet_valid": "correct the clocks of the web server and the responder",
    "signature_invalid": "fix the responder: it signs with a key the issuer did not certify",
    "signer_not_authorized": "fix the responder: its signing certificate lacks the issuer's OCSPSigning authorization",
    "wrong_certificate": "fix the responder or the certificate's OCSP URI: the response is for another certificate",
    "unsuccessful": "fix the responder; keep SSLStaplingReturnResponderErrors off (the role's safe profile)",
    "no_issuer": "serve the chain, or give the issuer in the CA file (apache_stapling_ca_file, "
                 "ocsp_stapling_verify_ca_file)",
    "connection_refused": "check that the vhost listens on that address and port",
    "connection_failed": "check that the vhost listens on that address and port",
    "timeout": "check that the vhost answers on that address and port",
    "tls_error": "check the vhost's TLS configuration",
    "not_tls": "check that the port serves TLS",
}


def failure_record(task, msg, staples=None, log=None, code=None):
    """The one shape of what went wrong on a host, wherever it is recorded (the plan's refusal, the role's rollback,
    the verify playbook): the step (C(task)), the message (one string), the targets that did not verify
    (C(staples)), the error-log lines of a failed reload (C(log)), and for some a C(code)."""
    out = {"task": task, "msg": msg if isinstance(msg, str) else "; ".join(str(m) for m in msg or []),
           "staples": list(staples or []), "log": list(log or [])}
    if code:
        out["code"] = code
    return out


def text(value, limit=2000):
    """A value from a host as one line of text, at most ``limit`` characters (cut with an ellipsis)."""
    if value is None:
        out = ""
    elif isinstance(value, str):
        out = value
    elif isinstance(value, (list, tuple)):
        out = "; ".join(text(v, limit) for v in value)
    else:
        out = str(value)
    if limit and len(out) > limit:
        out = out[:max(1, limit - 1)].rstrip() + u"\u2026"
    return out


def _failing_staples(report):
    """(name, codes) of every target that did not verify: from the failure (the role's rollback records them) or, for
    the verify playbook, from the report's vhosts."""
    failure = report.get("failure") or {}
    out = []
    for s in failure.get("staples") or []:
        if isinstance(s, dict):
            codes = [e.get("code") for e in s.get("errors") or [] if isinstance(e, dict) and e.get("code")]
            out.append((text(s.get("sni") or s.get("host"), 255), codes or (["no_staple"] if not s.get("stapled")
                                                                            else [])))
    if out:
        return out
    for v in report.get("vhosts") or []:
        staple = (v or {}).get("staple") or {}
        if staple.get("checked") and not staple.get("valid"):
            codes = [c for c in staple.get("error_codes") or [] if c]
            out.append((text(v.get("server_name"), 255), codes or (["no_staple"] if not staple.get("present")
                                                                   else [])))
    return out


def _first_code(failing):
    for _name, codes in failing:
        for c in codes:
            if c != "must_staple_unsatisfied":
                return c
    for _name, codes in failing:
        if codes:
            return codes[0]
    return "no_staple"


def _stage(failure):
    stage = failure.get("stage")
    if stage:
        return stage
    task = (failure.get("task") or "").lower()
    if task in ("plan", "preflight", "verify"):
        return task
    for key, words in (("verify", ("handshake", "staple")), ("reload", ("reload",)),
                       ("configure", ("stapling configuration", "configtest")), ("egress", ("egress",))):
        if any(w in task for w in words):
            return key
    return "other"


def _undo(report, rolled_back):
    if rolled_back:
        return "the previous configuration was restored"
    if report.get("transaction"):
        return ("NOT rolled back (apache_stapling_rollback is false): the change is still in place; fix the cause "
                "and run again, or restore it with ocsp.stapling.apache_stapling_config state=restored "
                "transaction={0}".format(text(report.get("transaction"), 100)))
    return "nothing had been changed"


def _failure_cause(report, failure, stage, rolled_back):
    msg = text(failure.get("msg")) or "failed"
    if failure.get("code") == "nothing_to_verify":
        return {"code": "nothing_to_verify", "msg": msg,
                "fix": "roll out stapling first (ocsp.stapling.rollout), name the targets "
                       "(ocsp_stapling_verify_targets), or set ocsp_stapling_verify_allow_empty: true when a host "
                       "without stapling is expected"}
    if stage == "verify":
        failing = _failing_staples(report)
        code = _first_code(failing)
        names = ", ".join("{0} ({1})".format(n, ", ".join(c) or "invalid") for n, c in failing[:5])
        more = " and {0} more".format(len(failing) - 5) if len(failing) > 5 else ""
        what = "{0} target(s) without a valid staple: {1}{2}".format(len(failing), names, more) if failing else msg
        if report.get("state") is not None:
            what = "verification after the change failed, {0}; {1}".format(what, _undo(report, rolled_back))
        return {"code": "verification_failed", "msg": what,
                "fix": STAPLE_FIXES.get(code, "see each vhost's error") + ", then run again"}
    if stage == "reload":
        return {"code": "reload_failed",
                "msg": "Apache did not serve after the reload into the new configuration ({0}); {1}".format(
                    msg, _undo(report, rolled_back)),
                "fix": "read the error-log lines shown (AH01958: SSLUseStapling without a cache Apache reads; AH00820: "
                       "the cache removed under a running server) and the hazards below, then run again"}
    if stage == "configure":
        return {"code": "change_refused",
                "msg": "Apache rejected the changed configuration ({0}); {1}".format(msg, _undo(report, True)),
                "fix": "correct the value the message names (e.g. apache_stapling_proxy_url), then run again"}
    if stage == "egress":
        return {"code": "egress_failed", "msg": "{0}; {1}".format(msg, _undo(report, rolled_back)),
                "fix": "see the message: the firewall backend could not be changed (apache_stapling_egress_backend, "
                       "or apache_stapling_egress: false when the firewall is managed elsewhere)"}
    task = text(failure.get("task"), 200)
    return {"code": "task_failed",
            "msg": "{0}{1}; {2}".format(msg, " (task: {0})".format(task) if task else "", _undo(report, rolled_back)),
            "fix": "see the play's output for that task, then run again"}


def _refusal_cause(report, failure):
    errors = [e for e in report.get("errors") or [] if isinstance(e, dict)]
    if errors:
        first = errors[0]
        code = text(first.get("code"), 100) or "refused"
        more = " (and {0} more: {1})".format(len(errors) - 1, ", ".join(text(e.get("code"), 100)
                                                                        for e in errors[1:])) if len(errors) > 1 else ""
        return {"code": code, "msg": "refused before any change, nothing was touched: {0}{1}".format(
            text(first.get("msg")), more),
            "fix": REFUSAL_FIXES.get(code, "see the message, fix it on the host, then run again")}
    return {"code": "vhost_errors",
            "msg": "refused before any change (apache_stapling_fail_on_vhost_error), nothing was touched: {0}".format(
                text(failure.get("msg")) or "see the vhosts"),
            "fix": REFUSAL_FIXES["vhost_errors"]}


def _drift_cause(report):
    names = [text(v.get("server_name"), 255) for v in report.get("vhosts") or [] if isinstance(v, dict)
             and v.get("changed")]
    parts = []
    if names:
        parts.append("{0} vhost(s): {1}{2}".format(len(names), ", ".join(names[:5]),
                                                   " and {0} more".format(len(names) - 5) if len(names) > 5 else ""))
    fw = report.get("firewall")
    if isinstance(fw, dict) and (fw.get("added") or fw.get("removed")):
        parts.append("the firewall")
    if not parts:
        parts.append("the global configuration")
    return {"code": "drift", "msg": "a rollout would change {0} (a dry run: nothing was changed)".format(
        " and ".join(parts)),
        "fix": "run ocsp.stapling.rollout on this host (and find out what changed it, if it had converged before)"}


def decide(report):
    """(outcome, cause) of one host's report (the `host` object of docs/report-schema.md). ``cause`` is None for
    ok / converged / changed, else ``{code, msg, fix}``."""
    if not isinstance(report, dict):
        return "no_report", {"code": "no_report", "msg": "the host failed before the role could report",
                             "fix": "see the play's output for the host's first failed task, then run again"}
    status = report.get("status")
    failure = report.get("failure") if isinstance(report.get("failure"), dict) else None
    if status in ("unreachable", "no_report") and not report.get("apache"):
        # a placeholder of the fleet filter, in a summary written before outcomes existed
        if status == "unreachable":
            return "unreachable", unreachable_cause((failure or {}).get("msg"))
        return "no_report", no_report_cause((failure or {}).get("msg"))
    if failure:
        stage = _stage(failure)
        if report.get("rolled_back"):
            return "rolled_back", _failure_cause(report, failure, stage, True)
        if stage in ("plan", "preflight") and not report.get("transaction"):
            return "refused", _refusal_cause(report, failure)
        return "failed", _failure_cause(report, failure, stage, False)
    if report.get("check_mode"):
        return ("drift", _drift_cause(report)) if report.get("changed") else ("converged", None)
    if report.get("state") is None:  # verification only (ocsp.stapling.verify)
        return "ok", None
    return ("changed" if report.get("changed") else "converged"), None


def unreachable_cause(msg=None):
    return {"code": "unreachable",
            "msg": "Ansible could not reach the host{0}".format(
                ": " + text(msg, 500) if msg and msg != "unreachable" else ""),
            "fix": "check SSH and the network to the host, then run again (a change it held unconfirmed when the "
                   "connection dropped is verified and committed, or restored, by the next rollout)"}


_NO_REPORT = "the host failed before the role could report"


def no_report_cause(msg=None, ran=True):
    if msg == _NO_REPORT:
        msg = None  # a summary of an earlier version said only that
    if not ran:
        return {"code": "not_run", "msg": "not run: the run stopped before this host's batch (max_fail_percentage) "
                                          "or the host was left out",
                "fix": "fix the hosts that failed, then run again"}
    return {"code": "no_report",
            "msg": "{0}{1}".format(_NO_REPORT, ": " + text(msg, 1000) if msg else ""),
            "fix": "see the play's output for the host's first failed task, then run again"}


def hazards(problems, outcome=None, state=None, cause=None):
    """The problems that mean Apache will not start or will not staple: every one of severity error and every one
    whose code is in HAZARD_CODES, each once, with its fix. After a change that was applied and verified (outcome
    changed) the ones that change removed (it passed configtest and the reload, and adds the cache and its module)
    are left out: they describe the configuration before it."""
    out, seen = [], set()
    gone = set()
    if outcome == "changed":
        gone = {"configtest_failed", "cache_in_vhost"}
        if state == "present":
            gone |= {"stapling_without_cache", "cache_module_missing"}
    for p in problems or []:
        if not isinstance(p, dict):
            continue
        code = text(p.get("code"), 100)
        if p.get("severity") != "error" and code not in HAZARD_CODES:
            continue
        if code in gone:
            continue
        if cause and cause.get("code") == code and not p.get("file"):
            continue  # the host's own cause already says it
        key = (code, p.get("file"), p.get("line"), p.get("msg"))
        if key in seen:
            continue
        seen.add(key)
        out.append({"code": code, "severity": p.get("severity") or "error", "msg": text(p.get("msg")),
                    "file": p.get("file"), "line": p.get("line"),
                    "fix": HAZARD_FIXES.get(code, "see the message")})
    return out


def parse_time(value):
    """datetime (naive, UTC) of an ISO 8601 UTC time as the modules write it ("2026-12-03T08:00:00Z"), else None."""
    import datetime
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 20 and value[4] == "-" and value[10] == "T" and value[19] == "Z":  # what the modules write
        try:
            return datetime.datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]),
                                     int(value[14:16]), int(value[17:19]))
        except ValueError:
            pass
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1]
    elif s.endswith("+00:00"):
        s = s[:-6]
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


def epoch(value):
    """Seconds since 1970 (UTC) of an ISO 8601 UTC time, else None."""
    import calendar
    t = parse_time(value)
    return None if t is None else calendar.timegm(t.timetuple()) + t.microsecond / 1e6


def margin_seconds(min_validity, lifetime):
    """The warning margin before nextUpdate for a staple valid ``lifetime`` seconds: ``min_validity`` is seconds (a
    number) or a share of the validity ("33%"). Raises ValueError naming what is accepted."""
    if isinstance(min_validity, bool):
        raise ValueError(min_validity)
    if isinstance(min_validity, (int, float)):
        seconds = float(min_validity)
    else:
        s = str(min_validity).strip()
        if s.endswith("%"):
            share = float(s[:-1])
            if not 0 <= share < 100:
                raise ValueError(min_validity)
            return lifetime * share / 100.0
        seconds = float(s)
    if seconds < 0:
        raise ValueError(min_validity)
    return seconds
