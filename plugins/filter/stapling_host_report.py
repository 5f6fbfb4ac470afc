# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: stapling_host_report
short_description: One host's stapling report (the per-host part of the JSON summary)
version_added: 1.0.0
description:
  - Runs on the controller at the end of the role C(ocsp.stapling.apache_stapling) (also after a rollback) and folds the
    registered results of the run into one dict per host, per vhost and per certificate, as described in the
    collection's C(docs/report-schema.md).
  - C(ocsp.stapling.stapling_fleet_report) puts the hosts' reports together.
options:
  _input:
    description: The registered result of M(ocsp.stapling.apache_info).
    type: dict
    required: true
  plan:
    description:
      - The output of the C(ocsp.stapling.stapling_plan) filter.
      - Without it (verification only), the report has one vhost entry per target of O(staples).
    type: dict
  config:
    description: The registered result of M(ocsp.stapling.apache_stapling_config), or V(null) when it did not run.
    type: dict
  egress:
    description: The registered result of M(ocsp.stapling.ocsp_egress), or V(null).
    type: dict
  reload:
    description: The registered result of M(ocsp.stapling.apache_reload), or V(null).
    type: dict
  staples:
    description: The registered result of M(ocsp.stapling.ocsp_staple_info), or V(null).
    type: dict
  rolled_back:
    description: Whether the run restored the previous configuration.
    type: bool
    default: false
  failure:
    description: C({task, msg}) of what failed, or V(null).
    type: dict
  check_mode:
    description: Whether the run was in check mode (then changes are drift, not changes made).
    type: bool
    default: false
  restore:
    description:
      - The registered result of M(ocsp.stapling.apache_stapling_config) with O(ocsp.stapling.apache_stapling_config#module:state=restored)
        (the rollback), or V(null). The files it put back are reported as restored.
    type: dict
    version_added: 1.1.0
  rollback_reload:
    description:
      - The registered result of M(ocsp.stapling.apache_reload) after the rollback, or V(null). The report's C(reload)
        and C(downtime) are those of the reload that happened last; C(reloads) lists both.
    type: dict
    version_added: 1.1.0
  errors:
    description:
      - Host-level refusals found before the plan (e.g. a preflight check), each C({code, msg}); listed before the plan's.
    type: list
    elements: dict
    version_added: 1.1.0
  cache_kept:
    description:
      - C({reason, parent_pid, since}) when the role kept its (inert) C(SSLStaplingCache) after a rollback or removal
        until Apache's next restart, else V(null). Informational, it does not change the host's outcome.
      - When not given, read from O(config) and O(restore) (M(ocsp.stapling.apache_stapling_config)'s C(cache_kept),
        C(cache_kept_reason), C(cache_kept_parent)), as the last of them left it.
    type: dict
    version_added: 1.1.0
  min_validity:
    description:
      - A verified staple closer to its nextUpdate than this is marked C(expiring) (a warning, not a failure), in seconds
        or a share of the staple's validity (nextUpdate - thisUpdate) such as V(33%).
      - One third by default, the same as the fleet report's danger zone and mod_md's renewal window
        (C(MDStaplingRenewWindow 33%)); a staple with less left has missed the point where it should have been
        renewed.
    type: raw
    default: 33%
    version_added: 1.1.0
"""

EXAMPLES = r"""
- name: The host's report
  ansible.builtin.set_fact:
    apache_stapling_report: "{{ apache_facts | ocsp.stapling.stapling_host_report(plan=plan, staples=staples) }}"
"""

RETURN = r"""
_value:
  description:
    - The host's report; see C(docs/report-schema.md) (C(host) object). Its C(outcome) (C(changed), C(converged),
      C(ok), C(drift), C(refused), C(rolled_back), C(failed)) and C(cause) (C({code, msg, fix})) are decided here,
      once; C(status) is derived from it.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import (
    STATUS_OF, decide, epoch, hazards, margin_seconds)


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _ran(result):
    """A registered result that ran (not None, not skipped)."""
    return isinstance(result, dict) and not result.get("skipped")


def _staple_brief(result, min_validity):
    errors = result.get("errors") or []
    left = expiring = None
    this_update, next_update, age = epoch(result.get("this_update")), epoch(result.get("next_update")), result.get("age")
    if this_update is not None and next_update is not None and isinstance(age, (int, float)) \
            and not isinstance(age, bool):
        left = round(next_update - (this_update + age), 3)
        if result.get("valid"):
            expiring = left < margin_seconds(min_validity, next_update - this_update)
    return {
        "checked": True,
        "present": bool(result.get("stapled")),
        "valid": bool(result.get("valid")),
        "cert_status": result.get("cert_status"),
        "this_update": result.get("this_update"),
        "next_update": result.get("next_update"),
        "age": result.get("age"),
        "produced_at": result.get("produced_at"),
        "left": left,
        "expiring": expiring,
        "signer": result.get("signer"),
        "last_error": (errors[-1].get("msg") or errors[-1].get("code")) if errors else None,
        "error_codes": sorted(set(e.get("code") for e in errors if e.get("code"))),
    }


