# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private: not part of the collection's public API.
"""What the fleet report pages show, computed from the JSON summary: per vhost a state, colour and reason in words;
per host its outcome (decided in the summary), cause and fix; totals; what needs attention; the freshness chart.
Shared by the filter ocsp.stapling.stapling_report_view and the action ocsp.stapling.stapling_summary."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import (
    GOOD, OUTCOMES, STAPLE_ERRORS, WORDS, decide, parse_time, text)

SCHEMA_PREFIX = "ocsp.stapling/report/"


class ReportError(ValueError):
    """A summary, a template or an option the report cannot use; the message names it and the fix. The filters turn
    it into AnsibleFilterError, the action ocsp.stapling.stapling_summary into a failed task."""


# vhost state -> (words, colour)
STATES = {
    "verified": ("verified", "ok"),
    "expiring": ("verified, expiring", "warn"),
    "failing": ("failing", "bad"),
    "drift": ("would staple", "warn"),
    "pending": ("not verified", "warn"),
    "rolled_back": ("rolled back", "muted"),
    "not_stapleable": ("not stapleable", "info"),
    "removed": ("stapling removed", "muted"),
    "excluded": ("excluded", "muted"),
}
STATE_ORDER = ("failing", "expiring", "drift", "pending", "rolled_back", "verified", "not_stapleable", "removed",
               "excluded")

# host outcome -> (words, colour): decided in the summary (plugins/plugin_utils/_outcome.py), shown as it is
HOST_STATUSES = WORDS
HOST_ORDER = OUTCOMES
TONE_RANK = {"bad": 0, "warn": 1, "info": 2, "ok": 3, "muted": 4}
NAME_MAX = 255  # a host, vhost or file name longer than this is cut (with an ellipsis) in both formats
TEXT_MAX = 2000  # any other text from a host

# What needs attention, grouped by cause (a large fleet's summary): cause key -> words.
CAUSES = {
    "missing_issuer": "issuer certificate not where mod_ssl looks (serve the chain)",
    "certificate_revoked": "certificate revoked",
    "certificate_expired": "certificate expired",
    "unusable_ocsp_uri": "OCSP URI mod_ssl cannot use",
    "certificate_error": "certificate not readable",
    "no_certificate_facts": "no facts about the certificate",
    "refused": "configuration change refused",
    "expiring": "staple in the danger zone",
    "host_failed": "not stapled: the host failed",
    "rolled_back": "must-staple, not stapled after the host's rollback",
    "no_staple": "no staple",
    "revoked": "stapled response says revoked",
    "expired": "stapled response expired",
    "signature_invalid": "stapled response signed by a wrong key",
    "signer_not_authorized": "stapled response signed by an unauthorized certificate",
    "unsuccessful": "responder error stapled (e.g. tryLater)",
    "drift": "must-staple served without a staple (a rollout would add it)",
    "pending": "must-staple, staple not verified",
    "outcome_failed": "host failed",
    "outcome_rolled_back": "host rolled back (the change was undone)",
    "outcome_refused": "host refused before any change",
    "outcome_unreachable": "host unreachable",
    "outcome_no_report": "host failed or was not run before reporting",
    "outcome_drift": "host would change (drift)",
    "hazard_stapling_without_cache": "Apache will not start: SSLUseStapling without SSLStaplingCache (AH01958)",
    "hazard_cache_in_vhost": "Apache will not start: SSLStaplingCache inside a vhost (AH00526)",
    "hazard_cache_module_missing": "Apache will not start: the stapling cache's socache module is not loaded",
    "hazard_missing_file": "Apache will not start: a file it needs is missing",
    "hazard_configtest_failed": "Apache refuses its configuration (configtest)",
    "cache_kept": "stapling cache kept until Apache's next restart (informational)",
}


def _str(value, limit=TEXT_MAX):
    return text(value, limit)


def _name(value):
    return text(value, NAME_MAX)


_parse_time = parse_time  # one reading of the modules' times, shared with the summary's filters


def _seconds(delta):
    return delta.days * 86400 + delta.seconds + delta.microseconds / 1e6


def duration(seconds):
    """Seconds in words an operator reads at a glance: 45 s, 12 min, 3 h 5 min, 6 d 4 h."""
    if seconds is None:
        return ""
    s = int(round(abs(seconds)))
    if s < 120:
        out = "{0} s".format(s)
    elif s < 3600:
        out = "{0} min".format(s // 60)
    elif s < 86400:
        out = "{0} h {1} min".format(s // 3600, (s % 3600) // 60) if (s % 3600) // 60 else "{0} h".format(s // 3600)
    else:
        out = "{0} d {1} h".format(s // 86400, (s % 86400) // 3600) if (s % 86400) // 3600 else \
            "{0} d".format(s // 86400)
    return ("-" + out) if seconds < 0 and s else out


def freshness(staple, generated, danger_fraction):
    """Time since thisUpdate and to nextUpdate when the staple was verified (this_update + age; else the run's
    start), the share of the validity used, and whether it is in the danger zone."""
    this_update, next_update = _parse_time(staple.get("this_update")), _parse_time(staple.get("next_update"))
    if this_update is None or next_update is None:
        return None
    age = staple.get("age")
    if isinstance(age, (int, float)) and not isinstance(age, bool):
        checked = this_update + datetime.timedelta(seconds=age)
    else:
        checked = _parse_time(generated)
        if checked is None:
            return None
        age = _seconds(checked - this_update)
    lifetime = _seconds(next_update - this_update)
    left = _seconds(next_update - checked)
    used = (age / lifetime) if lifetime > 0 else 1.0
    danger = left <= 0 or lifetime <= 0 or left < danger_fraction * lifetime
    return {"age": age, "left": left, "lifetime": lifetime, "used": used, "danger": danger, "expired": left <= 0,
            "words": ("{0} old, {1}".format(duration(age), "expired {0} ago".format(duration(-left)) if left <= 0
                                            else "{0} to nextUpdate".format(duration(left))))}


def _staple_words(staple):
    codes = [c for c in staple.get("error_codes") or [] if c]
    words = [STAPLE_ERRORS.get(c, c.replace("_", " ")) for c in codes]
    last = _str(staple.get("last_error"))
    if staple.get("present") and not codes and staple.get("cert_status") and staple.get("cert_status") != "good":
        words.append("certificate status {0}".format(staple.get("cert_status")))
    if last and last not in words:
        words.append("({0})".format(last) if words else last)
    if not words:
        words.append("no valid staple" if staple.get("present") else STAPLE_ERRORS["no_staple"])
    return " ".join(words)


SIGNERS = {"issuer": "the issuer", "delegated": "a delegated responder"}


def _verified_words(staple, fresh):
    words = "valid staple ({0}), signed by {1}".format(
        staple.get("cert_status") or "good", SIGNERS.get(staple.get("signer"), _str(staple.get("signer")) or "?"))
    if fresh:
        words += "; {0}".format(fresh["words"])
    return words


def _cause(state, vhost, staple, reason):
    """Why a vhost needs attention, as a key of CAUSES (or an error code), to group a large fleet's problems."""
    if state == "failing":
        if vhost.get("decision") == "error":
            return _str(vhost.get("code")) or "certificate_error"
        if vhost.get("action") == "refused":
            return "refused"
        codes = [c for c in staple.get("error_codes") or [] if c and c != "must_staple_unsatisfied"]
        if codes:
            return codes[0]
        if reason.startswith("not stapled: the host failed"):
            return "host_failed"
        return "no_staple" if staple.get("checked") and not staple.get("present") else "must_staple_unsatisfied"
    return state


