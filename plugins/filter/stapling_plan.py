# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: stapling_plan
short_description: Turn Apache and certificate facts into a per-vhost OCSP stapling plan
version_added: 1.0.0
description:
  - Runs on the controller, a pure function of its inputs. Takes the result of M(ocsp.stapling.apache_info) and the
    result of M(ocsp.stapling.ocsp_responder_info) (run with O(ocsp.stapling.ocsp_responder_info#module:vhosts) set to
    the vhosts of the same facts), or the one result of M(ocsp.stapling.apache_stapling_info) that holds both, and
    decides, for every TLS virtual host, whether it gets stapling and why.
  - A vhost is stapled when its served certificate has an C(http://) OCSP URI (or a forced URL), the issuer
    certificate is where mod_ssl looks, and the certificate has not expired.
  - A certificate without an OCSP URI is a normal state (Let's Encrypt since May 2025), decided as C(no_ocsp_uri),
    not an error. A missing issuer, an expired certificate, an unreadable certificate or an unusable OCSP URI is a
    per-vhost error carrying the fix.
  - When the responder facts carry a probe (O(ocsp.stapling.ocsp_responder_info#module:probe=true)) whose authentic
    answer is C(revoked), the vhost is an error (C(certificate_revoked)) before anything changes; other probe failures
    do not block the plan (egress may not be open yet), the verification after the change judges the staple.
  - A must-staple certificate that cannot be stapled is a host error (C(errors)); clients hard-fail on it, so the
    rollout must not proceed.
  - A vhost made by a mod_macro C(Use) line (M(ocsp.stapling.apache_info) reports its C(macro)) is not acted on
    (decision C(macro)); its stapling line would go into the macro, which changes every vhost the macro makes, so
    that is the operator's edit. The reason names the macro's definition and the C(Use) line.
  - Vhosts without C(SSLEngine on) are ignored.
  - Returns the O(ocsp.stapling.apache_stapling_config#module:vhosts) input for M(ocsp.stapling.apache_stapling_config),
    the O(ocsp.stapling.ocsp_egress#module:endpoints) for M(ocsp.stapling.ocsp_egress) (only the responders of
    stapled vhosts), the O(ocsp.stapling.ocsp_staple_info#module:targets) to verify and the liveness checks for
    M(ocsp.stapling.apache_reload).
options:
  _input:
    description: The registered result of M(ocsp.stapling.apache_info), or of M(ocsp.stapling.apache_stapling_info).
    type: dict
    required: true
  responder_info:
    description:
      - The registered result of M(ocsp.stapling.ocsp_responder_info) over the same vhosts.
      - Omit it when the input is the result of M(ocsp.stapling.apache_stapling_info), which carries the certificates
        and the node's libraries itself.
    type: dict
  include:
    description:
      - Shell-style globs (C(*.example.org)), matched case-insensitively against each vhost's ServerName and
        ServerAlias names. Empty means every TLS vhost. A vhost without a name matches only V(*).
    type: list
    elements: str
    default: []
  exclude:
    description: Globs as for O(include); a vhost matching any is not stapled by us (applied after O(include)).
    type: list
    elements: str
    default: []
  query:
    description:
      - A JMESPath expression over the list of discovered TLS vhosts (as M(ocsp.stapling.apache_info) returns them,
        each with an added C(certificate) holding its M(ocsp.stapling.ocsp_responder_info) facts). It must return a
        list of vhosts or of server names; only those are planned (together with O(include) and O(exclude)).
      - Requires the C(jmespath) Python library on the controller.
    type: str
  force_url:
    description:
      - C(http://) responder URL for vhosts whose certificate has no OCSP URI (C(SSLStaplingForceURL)).
      - A string applies to every such vhost; a dict maps name globs to URLs (first match wins).
    type: raw
  engine:
    description:
      - V(auto) picks V(mod_md) when M(ocsp.stapling.apache_info) reports mod_md stapling possible (md_module
        loaded, Apache >= 2.4.42) and O(allow_mod_md=true), else V(mod_ssl).
    type: str
    choices: [auto, mod_ssl, mod_md]
    default: auto
  allow_mod_md:
    description: Whether V(auto) may choose mod_md.
    type: bool
    default: true
  check_host:
    description:
      - Address the checks connect to for vhosts on a wildcard address (C(*), C(_default_), C([::])). The checks run on
        the web server itself, so the default is its loopback; pass the host's address (C(ansible_host)) when the
        checks run elsewhere. Vhosts bound to a specific address are checked on that address.
    type: str
    default: 127.0.0.1
  fix_misplaced_cache:
    description:
      - Whether the change will remove an C(SSLStaplingCache) inside a C(<VirtualHost>)
        (O(ocsp.stapling.apache_stapling_config#module:fix_misplaced_cache)). A configtest that fails because of one is
        then not a refusal.
    type: bool
    default: false
  state:
    description: V(absent) plans the removal of stapling from every selected vhost (C(stapling=absent)).
    type: str
    choices: [present, absent]
    default: present
  take_over:
    description: Whether the change may take over files with our names that are the operator's (then they are not a
      preflight gap).
    type: bool
    default: false
    version_added: 1.1.0
  fail_on_vhost_error:
    description:
      - Whether a per-vhost error (a missing chain, a revoked certificate...) refuses the whole host, as the host-level
        errors do (RV(_value.refusal)).
    type: bool
    default: false
    version_added: 1.1.0
  preflight:
    description:
      - What the role learned of the node's Python libraries beyond O(responder_info)'s C(libraries). Keys
        C(need_pyopenssl) (verification will run, default V(true)), C(install) (whether missing libraries may be
        installed), C(install_result) (the registered M(ansible.builtin.package) result, or V(null)), C(packages) (the
        distribution's package name per library, for example V(python3-pyOpenSSL) for C(pyOpenSSL); default Debian's),
        C(check_mode).
      - Every gap (missing or too old libraries, and those of M(ocsp.stapling.apache_info)'s C(preflight), mod_ssl,
        the configtest) becomes a host error, so one message names them all, before any change.
    type: dict
    version_added: 1.1.0
"""

EXAMPLES = r"""
- name: The web server, the certificates it serves and the node's libraries, in one module execution
  ocsp.stapling.apache_stapling_info:
  register: host_facts

- name: The plan from them
  ansible.builtin.set_fact:
    plan: "{{ host_facts | ocsp.stapling.stapling_plan }}"

- name: Facts about the web server and the certificates it serves, by the two modules
  ocsp.stapling.apache_info:
  register: apache_facts

- name: OCSP facts of the served certificates
  ocsp.stapling.ocsp_responder_info:
    vhosts: "{{ apache_facts.vhosts }}"
    fail_on_error: false
  register: responder_facts

- name: The plan
  ansible.builtin.set_fact:
    plan: "{{ apache_facts | ocsp.stapling.stapling_plan(responder_facts, exclude=['legacy.*']) }}"

- name: Only vhosts on port 443 whose certificate is must-staple
  ansible.builtin.set_fact:
    plan: >-
      {{ apache_facts | ocsp.stapling.stapling_plan(responder_facts,
           query="[?contains(addresses[0], ':443') && certificate.must_staple]") }}

- name: Configure what the plan says
  ocsp.stapling.apache_stapling_config:
    engine: "{{ plan.engine }}"
    vhosts: "{{ plan.vhosts }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    engine:
      description: The engine chosen (V(mod_ssl) or V(mod_md)).
      type: str
    engine_reason:
      description: Why that engine.
      type: str
    vhosts:
      description: Input for M(ocsp.stapling.apache_stapling_config) (C(file), C(line), C(server_name), C(stapling),
        C(force_url) when forced); only the selected vhosts (the module removes blocks of ours from any other).
      type: list
      elements: dict
    decisions:
      description:
        - "One per TLS vhost: C(file), C(line), C(server_name), C(server_aliases), C(addresses), C(certificate_file),
          C(selected), C(decision) (V(staple), V(no_ocsp_uri), V(not_selected), V(excluded), V(error), V(remove),
          V(macro): made by a macro, not acted on),
          C(code) (machine-readable reason), C(reason) (readable, with the fix for errors), C(must_staple),
          C(force_url), C(certificate) (C(subject), C(serial), C(not_after), C(has_ocsp_uri), C(ocsp_uris),
          C(fingerprint_sha256))."
      type: list
      elements: dict
    endpoints:
      description: Responder endpoints of the stapled vhosts' certificates (and forced URLs), merged per host and port,
        for M(ocsp.stapling.ocsp_egress).
      type: list
      elements: dict
    targets:
      description: C({host, port, sni}) of each stapled vhost, for M(ocsp.stapling.ocsp_staple_info).
      type: list
      elements: dict
    checks:
      description: C({host, port, sni}) of every selected TLS vhost, for the liveness checks of M(ocsp.stapling.apache_reload).
      type: list
      elements: dict
    must_staple:
      description: Server names of stapled vhosts whose certificate is must-staple (a verified staple is required).
      type: list
      elements: str
    errors:
      description: Host-level problems that must stop the rollout before anything changes (each C(code), C(msg)).
      type: list
      elements: dict
    preflight:
      description:
        - C(ok), and C(gaps) - the errors that say the host lacks something the whole rollout needs (codes
          C(missing_library), C(journal_unusable), C(control_command_missing), C(not_ours), C(missing_socache),
          C(cannot_staple), C(configtest_failed)), all found before any change - and C(notes) (for example the
          packages a check run would install).
      type: dict
      version_added: 1.1.0
    refusal:
      description:
        - V(null) when the host may be changed; else why it is refused before any change, as the failure record every
          step of the collection writes - C(task) (V(preflight) when the host lacks something the whole rollout needs,
          else V(plan)), C(msg) (every host error, and with O(fail_on_vhost_error=true) every vhost error, joined by
          C(; )), C(staples) and C(log) (empty).
      type: dict
      version_added: 1.1.0
    warnings:
      description: Readable warnings (for example must-staple without mod_md).
      type: list
      elements: str
    summary:
      description: Counts per decision.
      type: dict
"""

import fnmatch
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.module_utils._endpoints import (
    destination_problem, endpoint_from_url, forced_url, is_address, merge_endpoint, merged_list, parse_networks,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._gate import configtest_refusal
from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import failure_record


_WILDCARD_HOSTS = ("*", "_default_", "0.0.0.0", "[::]", "::")
# Every decision and code a plan holds (docs/report-schema.md lists the same; a unit test keeps them in step).
DECISIONS = ("staple", "no_ocsp_uri", "error", "excluded", "not_selected", "remove", "macro")
CODES = ("stapleable", "forced_url", "no_ocsp_uri", "missing_issuer", "certificate_revoked", "certificate_expired",
         "certificate_error", "unusable_ocsp_uri", "refused_destination", "no_certificate_facts", "excluded",
         "not_selected", "state_absent", "macro")


def _err(msg):
    return AnsibleFilterError("stapling_plan: " + msg)


def _names(vhost):
    return [n for n in [vhost.get("server_name")] + list(vhost.get("server_aliases") or []) if n]


def _matches(vhost, globs):
    names = [n.lower() for n in _names(vhost)]
    for glob in globs:
        if not isinstance(glob, str):
            raise _err("vhost globs must be strings, got {0!r}".format(glob))
        g = glob.lower()
        if g == "*" or any(fnmatch.fnmatchcase(n, g) for n in names):
            return True
    return False


def _split_address(address):
    """'127.0.0.1:443' -> ('127.0.0.1', 443); '*' -> ('*', 443); '[::1]:8443' -> ('::1', 8443)."""
    m = re.match(r"^\[([^\]]+)\](?::(\d+))?$", address)
    if m:
        host, port = m.group(1), m.group(2)
        host = "[::]" if host == "::" else host
    elif address.count(":") == 1:
        host, port = address.split(":")
    else:
        host, port = address, None
    try:
        port = int(port) if port not in (None, "*") else 443
    except ValueError:
        raise _err("cannot read the port of vhost address {0!r}".format(address))
    return host, port


def _check_targets(vhost, check_host):
    targets = []
    sni = vhost.get("server_name") or (vhost.get("server_aliases") or [None])[0]
    for address in vhost.get("addresses") or ["*:443"]:
        host, port = _split_address(address)
        if host in _WILDCARD_HOSTS:
            host = check_host
        target = {"host": host, "port": port, "sni": sni or host}
        if target not in targets:
            targets.append(target)
    return targets


def _certificate_index(responder_info):
    """Certificate facts by (file, line) and by (file, line, server_name): the vhosts one macro Use makes share
    the Use line."""
    index = {}
    for cert in responder_info.get("certificates") or []:
        for ref in cert.get("vhosts") or []:
            index.setdefault((ref.get("file"), ref.get("line")), cert)
            index[(ref.get("file"), ref.get("line"), ref.get("server_name"))] = cert
    return index


def _cert_of(index, vhost):
    key = (vhost.get("file"), vhost.get("line"))
    return index.get(key + (vhost.get("server_name"),)) or index.get(key)


def _macro_reason(vhost):
    macro = vhost.get("macro") or {}
    return ("defined by macro {0} at {1}:{2} (Use at {3}:{4}): not acted on; its stapling line would go into the "
            "macro and change every vhost it makes, so edit the macro yourself".format(
                macro.get("name"), macro.get("file"), macro.get("line"), vhost.get("file"), vhost.get("line")))


def _force_url_for(vhost, force_url):
    if force_url in (None, "", {}):
        return None
    if isinstance(force_url, str):
        url = force_url
    elif isinstance(force_url, dict):
        url = None
        for glob, candidate in force_url.items():
            if _matches(vhost, [glob]):
                url = candidate
                break
        if url is None:
            return None
    else:
        raise _err("force_url must be an http:// URL or a dict of name globs to URLs, got {0!r}".format(force_url))
    if not isinstance(url, str) or not url.lower().startswith("http://"):
        raise _err("force_url {0!r}: mod_ssl only asks http:// responders (SSLStaplingForceURL); give an http:// URL"
                   .format(url))
    return url


def _endpoint_from_url(url):
    endpoint = endpoint_from_url(url)
    if endpoint is None:
        raise _err("force_url {0!r} is not an http://HOST[:PORT]/ URL".format(url))
    return endpoint


def _cert_brief(cert):
    if not cert:
        return None
    return {k: cert.get(k) for k in ("path", "subject", "serial", "not_after", "has_ocsp_uri", "ocsp_uris",
                                     "must_staple", "fingerprint_sha256", "issuer_found", "expired")}


def _choose_engine(apache_info, engine, allow_mod_md):
    caps = apache_info.get("capabilities") or {}
    md = caps.get("mod_md_stapling") or {}
    errors = []
    if engine == "mod_md":
        if not md.get("ok"):
            errors.append({"code": "engine_unavailable",
                           "msg": "engine mod_md was asked for but cannot staple here: {0}".format(
                               md.get("reason") or "unknown reason")})
        return "mod_md", "asked for", errors
    if engine == "mod_ssl":
        return "mod_ssl", "asked for", errors
    if md.get("ok") and allow_mod_md:
        return "mod_md", "auto: mod_md is loaded and Apache is 2.4.42 or newer (proactive stapling, kept across " \
                         "reloads and responder outages)", errors
    if md.get("ok"):
        return "mod_ssl", "auto: mod_md is available but not allowed (allow_mod_md=false)", errors
    return "mod_ssl", "auto: {0}".format(md.get("reason") or "mod_md stapling not available"), errors


def _gate(apache_info, engine, fix_misplaced_cache):
    """Host-level reasons not to touch this Apache at all."""
    errors = []
    ssl = (apache_info.get("capabilities") or {}).get("mod_ssl_stapling") or {}
    if engine == "mod_ssl" and not ssl.get("ok"):
        errors.append({"code": "cannot_staple", "msg": "this Apache cannot staple with mod_ssl: {0}".format(
            ssl.get("reason") or "unknown reason")})
    # A missing socache_shmcb is not a refusal: apache_stapling_config loads it with the cache (and configtest proves it).
    why = configtest_refusal(apache_info.get("problems"), fix_misplaced_cache, "apache_stapling_fix_misplaced_cache")
    if why:
        errors.append({"code": "configtest_failed", "msg": why})
    return errors


PREFLIGHT_CODES = ("missing_library", "journal_unusable", "control_command_missing", "not_ours", "missing_socache",
                   "cannot_staple", "configtest_failed")


def _preflight(apache_info, responder_info, engine, state, take_over, options):
    """The node-side gaps (apache_info's preflight) that matter for this change, and the Python libraries."""
    options = options or {}
    gaps, notes = [], []
    # With a cache already configured, its socache module is loaded (else the configtest fails, a gap of its own).
    foreign_cache = any(k.lower() == "sslstaplingcache" for k in (apache_info.get("global_stapling") or {}))
    for gap in apache_info.get("preflight") or []:
        if gap.get("code") == "not_ours" and take_over:
            continue
        if gap.get("code") == "missing_socache" and (engine != "mod_ssl" or state != "present" or foreign_cache):
            continue
        if gap.get("code") == "not_ours" and state != "present":
            continue  # absent leaves the operator's file alone (and says so)
        gaps.append({"code": gap.get("code"), "msg": gap.get("msg")})
    libs = responder_info.get("libraries") or {}
    if state != "present" or not libs:
        return gaps, notes
    needed = ["cryptography"] + (["pyOpenSSL"] if options.get("need_pyopenssl", True) else [])
    missing = [n for n in needed if not (libs.get(n) or {}).get("ok")]
    if not missing:
        return gaps, notes
    words = []
    for name in missing:
        lib = libs.get(name) or {}
        words.append("{0} >= {1} ({2})".format(name, lib.get("minimum"), "too old: {0} at {1}".format(
            lib.get("version"), lib.get("path")) if lib.get("found") else "missing"))
    names = options.get("packages") or {}
    packages = [names.get(n) or (libs.get(n) or {}).get("package") for n in missing]
    result = options.get("install_result")
    python = libs.get("python") or "the node's Python"
    if options.get("install") and result and result.get("failed"):
        how = "installing them ({0}) failed: {1}. Make the packages installable (a reachable repository), or " \
              "install them yourself".format(" ".join(packages), str(result.get("msg") or "")[:300])
    elif options.get("install") and result and options.get("check_mode"):
        notes.append("the rollout installs {0} first (apache_stapling_install_dependencies)".format(
            " ".join(packages)))
        if "cryptography" not in missing:
            return gaps, notes
        how = "the rollout installs {0} first; without cryptography this check cannot read the certificates".format(
            " ".join(packages))
    elif options.get("install") and result:
        how = "{0} installed, yet {1} still cannot use them: point ansible_python_interpreter at the system " \
              "python3, or install the libraries into that interpreter".format(" ".join(packages), python)
    else:
        how = "install them ({0}), or set apache_stapling_install_dependencies: true".format(" ".join(packages))
    gaps.append({"code": "missing_library", "msg": "the node's Python ({0}) lacks {1}: {2}. Nothing was "
                 "changed.".format(python, ", ".join(words), how), "libraries": missing, "packages": packages})
    return gaps, notes


def _select(tls_vhosts, index, include, exclude, query):
    selected = set()
    for i, vhost in enumerate(tls_vhosts):
        if not include or _matches(vhost, include):
            selected.add(i)
    if query:
        try:
            import jmespath  # only a query needs it (imported here: every worker that plans loads this file)
        except ImportError:
            jmespath = None
        if jmespath is None:
            raise _err("query needs the jmespath Python library on the controller (pip install jmespath, or the "
                       "python3-jmespath package)")
        data = []
        for vhost in tls_vhosts:
            item = dict(vhost)
            item["certificate"] = _cert_of(index, vhost)
            data.append(item)
        try:
            result = jmespath.search(query, data)
        except jmespath.exceptions.JMESPathError as exc:
            raise _err("query {0!r} is not a valid JMESPath expression: {1}".format(query, exc))
        if result is None:
            result = []
        if not isinstance(result, list):
            raise _err("query {0!r} must return a list of vhosts (or of server names), it returned {1}".format(
                query, type(result).__name__))
        picked = set()
        for item in result:
            for i, vhost in enumerate(tls_vhosts):
                if isinstance(item, dict) and (item.get("file"), item.get("line")) == (vhost.get("file"), vhost.get("line")):
                    picked.add(i)
                elif isinstance(item, str) and item.lower() in [n.lower() for n in _names(vhost)]:
                    picked.add(i)
        selected &= picked
    excluded = set(i for i, vhost in enumerate(tls_vhosts) if exclude and _matches(vhost, exclude))
    return selected, excluded


def _forced_endpoint(cert, force):
    """The endpoint of a forced URL: responder_info's (resolved and judged on the host) when it is the one the
    vhost already forces, else parsed here (its addresses resolved later, by ocsp_egress)."""
    known = (cert or {}).get("force_endpoint")
    if known and known.get("uri") == force and not known.get("error"):
        return dict(known, uris=[force])
    return _endpoint_from_url(force)


def _refusal(endpoint, networks):
    """Why egress to this endpoint is refused (responder_info's judgement, else its address literal's), or None."""
    if endpoint.get("refused"):
        return endpoint["refused"]
    for address in [endpoint.get("host")] + list(endpoint.get("addresses") or []):
        try:
            problem = destination_problem(address, networks) if is_address(address) else None
        except ValueError:
            problem = None
        if problem:
            return "{0} is {1}".format(address, problem)
    return None


def _destination(cert, force):
    """The one endpoint mod_ssl asks for this vhost: the forced URL's, else the certificate's first OCSP URI."""
    if force:
        return _forced_endpoint(cert, force)
    endpoints = (cert or {}).get("endpoints") or []
    return endpoints[0] if endpoints and not endpoints[0].get("error") else None


def _decide(vhost, cert, force, networks=None, asked=None):
    """(decision, code, reason) for a selected vhost, state present: a vhost that would be stapled is refused when
    the one destination mod_ssl asks (``asked``: the forced URL in force, else the certificate's first OCSP URI) is
    one egress must not go to."""
    decision, code, reason = _judge(vhost, cert, force)
    if decision != "staple":
        return decision, code, reason
    destination = _destination(cert, asked or force)
    refused = _refusal(destination, networks) if destination else None
    if refused:
        return "error", "refused_destination", (
            "mod_ssl would ask {0}, and {1}: no egress is opened and the vhost is not stapled. The certificate (or "
            "SSLStaplingForceURL) decides where the web server connects; fix the certificate's OCSP URI, force an "
            "http:// responder, or add the responder's network to apache_stapling_egress_allowed_networks".format(
                (destination.get("uris") or [destination.get("uri")])[0], refused))
    return decision, code, reason


def _judge(vhost, cert, force):
    """(decision, code, reason) from the certificate's facts alone."""
    if cert is None:
        return "error", "no_certificate_facts", (
            "ocsp_responder_info has no facts for this vhost's certificate ({0}); run it over apache_info's vhosts"
            .format(vhost.get("certificate_file")))
    if cert.get("error"):
        return "error", "certificate_error", "{0}: {1}".format(cert.get("path"), cert["error"])
    if cert.get("expired"):
        return "error", "certificate_expired", "the certificate {0} expired on {1}; renew it".format(
            cert.get("path"), cert.get("not_after"))
    if not cert.get("has_ocsp_uri"):
        if force:
            if not cert.get("issuer_found"):
                return "error", "missing_issuer", _missing_issuer(vhost, cert)
            return "staple", "forced_url", "no OCSP URI in the certificate; stapling asked for with {0}".format(force)
        return "no_ocsp_uri", "no_ocsp_uri", ("the certificate has no OCSP URI (normal for Let's Encrypt since May "
                                              "2025): no stapling; set apache_stapling_force_url to staple anyway")
    endpoints = cert.get("endpoints") or []
    if endpoints and endpoints[0].get("error") and not force:
        return "error", "unusable_ocsp_uri", "{0}; set apache_stapling_force_url to an http:// responder".format(
            cert.get("reason") or endpoints[0]["error"])
    if not cert.get("issuer_found"):
        return "error", "missing_issuer", _missing_issuer(vhost, cert)
    probe = cert.get("probe") or {}
    if probe.get("authentic") and probe.get("cert_status") == "revoked":
        return "error", "certificate_revoked", (
            "the responder says {0} is revoked ({1}): stapling it would tell every client so; replace the "
            "certificate".format(cert.get("path"), (probe.get("error") or {}).get("msg") or "revoked"))
    if force:
        return "staple", "forced_url", "stapling with the forced responder {0}".format(force)
    return "staple", "stapleable", "http:// OCSP URI {0}, issuer found in the {1}".format(
        (cert.get("ocsp_uris") or ["?"])[0], (cert.get("issuer_source") or "configuration").replace("_", " "))


def _missing_issuer(vhost, cert):
    return ("the issuer of {0} ({1}) is in none of the certificate, chain or CA files: mod_ssl logs AH02217 and "
            "staples nothing. Fix: serve the full chain (SSLCertificateChainFile with the intermediate, or a full-chain "
            "SSLCertificateFile) in {2} line {3}".format(cert.get("path"), cert.get("issuer"), vhost.get("file"),
                                                         vhost.get("line")))


def stapling_plan(apache_info, responder_info=None, include=None, exclude=None, query=None, force_url=None, engine="auto",
                  allow_mod_md=True, check_host="127.0.0.1", state="present", fix_misplaced_cache=False,
                  take_over=False, preflight=None, allowed_networks=None, fail_on_vhost_error=False):
    if not isinstance(apache_info, dict) or "vhosts" not in apache_info:
        raise _err("the input must be the registered result of ocsp.stapling.apache_info (a dict with 'vhosts')")
    if responder_info is None:
        # apache_stapling_info: one result holds the certificates and the node's libraries too.
        if "certificates" not in apache_info and "libraries" not in apache_info:
            raise _err("give responder_info (the result of ocsp.stapling.ocsp_responder_info), or plan from the "
                       "result of ocsp.stapling.apache_stapling_info, which carries the certificates")
        responder_info = apache_info
    if isinstance(responder_info, dict) and "certificates" not in responder_info and "libraries" in responder_info:
        # ocsp_responder_info could not run (cryptography missing): no certificate facts, the preflight says why.
        responder_info = dict(responder_info, certificates=[], endpoints=[])
    if not isinstance(responder_info, dict) or "certificates" not in responder_info:
        raise _err("responder_info must be the registered result of ocsp.stapling.ocsp_responder_info "
                   "(a dict with 'certificates')")
    if isinstance(include, str) or isinstance(exclude, str):
        raise _err("include and exclude are lists of globs, got {0!r} / {1!r}".format(include, exclude))
    include = list(include or [])
    exclude = list(exclude or [])
    if engine not in ("auto", "mod_ssl", "mod_md"):
        raise _err("engine must be auto, mod_ssl or mod_md, got {0!r}".format(engine))
    if state not in ("present", "absent"):
        raise _err("state must be present or absent, got {0!r}".format(state))
    if not isinstance(allow_mod_md, bool) or not isinstance(fail_on_vhost_error, bool):
        raise _err("allow_mod_md and fail_on_vhost_error must be booleans, got {0!r} / {1!r} (use '| bool')".format(
            allow_mod_md, fail_on_vhost_error))
    if isinstance(allowed_networks, str):
        raise _err("allowed_networks is a list of networks (CIDR), got the string {0!r}".format(allowed_networks))
    try:
        networks = parse_networks(allowed_networks, "apache_stapling_egress_allowed_networks")
    except ValueError as exc:
        raise _err(str(exc))

    chosen, engine_reason, errors = _choose_engine(apache_info, engine, allow_mod_md)
    errors += _gate(apache_info, chosen, bool(fix_misplaced_cache)) if state == "present" else []
    node_gaps, preflight_notes = _preflight(apache_info, responder_info, chosen, state, bool(take_over), preflight)
    errors += node_gaps
    warnings = []
    index = _certificate_index(responder_info)
    tls_vhosts = [v for v in apache_info["vhosts"] if v.get("tls")]
    selected, excluded = _select(tls_vhosts, index, include, exclude, query)

    decisions, vhosts_out, targets, checks, must_staple = [], [], [], [], []
    merged = {}
    for i, vhost in enumerate(tls_vhosts):
        cert = _cert_of(index, vhost)
        force = _force_url_for(vhost, force_url)
        # what mod_ssl asks: the URL we force, else the SSLStaplingForceURL in force there, else the certificate's
        asked = force or forced_url(vhost)
        effective = bool((vhost.get("stapling") or {}).get("enabled"))
        ms = bool(cert and cert.get("must_staple"))
        entry = {"file": vhost.get("file"), "line": vhost.get("line"), "server_name": vhost.get("server_name"),
                 "server_aliases": list(vhost.get("server_aliases") or []), "addresses": list(vhost.get("addresses") or []),
                 "certificate_file": vhost.get("certificate_file"), "selected": False, "must_staple": ms,
                 "force_url": None, "stapling_before": effective, "stapling": None, "certificate": _cert_brief(cert)}
        if i in excluded:
            entry.update(decision="excluded", code="excluded",
                         reason="matches apache_stapling_vhosts_exclude: not stapled by us (a block of ours there is "
                                "removed)")
        elif i not in selected:
            entry.update(decision="not_selected", code="not_selected",
                         reason="not matched by apache_stapling_vhosts_include / apache_stapling_vhosts_query: "
                                "not stapled by us (a block of ours there is removed)")
        elif vhost.get("macro"):
            # Selected, but not ours to edit: not in the module's input, not checked, not verified.
            entry.update(selected=True, decision="macro", code="macro", reason=_macro_reason(vhost))
            if ms and state == "present":
                warnings.append("{0} is must-staple and made by macro {1}: not acted on; staple it in the macro".format(
                    vhost.get("server_name"), vhost["macro"].get("name")))
        elif state == "absent":
            entry.update(selected=True, decision="remove", code="state_absent", reason="stapling of ours removed",
                         stapling="absent")
        else:
            decision, code, reason = _decide(vhost, cert, force, networks, asked)
            entry.update(selected=True, decision=decision, code=code, reason=reason)
            if decision == "staple":
                entry["stapling"] = "on"
                entry["force_url"] = force
            else:
                # Not stapleable: switch off what is in force (own or inherited, no AH02218 noise), else add nothing.
                entry["stapling"] = "off" if effective else "absent"
            if ms and decision != "staple":
                errors.append({"code": "must_staple_unmet", "msg": "{0}: the certificate is must-staple and cannot be "
                               "stapled ({1}); clients will refuse it without a staple: {2}".format(
                                   vhost.get("server_name"), code, reason)})
        if entry["selected"] and entry["decision"] != "macro":
            item = {"file": entry["file"], "line": entry["line"], "server_name": entry["server_name"],
                    "stapling": entry["stapling"]}
            if entry["force_url"]:
                item["force_url"] = entry["force_url"]
            vhosts_out.append(item)
            vhost_checks = _check_targets(vhost, check_host)
            entry["checks"] = vhost_checks
            for c in vhost_checks:
                if c not in checks:
                    checks.append(c)
            if entry["decision"] == "staple":
                for c in vhost_checks:
                    if c not in targets:
                        targets.append(dict(c))
                if ms:
                    must_staple.append(entry["server_name"])
                # egress only where mod_ssl goes: one endpoint per vhost, never the certificate's other URIs
                destination = _destination(cert, asked)
                if destination is not None:
                    merge_endpoint(merged, destination)
        decisions.append(entry)

    if must_staple and chosen != "mod_md" and state == "present":
        warnings.append("must-staple certificates ({0}) are stapled by mod_ssl, which fetches lazily in the first "
                        "handshake; mod_md (MDStapling, Apache >= 2.4.42) is preferred for them ({1})".format(
                            ", ".join(str(n) for n in must_staple), engine_reason))
    summary = {}
    for d in decisions:
        summary[d["decision"]] = summary.get(d["decision"], 0) + 1
    gaps = [e for e in errors if e["code"] in PREFLIGHT_CODES]
    refusal = None
    if errors or (fail_on_vhost_error and summary.get("error")):
        vhost_errors = [d["reason"] for d in decisions if d["decision"] == "error"] if fail_on_vhost_error else []
        refusal = failure_record("preflight" if gaps else "plan", [e["msg"] for e in errors] + vhost_errors)
    return {
        "state": state,
        "engine": chosen,
        "engine_reason": engine_reason,
        "vhosts": vhosts_out,
        "decisions": decisions,
        "endpoints": merged_list(merged),
        "targets": targets,
        "checks": checks,
        "must_staple": must_staple,
        "errors": errors,
        "warnings": warnings + preflight_notes,
        "summary": summary,
        "preflight": {"ok": not gaps, "gaps": gaps, "notes": preflight_notes},
        "refusal": refusal,
    }


class FilterModule(object):
    def filters(self):
        return {"stapling_plan": stapling_plan}
