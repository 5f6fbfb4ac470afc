#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ocsp_staple_info
short_description: Prove that each TLS vhost staples a valid, fresh, correctly signed OCSP response
version_added: 1.0.0
description:
  - For each target (host, port, SNI name) performs real TLS handshakes asking for C(status_request), on TLS 1.3 and
    TLS 1.2, and judges the stapled OCSP response against the certificate the server really presented and its issuer.
  - A staple is valid only when its status is successful, it is signed by the issuer or by a delegate the issuer
    certified with id-kp-OCSPSigning, its CertID matches the served certificate, thisUpdate is not in the future and
    nextUpdate has not passed (with O(skew)), it is not older than O(max_age), and the certificate status is good.
    Apache checks none of the signature (and mod_md not the dates either), and C(openssl s_client -status) only prints.
  - mod_ssl fetches a response lazily, inside the first handshake that asks for one, so the first handshakes after a
    reload may carry none. Handshakes are retried (O(attempts), O(delay)) until a staple arrives, within O(timeout).
  - Targets are checked concurrently, at most O(concurrency) at once.
  - Needs pyOpenSSL on the host that runs the task (the Python C(ssl) module cannot request a staple); without it the
    task fails naming the package to install. There is no fallback that parses C(openssl s_client) text.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._attributes
  - ocsp.stapling._attributes.info_module
requirements:
  - pyOpenSSL >= 20.0 (Debian/Ubuntu C(python3-openssl))
  - cryptography >= 3.4 (Debian/Ubuntu C(python3-cryptography))
options:
  targets:
    description:
      - The TLS endpoints to check. Run the task on the web server (its own addresses) or delegate it to the controller.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Address or host name to connect to.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        default: 443
      sni:
        description: Server name sent in the TLS handshake (selects the name-based vhost). Defaults to O(targets[].host).
        type: str
  ca_file:
    description:
      - PEM file with issuer certificates, searched when the server does not present the issuer in its chain.
    type: path
  attempts:
    description: Handshakes per TLS version until a staple arrives.
    type: int
    default: 3
  delay:
    description: Seconds between handshakes that carried no staple.
    type: float
    default: 0.2
  timeout:
    description: Overall time budget in seconds for one target (all its handshakes).
    type: float
    default: 10
  require:
    description:
      - Fail the task when a target does not staple a valid response.
      - With V(false) such targets are only reported. A must-staple certificate served without a valid staple fails
        the task either way.
    type: bool
    default: true
  tls_versions:
    description: TLS versions to check. A version the server does not offer is reported, not an error, if another works.
    type: list
    elements: str
    choices: ["1.2", "1.3"]
    default: ["1.3", "1.2"]
  concurrency:
    description: How many targets to check at once.
    type: int
    default: 16
  return_der:
    description: Return each stapled response, base64 DER, in RV(results[].tls).
    type: bool
    default: false
  skew:
    description: Seconds of clock skew allowed for thisUpdate and nextUpdate.
    type: int
    default: 300
  max_age:
    description: Reject a staple whose thisUpdate is older than this many seconds.
    type: int
notes:
  - Read-only; check mode changes nothing. Each target costs one to O(attempts) handshakes per TLS version.
  - The certificate chain itself is not validated against a trust store; this module judges the staple.
"""

EXAMPLES = r"""
- name: Verify the staples of two vhosts on this web server
  ocsp.stapling.ocsp_staple_info:
    targets:
      - host: 127.0.0.1
        port: 443
        sni: www.example.org
      - host: 127.0.0.1
        sni: api.example.org

- name: From the controller, report only, more patience after a reload
  ocsp.stapling.ocsp_staple_info:
    targets: "{{ apache_facts.vhosts | selectattr('tls') | map(attribute='server_name')
                 | map('community.general.dict_kv', 'sni') | list }}"
    attempts: 5
    delay: 0.5
    require: false
  delegate_to: localhost
  register: staples

- name: Vhosts whose staple is not valid
  ansible.builtin.debug:
    msg: "{{ staples.results | rejectattr('valid') | map(attribute='sni') }}"