def classify(host, vhost, generated, danger_fraction):
    """(state, reason in words, freshness) of one vhost of one host report."""
    staple = vhost.get("staple") or {}
    decision = vhost.get("decision")
    fresh = freshness(staple, generated, danger_fraction) if staple.get("present") else None
    if fresh is not None and isinstance(staple.get("expiring"), bool):
        fresh["danger"] = staple["expiring"]  # decided in the summary with the run's min_validity
    outcome = host.get("outcome") or decide(host)[0]
    check_mode = bool(host.get("check_mode"))
    if decision in ("excluded", "not_selected"):
        return "excluded", _str(vhost.get("reason")) or "not selected for stapling", fresh
    if decision == "remove":
        return "removed", _str(vhost.get("reason")) or "stapling removed (state absent)", fresh
    if decision == "no_ocsp_uri":
        return "not_stapleable", _str(vhost.get("reason")) or "the certificate has no OCSP URI", fresh
    if decision == "error":
        return "failing", _str(vhost.get("reason")) or _str(vhost.get("code")), fresh
    if vhost.get("action") == "refused":
        return "failing", "the configuration change was refused: {0}".format(
            _str(vhost.get("action_reason")) or "see the host's problems"), fresh
    if staple.get("checked"):
        if staple.get("valid"):
            if outcome == "rolled_back":
                return "rolled_back", "staple verified, then the host was rolled back (another check failed): " \
                                      "not stapled now", fresh
            words = _verified_words(staple, fresh)
            if fresh and fresh["danger"]:
                return "expiring", words + " (in the danger zone: less than {0:.0%} of its validity left)".format(
                    danger_fraction), fresh
            return "verified", words, fresh
        if check_mode and vhost.get("changed"):
            return "drift", "a rollout would staple it; now: {0}".format(_staple_words(staple)), fresh
        return "failing", _staple_words(staple), fresh
    if check_mode and vhost.get("changed"):
        return "drift", "a rollout would staple it (not verified in this check)", fresh
    if outcome == "rolled_back":
        return "rolled_back", "the host was rolled back before this vhost was verified: not stapled now", fresh
    if outcome == "refused":
        return "failing", "not stapled: the host was refused before any change (see the host)", fresh
    if outcome in ("failed", "no_report", "unreachable"):
        failure = host.get("failure") or {}
        return "failing", "not stapled: the host failed ({0})".format(_str(failure.get("msg"), 300) or outcome), fresh
    return "pending", "planned for stapling, not verified in this run (apache_stapling_verify off?)", fresh