_NOT_CHECKED = {"checked": False, "present": None, "valid": None, "cert_status": None, "this_update": None,
                "next_update": None, "age": None, "produced_at": None, "left": None, "expiring": None, "signer": None,
                "last_error": None, "error_codes": []}


def _stage(failure, config, reload, staples, egress):
    """Which step failed: the plan's gate and the preflight say so themselves; else the first registered result that
    failed, in the order the role runs them."""
    task = failure.get("task")
    if task in ("plan", "preflight", "verify"):
        return task
    for stage, result in (("egress", egress), ("configure", config), ("reload", reload), ("verify", staples)):
        if isinstance(result, dict) and result.get("failed"):
            return stage
    return "other"


def _cache_kept(*results):
    """Our inert cache kept until Apache's next restart, as the last operation that ran left it (or None)."""
    kept = None
    for result in results:
        if _ran(result) and "cache_kept" in result:
            parent = result.get("cache_kept_parent") or {}
            kept = {"reason": result.get("cache_kept_reason"), "parent_pid": parent.get("pid"),
                    "since": parent.get("since")} if result.get("cache_kept") else None
    return kept


def stapling_host_report(apache_info, plan=None, config=None, egress=None, reload=None, staples=None,
                         rolled_back=False, failure=None, check_mode=False, restore=None, rollback_reload=None,
                         errors=None, cache_kept=None, min_validity="33%"):
    if not isinstance(apache_info, dict):
        raise AnsibleFilterError("stapling_host_report: the input must be the registered result of "
                                 "ocsp.stapling.apache_info")
    try:
        margin_seconds(min_validity, 3600)
    except (TypeError, ValueError):
        raise AnsibleFilterError("stapling_host_report: min_validity (ocsp_stapling_verify_min_validity) must be a "
                                 "number of seconds or a share of the validity such as '33%', got {0!r}".format(
                                     min_validity))
    if errors is not None and not isinstance(errors, list):
        raise AnsibleFilterError("stapling_host_report: errors must be a list of {{code, msg}}, got {0!r}".format(errors))
    plan = plan or {}
    cache_kept = cache_kept if isinstance(cache_kept, dict) else _cache_kept(config, restore)
    config = config if _ran(config) else None
    egress = egress if _ran(egress) else None
    reload = reload if _ran(reload) else None
    staples = staples if _ran(staples) else None
    restore = restore if _ran(restore) else None
    rollback_reload = rollback_reload if _ran(rollback_reload) else None
    by_target = {}
    for r in (staples or {}).get("results") or []:
        by_target[(r.get("host"), r.get("port"), r.get("sni"))] = r
    actions = {}
    for v in (config or {}).get("vhosts") or []:
        actions[(v.get("file"), v.get("line"))] = v
    vhosts = []
    for d in plan.get("decisions") or []:
        cert = d.get("certificate") or {}
        results = [by_target[k] for k in ((c["host"], c["port"], c["sni"]) for c in d.get("checks") or [])
                   if k in by_target]
        act = actions.get((d.get("file"), d.get("line"))) or {}
        vhosts.append({
            "server_name": d.get("server_name"),
            "server_aliases": d.get("server_aliases") or [],
            "file": d.get("file"),
            "line": d.get("line"),
            "addresses": d.get("addresses") or [],
            "selected": bool(d.get("selected")),
            "decision": d.get("decision"),
            "code": d.get("code"),
            "reason": d.get("reason"),
            "stapling": d.get("stapling"),
            "force_url": d.get("force_url"),
            "action": act.get("action"),
            "action_reason": act.get("reason"),
            "edited_file": act.get("edited_file"),
            "changed": act.get("action") not in (None, "unchanged", "refused"),
            "certificate": {
                "path": cert.get("path") or d.get("certificate_file"),
                "subject": cert.get("subject"),
                "serial": cert.get("serial"),
                "not_after": cert.get("not_after"),
                "fingerprint_sha256": cert.get("fingerprint_sha256"),
                "ocsp_uri_present": cert.get("has_ocsp_uri"),
                "ocsp_uris": cert.get("ocsp_uris") or [],
                "must_staple": bool(d.get("must_staple")),
                "issuer_found": cert.get("issuer_found"),
            },
            "staple": _staple_brief(results[0], min_validity) if results else dict(_NOT_CHECKED),
        })
    if not plan.get("decisions"):
        # Verification only (the playbook ocsp.stapling.verify): one entry per target checked.
        for r in (staples or {}).get("results") or []:
            cert = r.get("certificate") or {}
            vhosts.append({
                "server_name": r.get("sni"), "server_aliases": [], "file": None, "line": None,
                "addresses": ["{0}:{1}".format(r.get("host"), r.get("port"))], "selected": True, "decision": "verify",
                "code": "verify", "reason": "verification only", "stapling": None, "force_url": None, "action": None,
                "action_reason": None, "changed": False,
                "certificate": {"path": None, "subject": cert.get("subject"), "serial": cert.get("serial"),
                                "not_after": cert.get("not_after"), "fingerprint_sha256": cert.get("fingerprint_sha256"),
                                "ocsp_uri_present": bool(cert.get("ocsp_uris")) if cert else None,
                                "ocsp_uris": cert.get("ocsp_uris") or [], "must_staple": bool(r.get("must_staple")),
                                "issuer_found": None},
                "staple": _staple_brief(r, min_validity),
            })
    # An adopted change (an earlier run's, never confirmed) is reloaded and verified now: this run changes the host.
    changed = bool(config and (config.get("changed") or config.get("adopted"))) or bool(egress and egress.get("changed"))
    if failure is not None:
        failure = dict(failure)
        failure["stage"] = _stage(failure, config, reload, staples, egress)
    # What happened last is what the host runs now: a rolled-back change is shown as restored, and the reload shown is
    # the rollback's when there was one.
    reloads = [dict(phase=phase, mode=r.get("mode"), downtime=r.get("downtime"))
               for phase, r in (("change", reload), ("rollback", rollback_reload)) if r is not None]
    last = reloads[-1] if reloads else None
    restore_files = (restore or {}).get("files") or []
    kept_paths = set(f.get("path") for f in restore_files if f.get("action") == "kept")
    restored_paths = set(f.get("path") for f in restore_files if f.get("action") != "kept")
    files = []
    for f in (config or {}).get("files") or []:
        if f.get("path") in kept_paths:
            # Our cache snippet (and what enables it), kept for the running Apache parent: see cache_kept.
            files.append(dict(f, restored=False, kept=True))
            continue
        files.append(dict(f, restored=bool(rolled_back) and (not restore or f.get("path") in restored_paths
                                                             or not restored_paths)))
    for v in vhosts:
        v["restored"] = bool(rolled_back) and v["changed"]
    report = {
        "host": None,  # filled by the fleet report from the inventory name
        "status": None,
        "outcome": None,
        "cause": None,
        "check_mode": bool(check_mode),
        "state": plan.get("state"),
        "apache": {
            "version": _get(apache_info, "apache", "version"),
            "mpm": _get(apache_info, "apache", "mpm"),
            "binary": _get(apache_info, "apache", "binary"),
            "family": _get(apache_info, "layout", "family"),
            "server_root": _get(apache_info, "layout", "server_root"),
        },
        "openssl": {
            "cli_version": _get(apache_info, "openssl", "cli_version"),
            "mod_ssl_version": _get(apache_info, "openssl", "mod_ssl_version"),
        },
        "engine": plan.get("engine"),
        "engine_reason": plan.get("engine_reason"),
        "changed": changed,
        "drift": changed if check_mode else None,
        "transaction": (config or {}).get("transaction"),
        "reload": last["mode"] if last else ("none" if config else None),
        "reload_needed": (config or {}).get("reload"),
        "downtime": last["downtime"] if last else None,
        "reloads": reloads,
        "config_files": files,
        "config_problems": (config or {}).get("problems") or [],
        "hazards": [],
        "firewall": None if egress is None else {
            "backend": egress.get("backend"),
            "rules": egress.get("rules") or [],
            "added": egress.get("added") or [],
            "removed": egress.get("removed") or [],
            "persisted": egress.get("persisted"),
        },
        "rolled_back": bool(rolled_back),
        "cache_kept": cache_kept,
        "failure": failure,
        "errors": list(errors or []) + list(plan.get("errors") or []),
        "warnings": plan.get("warnings") or [],
        "summary": plan.get("summary") or {},
        "vhosts": vhosts,
    }
    outcome, cause = decide(report)
    report.update(outcome=outcome, cause=cause, status=STATUS_OF[outcome])
    report["hazards"] = hazards(list(apache_info.get("problems") or []) + list(report["config_problems"]),
                                outcome=outcome, state=plan.get("state"), cause=cause)
    return report


class FilterModule(object):
    def filters(self):
        return {
            "stapling_host_report": stapling_host_report,
        }