"""

RETURN = r"""
results:
  description: One entry per target, in input order.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The address connected to.
      type: str
      returned: always
      sample: 127.0.0.1
    port:
      description: The port.
      type: int
      returned: always
      sample: 443
    sni:
      description: The server name sent.
      type: str
      returned: always
      sample: www.example.org
    stapled:
      description: Whether any handshake carried a stapled response.
      type: bool
      returned: always
      sample: true
    valid:
      description: Whether the staple is valid on every TLS version the server speaks.
      type: bool
      returned: always
      sample: true
    cert_status:
      description: C(good), C(revoked) or C(unknown) from the staple, or V(null).
      type: str
      returned: always
      sample: good
    this_update:
      description: thisUpdate of the staple, ISO 8601 UTC.
      type: str
      returned: always
      sample: "2026-11-24T05:00:00Z"
    next_update:
      description: nextUpdate of the staple, ISO 8601 UTC, or V(null).
      type: str
      returned: always
      sample: "2026-11-25T05:00:00Z"
    age:
      description: Seconds since thisUpdate.
      type: int
      returned: always
      sample: 1200
    produced_at:
      description: producedAt of the staple, ISO 8601 UTC, or V(null).
      type: str
      returned: always
      sample: "2026-11-24T05:00:00Z"
      version_added: 1.1.0
    signer:
      description: C(issuer) or C(delegated) when the signature verified and the signer is authorized, else V(null).
      type: str
      returned: always
      sample: issuer
    handshakes:
      description: Handshakes made for this target, all TLS versions together.
      type: int
      returned: always
      sample: 2
    errors:
      description:
        - What is wrong, each with C(code), C(msg) and the C(tls) version it was seen on.
        - Codes C(bad_sni) (the target's C(sni) is no name a client can send, such as C(a..b.example) or a label
          over 63 characters, which Apache accepts as a ServerName; no handshake is made for that target, the others
          are judged), C(connection_refused), C(connection_failed), C(timeout), C(not_tls), C(tls_error),
          C(tls_version_unsupported), C(no_certificate), C(no_staple), C(no_issuer), C(must_staple_unsatisfied),
          C(unreadable_certificate) (the C(cryptography) library cannot read the served certificate, so its staple cannot
          be judged; RV(results[].certificate) then holds what its DER says), and the validator's C(not_ocsp),
          C(unsuccessful), C(signature_invalid), C(signer_not_authorized), C(unsupported_algorithm),
          C(unsupported_critical_extension), C(malformed), C(wrong_certificate), C(not_yet_valid), C(expired),
          C(too_old), C(revoked), C(unknown).
      type: list
      elements: dict
      returned: always
      sample: []
    must_staple:
      description: Whether the served certificate is must-staple, or V(null) when none was served.
      type: bool
      returned: always
      sample: false
    certificate:
      description:
        - The served certificate (C(subject), C(serial), C(fingerprint_sha256), C(not_after), C(ocsp_uris), C(sans),
          C(warnings)).
        - C(warnings) lists what could not be read and stapling does not depend on (C(oid), C(what), C(msg)), as in
          M(ocsp.stapling.ocsp_responder_info). Keys that could not be read are V(null).
      type: dict
      returned: always
      sample: {"subject": "CN=www.example.org", "serial": "03A1", "fingerprint_sha256": "AB:CD:...",
               "not_after": "2027-01-01T00:00:00Z", "ocsp_uris": ["http://ocsp.example.org/"], "sans": ["www.example.org"],
               "warnings": []}
    tls:
      description: Per TLS version (C(1.3), C(1.2)) C(supported), C(stapled), C(valid), C(handshakes), C(errors), and C(der)
        with O(return_der=true).
      type: dict
      returned: always
      sample: {"1.3": {"supported": true, "stapled": true, "valid": true, "handshakes": 1, "errors": []}}
summary:
  description: Counts over all targets.
  returned: always
  type: dict
  contains:
    targets:
      description: Number of targets.
      type: int
      returned: always
      sample: 3
    stapled:
      description: Targets with a staple.
      type: int
      returned: always
      sample: 3
    valid:
      description: Targets with a valid staple.
      type: int
      returned: always
      sample: 2
    invalid:
      description: Targets without a valid staple.
      type: int
      returned: always
      sample: 1
    must_staple_unsatisfied:
      description: Must-staple targets without a valid staple.
      type: int
      returned: always
      sample: 0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ocsp.stapling.plugins.module_utils._deps import require_cryptography, require_pyopenssl
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._staple import check_targets, load_ca_file


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="list", elements="dict", required=True, options=dict(
                host=dict(type="str", required=True),
                port=dict(type="int", default=443),
                sni=dict(type="str"),
            )),
            ca_file=dict(type="path"),
            attempts=dict(type="int", default=3),
            delay=dict(type="float", default=0.2),
            timeout=dict(type="float", default=10),
            require=dict(type="bool", default=True),
            tls_versions=dict(type="list", elements="str", choices=["1.2", "1.3"], default=["1.3", "1.2"]),
            concurrency=dict(type="int", default=16),
            return_der=dict(type="bool", default=False),
            skew=dict(type="int", default=300),
            max_age=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    require_cryptography(module)
    require_pyopenssl(module)
    p = module.params
    for name in ("attempts", "concurrency"):
        if p[name] < 1:
            module.fail_json(msg="{0} must be at least 1, got {1}".format(name, p[name]))
    if p["timeout"] <= 0 or p["delay"] < 0:
        module.fail_json(msg="timeout must be positive and delay not negative (got timeout={0}, delay={1})".format(
            p["timeout"], p["delay"]))
    targets = [{"host": t["host"], "port": t["port"], "sni": t["sni"] or t["host"]} for t in p["targets"]]
    try:
        ca_certs = load_ca_file(p["ca_file"])
    except StaplingError as exc:
        module.fail_json(msg=exc.msg)
    results = check_targets(targets, concurrency=p["concurrency"], ca_certs=ca_certs, tls_versions=p["tls_versions"],
                            attempts=p["attempts"], delay=p["delay"], timeout=p["timeout"], skew=p["skew"],
                            max_age=p["max_age"], return_der=p["return_der"])
    unsatisfied = [r for r in results if any(e["code"] == "must_staple_unsatisfied" for e in r["errors"])]
    summary = {
        "targets": len(results),
        "stapled": sum(1 for r in results if r["stapled"]),
        "valid": sum(1 for r in results if r["valid"]),
        "invalid": sum(1 for r in results if not r["valid"]),
        "must_staple_unsatisfied": len(unsatisfied),
    }
    bad = [r for r in results if not r["valid"]] if p["require"] else unsatisfied
    if bad:
        module.fail_json(
            msg="{0} of {1} targets do not staple a valid OCSP response: {2}".format(
                len(bad), len(results), "; ".join("{0}:{1} (SNI {2}): {3}".format(
                    r["host"], r["port"], r["sni"], ", ".join(sorted(set(e["code"] for e in r["errors"]))) or "invalid")
                    for r in bad)),
            results=results, summary=summary)
    module.exit_json(changed=False, results=results, summary=summary)


if __name__ == "__main__":
    main()