def _host_facts(h):
    facts = []
    apache = h.get("apache") or {}
    if apache.get("version"):
        facts.append(("Apache", "{0} ({1})".format(apache.get("version"), ", ".join(
            _str(x) for x in (apache.get("family"), apache.get("mpm")) if x))))
    openssl = h.get("openssl") or {}
    if openssl.get("mod_ssl_version") or openssl.get("cli_version"):
        facts.append(("OpenSSL", "mod_ssl links {0}, CLI {1}".format(
            openssl.get("mod_ssl_version") or "?", openssl.get("cli_version") or "?")))
    if h.get("engine"):
        facts.append(("engine", "{0} ({1})".format(h.get("engine"), _str(h.get("engine_reason")))
                      if h.get("engine_reason") else _str(h.get("engine"))))
    reloads = [r for r in h.get("reloads") or [] if isinstance(r, dict)]
    if not reloads and h.get("reload"):
        reloads = [{"phase": None, "mode": h.get("reload"), "downtime": h.get("downtime")}]
    for r in reloads:
        words = _str(r.get("mode"))
        if isinstance(r.get("downtime"), (int, float)) and not isinstance(r.get("downtime"), bool):
            words += ", {0:.2f} s without service".format(r.get("downtime"))
        facts.append(("reload" if not r.get("phase") or r.get("phase") == "change" and len(reloads) == 1
                      else "reload ({0})".format(_str(r.get("phase"), 20)), words))
    if h.get("transaction"):
        facts.append(("transaction", _str(h.get("transaction"))))
    fw = h.get("firewall")
    if isinstance(fw, dict):
        facts.append(("egress", "{0}: {1} rule(s), {2} added, {3} removed{4}".format(
            fw.get("backend") or "?", len(fw.get("rules") or []), len(fw.get("added") or []),
            len(fw.get("removed") or []), ", persisted" if fw.get("persisted") else "")))
    for f in h.get("config_files") or []:
        if isinstance(f, dict):
            facts.append(("config", "{0} {1}{2}".format(
                _str(f.get("action"), 20), _name(f.get("path")),
                " (restored by the rollback)" if f.get("restored") else "")))
    kept = h.get("cache_kept")
    if isinstance(kept, dict):
        facts.append(("cache kept", _cache_kept_words(kept)))
    return facts


def _cache_kept_words(kept):
    return ("our SSLStaplingCache is kept, inert, after {0} since {1} (Apache parent PID {2}): removing it under a "
            "running server that has stapled would kill it (AH00820); removed by the next run after Apache "
            "restarts".format(_str(kept.get("reason"), 300) or "a rollback", _str(kept.get("since"), 40) or "?",
                              _str(kept.get("parent_pid"), 20) or "?"))


def _problems(h):
    out = []
    failure = h.get("failure")
    if isinstance(failure, dict) and (failure.get("msg") or failure.get("task")) and failure.get("task"):
        task = _str(failure.get("task"), 300)
        out.append("{0}{1}".format(_str(failure.get("msg")) or "failed", " (task: {0})".format(task) if task else ""))
        for line in (failure.get("log") or [])[:40]:
            out.append("log: {0}".format(_str(line, 500)))
    for e in h.get("errors") or []:
        if isinstance(e, dict):
            out.append("{0}: {1}".format(_str(e.get("code")), _str(e.get("msg"))))
        else:
            out.append(_str(e))
    for p in h.get("config_problems") or []:
        if isinstance(p, dict):
            where = "{0}:{1}".format(_str(p.get("file")), p.get("line")) if p.get("file") else ""
            out.append("{0} {1}{2}".format(_str(p.get("severity")) or "problem", _str(p.get("msg")),
                                           " ({0})".format(where) if where else ""))
    return out


def _load(summary, source):
    where = " ({0})".format(source) if source else ""
    if isinstance(summary, str):
        try:
            summary = json.loads(summary)
        except ValueError as e:
            raise ReportError("stapling_report_view: the summary{0} is not JSON ({1}); give the JSON file "
                              "written by ocsp.stapling.rollout, audit or verify".format(where, e))
    if not isinstance(summary, dict) or not _str(summary.get("schema")).startswith(SCHEMA_PREFIX) \
            or not isinstance(summary.get("hosts"), dict):
        raise ReportError(
            "stapling_report_view: the summary{0} is not an ocsp.stapling JSON summary (expected a dict with "
            "schema '{1}1' and hosts, as written by ocsp.stapling.rollout, audit or verify; see "
            "docs/report-schema.md)".format(where, SCHEMA_PREFIX))
    return summary


def _number(value, name, kind):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = kind(value)
        except (TypeError, ValueError):
            raise ReportError("stapling_report_view: {0} must be a number, got {1!r}".format(name, value))
    return value


def _chart(rows, limit, danger_fraction):
    dated = [r for r in rows if r["fresh"] and r["state"] != "rolled_back"]  # rolled back: not stapled any more
    dated.sort(key=lambda r: (r["fresh"]["left"] / r["fresh"]["lifetime"] if r["fresh"]["lifetime"] > 0 else -1e9,
                              r["host"], r["vhost"]))
    shown = dated[:limit]
    # Geometry (SVG user units): labels left, the validity [thisUpdate, nextUpdate] as BAR wide, then room to show
    # how far past nextUpdate an expired staple is, then the words.
    label_w, bar_x, bar_w, over_w, row_h, top = 300, 310, 420, 50, 22, 34
    chart_rows = []
    for i, r in enumerate(shown):
        f = r["fresh"]
        used = max(0.0, min(f["used"], 1.0 + over_w / float(bar_w)))
        y = top + i * row_h
        chart_rows.append({
            "host": r["host"], "vhost": r["vhost"], "label": "{0} · {1}".format(r["host"], r["vhost"]),
            "y": y, "text_y": y + 15, "bar_y": y + 5, "used_w": round(used * bar_w, 1),
            "now_x": round(bar_x + used * bar_w, 1), "left_w": round(max(0.0, (1.0 - used)) * bar_w, 1),
            "danger": f["danger"], "expired": f["expired"], "words": f["words"], "state": r["state"],
            "must_staple": r["must_staple"],
        })
    height = top + len(shown) * row_h + 26
    return {
        "rows": chart_rows, "total": len(dated), "omitted": len(dated) - len(shown),
        "width": bar_x + bar_w + over_w + 250, "height": height, "label_w": label_w, "bar_x": bar_x,
        "bar_w": bar_w, "bar_end": bar_x + bar_w, "over_w": over_w, "row_h": row_h, "top": top,
        "danger_x": round(bar_x + (1.0 - danger_fraction) * bar_w, 1),
        "danger_w": round(danger_fraction * bar_w, 1), "text_x": bar_x + bar_w + over_w + 10,
        "axis_y": top - 8, "bottom": height - 20,
    }


def stapling_report_view(summary, source=None, danger_fraction=0.33, chart_rows=50, attention_rows=100,
                         open_hosts=10):
    summary = _load(summary, source)
    danger_fraction = float(_number(danger_fraction, "danger_fraction", float))
    if not 0 < danger_fraction < 1:
        raise ReportError("stapling_report_view: danger_fraction must be between 0 and 1 (e.g. 0.33 for "
                          "the last third of a staple's validity), got {0}".format(danger_fraction))
    chart_rows = int(_number(chart_rows, "chart_rows", int))
    attention_rows = int(_number(attention_rows, "attention_rows", int))
    open_hosts = int(_number(open_hosts, "open_hosts", int))
    generated = summary.get("generated")
    playbook = _str(summary.get("playbook")) or "report"

    states = dict((s, 0) for s in STATES)
    statuses = dict((s, 0) for s in HOST_STATUSES)
    hosts, all_rows, attention, must_staple, host_problems = [], [], [], [], []
    check_mode_hosts = 0
    for name in sorted(summary["hosts"], key=_str):
        h = summary["hosts"][name]
        if not isinstance(h, dict):
            h = {"status": "no_report", "vhosts": [], "failure": {"task": None, "msg": None}}
        host = _name(h.get("host")) or _name(name)
        # The outcome was decided once, in the summary; a summary written before that field existed is decided here
        # by the same code.
        status, cause = h.get("outcome"), h.get("cause")
        if status not in HOST_STATUSES:
            status, cause = decide(h)
        cause = cause if isinstance(cause, dict) else None
        statuses[status] += 1
        check_mode_hosts += 1 if h.get("check_mode") else 0
        rows = []
        counts = dict((s, 0) for s in STATES)
        for v in h.get("vhosts") or []:
            if not isinstance(v, dict):
                continue
            state, reason, fresh = classify(dict(h, outcome=status), v, generated, danger_fraction)
            cert = v.get("certificate") or {}
            staple = v.get("staple") or {}
            words, tone = STATES[state]
            row = {
                "host": host, "vhost": _name(v.get("server_name")) or "(no name)", "host_only": False,
                "aliases": _name(", ".join(_str(a) for a in v.get("server_aliases") or [])),
                "addresses": _name(", ".join(_str(a) for a in v.get("addresses") or [])),
                "where": "{0}:{1}".format(_name(v.get("file")), _str(v.get("line"), 20)) if v.get("file") else "",
                "state": state, "state_words": words, "tone": tone, "rank": STATE_ORDER.index(state),
                "reason": reason, "fix": "", "decision": _str(v.get("decision"), 40),
                "action": (_str(v.get("action"), 40) + (", restored" if v.get("restored") else ""))
                if v.get("action") not in (None, "unchanged") else "",
                "changed": bool(v.get("changed")),
                "must_staple": bool(cert.get("must_staple")),
                "subject": _name(cert.get("subject")), "serial": _name(cert.get("serial")),
                "not_after": _str(cert.get("not_after"), 40), "cert_path": _name(cert.get("path")),
                "ocsp_uris": _name(", ".join(_str(u) for u in cert.get("ocsp_uris") or [])),
                "ocsp_uri_present": cert.get("ocsp_uri_present"),
                "staple_words": (fresh["words"] if fresh else ("no staple" if staple.get("checked") and
                                                               not staple.get("present") else
                                                               ("" if not staple.get("checked") else "stapled"))),
                "fresh": fresh,
                "age_sort": fresh["age"] if fresh else -1,
                "left_sort": fresh["left"] if fresh else 1e12,
                "danger": bool(fresh and fresh["danger"]),
            }
            row["at_risk"] = row["must_staple"] and state not in ("verified", "not_stapleable", "excluded",
                                                                  "removed")
            row["cause"] = _cause(state, v, staple, reason)
            counts[state] += 1
            states[state] += 1
            rows.append(row)
            all_rows.append(row)
            if row["must_staple"]:
                must_staple.append(row)
            if state in ("failing", "expiring") or row["at_risk"]:
                attention.append(row)
        rows.sort(key=lambda r: (r["rank"], r["vhost"]))
        words, tone = HOST_STATUSES[status]
        if tone == "ok" and (counts["failing"] or counts["expiring"]):
            tone = "warn"
        problems = _problems(h)
        hazards = []
        for z in h.get("hazards") or []:
            if isinstance(z, dict):
                hazards.append({"code": _str(z.get("code"), 60), "severity": _str(z.get("severity"), 20),
                                "msg": _str(z.get("msg")), "fix": _str(z.get("fix")),
                                "where": "{0}:{1}".format(_name(z.get("file")), _str(z.get("line"), 20))
                                if z.get("file") else ""})
        kept = h.get("cache_kept") if isinstance(h.get("cache_kept"), dict) else None
        cause_view = None if cause is None else {
            "code": _str(cause.get("code"), 60), "msg": _str(cause.get("msg")), "fix": _str(cause.get("fix"))}
        hosts.append({
            "name": host, "status": status, "outcome": status, "status_words": words, "tone": tone, "rows": rows,
            "counts": counts, "vhosts": len(rows), "facts": _host_facts(h), "problems": problems,
            "cause": cause_view, "hazards": hazards, "cache_kept": _cache_kept_words(kept) if kept else "",
            "problem": cause_view["msg"] if cause_view and status not in GOOD else "",
            "warnings": [_str(w) for w in (h.get("warnings") or [])[:50]],
            "check_mode": bool(h.get("check_mode")), "rolled_back": bool(h.get("rolled_back")),
            "changed": bool(h.get("changed")),
            "summary_words": ", ".join("{0} {1}".format(counts[s], STATES[s][0]) for s in STATE_ORDER if counts[s]),
        })
        # What needs attention on this host as a whole: its outcome (every one but ok, converged, changed), each
        # hazard in its configuration, and, informational, a stapling cache kept until Apache's next restart.
        if status not in GOOD:
            problem = {"host": host, "vhost": "", "host_only": True, "status": status, "state": status,
                       "status_words": words, "state_words": words, "tone": HOST_STATUSES[status][1], "rank": -2,
                       "reason": cause_view["msg"] if cause_view else words,
                       "fix": cause_view["fix"] if cause_view else "", "where": "", "must_staple": False,
                       "at_risk": False, "cause": "outcome_" + status}
            host_problems.append(problem)
            attention.append(problem)
        for z in hazards:
            tone_z = "bad" if z["severity"] == "error" else "warn"
            attention.append({"host": host, "vhost": "", "host_only": True, "status": status, "state": "hazard",
                              "status_words": words, "state_words": "hazard", "tone": tone_z, "rank": -1,
                              "reason": z["msg"], "fix": z["fix"], "where": z["where"], "must_staple": False,
                              "at_risk": False, "cause": "hazard_" + z["code"]})
        if kept:
            attention.append({"host": host, "vhost": "", "host_only": True, "status": status, "state": "cache_kept",
                              "status_words": words, "state_words": "cache kept", "tone": "info",
                              "rank": len(STATE_ORDER), "reason": _cache_kept_words(kept),
                              "fix": "nothing to do: the next run after Apache restarts removes it", "where": "",
                              "must_staple": False, "at_risk": False, "cause": "cache_kept"})
    hosts.sort(key=lambda x: (TONE_RANK[x["tone"]], HOST_ORDER.index(x["status"]), x["name"]))
    for i, x in enumerate(hosts):
        x["open"] = len(hosts) <= open_hosts
        x["index"] = i
    attention.sort(key=lambda r: (r["rank"], not r["at_risk"], r["host"], r["vhost"]))
    causes = {}
    for r in attention:
        c = causes.setdefault(r["cause"], {"cause": r["cause"], "words": CAUSES.get(r["cause"]) or
                                           r["cause"].replace("_", " "), "vhosts": 0, "hosts": set(),
                                           "tone": r["tone"], "example": r})
        c["vhosts"] += 0 if r.get("host_only") else 1
        c["hosts"].add(r["host"])
    causes = sorted(causes.values(), key=lambda c: (TONE_RANK[c["tone"]], -max(c["vhosts"], len(c["hosts"])),
                                                    c["cause"]))
    for c in causes:
        c["hosts"] = len(c["hosts"])
    all_rows.sort(key=lambda r: (r["rank"], not r["at_risk"], r["host"], r["vhost"]))
    must_staple.sort(key=lambda r: (r["rank"], r["host"], r["vhost"]))

    audit = bool(summary.get("check_mode")) or (bool(hosts) and check_mode_hosts == len(hosts))
    hosts_failed = sum(statuses[s] for s in ("failed", "refused", "unreachable", "no_report"))
    totals = {
        "hosts": len(hosts), "vhosts": len(all_rows),
        "verified": states["verified"] + states["expiring"], "expiring": states["expiring"],
        "failing": states["failing"], "not_stapleable": states["not_stapleable"],
        "changed": statuses["changed"] + statuses["drift"], "rolled_back": statuses["rolled_back"],
        "failed_hosts": hosts_failed, "pending": states["pending"],
        "attention_hosts": len(set(r["host"] for r in attention if r["tone"] != "info")),
    }
    for s, n in statuses.items():
        totals["hosts_" + s] = n
    for s, n in states.items():
        totals["vhosts_" + s] = n
    tiles = [
        {"key": "hosts", "label": "hosts", "value": totals["hosts"], "tone": "plain", "state": ""},
        {"key": "vhosts", "label": "vhosts", "value": totals["vhosts"], "tone": "plain", "state": ""},
        {"key": "verified", "label": "verified", "value": totals["verified"], "state": "verified",
         "tone": "ok" if totals["verified"] else "plain"},
        {"key": "failing", "label": "failing", "value": totals["failing"], "state": "failing",
         "tone": "bad" if totals["failing"] else "plain"},
        {"key": "not_stapleable", "label": "not stapleable", "value": totals["not_stapleable"],
         "state": "not_stapleable", "tone": "info" if totals["not_stapleable"] else "plain"},
        {"key": "changed", "label": "would change" if audit else "changed", "value": totals["changed"], "state": "",
         "tone": "warn" if audit and totals["changed"] else "plain"},
        {"key": "rolled_back", "label": "rolled back", "value": totals["rolled_back"], "state": "",
         "tone": "bad" if totals["rolled_back"] else "plain"},
        {"key": "failed_hosts", "label": "hosts failed", "value": hosts_failed, "state": "",
         "tone": "bad" if hosts_failed else "plain"},
    ]
    host_statuses = [{"status": s, "words": HOST_STATUSES[s][0], "tone": HOST_STATUSES[s][1], "count": statuses[s],
                      "pct": round(100.0 * statuses[s] / len(hosts), 2) if hosts else 0}
                     for s in HOST_ORDER if statuses[s]]
    return {
        "schema": _str(summary.get("schema")), "playbook": playbook, "generated": _str(generated),
        "source": _str(source), "audit": audit,
        "title": "OCSP stapling {0} report".format(playbook),
        "totals": totals, "tiles": tiles, "host_statuses": host_statuses,
        "check_mode": audit, "good_outcomes": list(GOOD),
        "attention": attention[:attention_rows], "attention_more": max(0, len(attention) - attention_rows),
        "attention_total": len(attention), "host_problems": host_problems, "causes": causes,
        "must_staple": must_staple, "must_staple_at_risk": len([r for r in must_staple if r["at_risk"]]),
        "chart": _chart(all_rows, chart_rows, danger_fraction), "danger_fraction": danger_fraction,
        "danger_pct": int(round(danger_fraction * 100)), "hosts": hosts, "rows": all_rows,
        "states": [{"state": s, "words": STATES[s][0], "tone": STATES[s][1], "count": states[s]}
                   for s in STATE_ORDER],
    }
