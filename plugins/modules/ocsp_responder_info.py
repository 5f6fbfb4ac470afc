#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ocsp_responder_info
short_description: OCSP facts of deployed certificates, their responders, and an optional real probe
version_added: 1.0.0
description:
  - Reads the certificates Apache serves (given as paths, or as the vhost list that M(ocsp.stapling.apache_info) returns)
    and reports, per certificate, what OCSP stapling depends on. The OCSP responder URIs and CA Issuers URIs from the
    Authority Information Access extension, in order. The responder endpoints (scheme, host, port, path, resolved
    addresses) that firewall egress must allow. Must-staple (TLS Feature C(status_request)). The issuer, found where
    Apache would find it and matched by signature. A stapling verdict with its reason.
  - A certificate without an OCSP URI is a normal, reported state (Let's Encrypt certificates carry none since May 2025),
    not an error.
  - With O(probe=true), sends a real OCSP request from the managed host to each certificate's first responder and
    validates the answer (signature by the issuer or an authorized delegate, CertID, status, time window).
  - The certificate decides where mod_ssl connects. mod_ssl asks only the first OCSP URI of a certificate (or the
    C(SSLStaplingForceURL) in force for the vhost, which replaces it), and only that one destination is resolved,
    probed and returned in RV(endpoints); the other URIs are listed and never asked.
  - A destination that can never be a responder (a link-local address such as C(169.254.169.254), the unspecified
    address, multicast, the IPv4 broadcast), or one outside O(allowed_networks), is refused with its reason (C(refused)
    in RV(certificates[].endpoints)); the certificate is then not stapleable and nothing is sent there. Private and
    loopback addresses are allowed (a private CA's responder).
  - One unreadable certificate never hides the others' results; the task fails after reporting all of them unless
    O(fail_on_error=false).
  - The stapling facts are read as OpenSSL (and so mod_ssl) reads them. The AIA and TLS Feature extensions are read
    each on its own, from the certificate's DER when the C(cryptography) library cannot decode the extensions. Another
    extension that does not decode (a malformed SCT list, policy, name constraint) is a RV(certificates[].warnings)
    entry naming its OID, and the verdict still comes.
  - A certificate the C(cryptography) library cannot load at all (a bad time encoding, an explicit default
    C(critical FALSE), NULL signature parameters, an invalid version) is reported with RV(certificates[].error), the
    OCSP URIs and must-staple read from its DER, RV(certificates[].openssl_loads), and RV(certificates[].stapleable=false)
    with the reason that its stapling cannot be checked here.
author:
  - ocsp.stapling developers (@ocsp-stapling)
extends_documentation_fragment:
  - ocsp.stapling._attributes
  - ocsp.stapling._attributes.info_module
requirements:
  - cryptography >= 3.4 on the managed host (Debian/Ubuntu C(python3-cryptography))
options:
  certificates:
    description:
      - Certificates to inspect, each a path or a dictionary.
      - A path names a PEM (or DER) file; further certificates in a PEM file (a full chain) are issuer candidates.
      - A dictionary has C(path) and optionally C(chain_path) and C(ca_path), the files Apache's
        C(SSLCertificateChainFile) and C(SSLCACertificateFile) name, searched for the issuer in that order.
    type: list
    elements: raw
  vhosts:
    description:
      - The C(vhosts) list that M(ocsp.stapling.apache_info) returns. Each vhost with C(tls) true
        and a C(certificate_file) is inspected, with its C(certificate_chain_file) and C(ca_certificate_file).
      - Vhosts serving the same certificate file are inspected once; RV(certificates[].vhosts) lists them.
    type: list
    elements: dict
  probe:
    description:
      - Send a real OCSP request to each certificate's first OCSP URI and return the validated verdict in
        RV(certificates[].probe).
      - Needs the issuer; skipped (with a reason) when it was not found or the URI is not usable.
    type: bool
    default: false
  timeout:
    description:
      - Seconds the whole probe of one certificate may take (connect, send and read under one deadline, not per read).
    type: float
    default: 5
  proxy:
    description:
      - HTTP proxy for the probe, C(http://host:port), as Apache's C(SSLOCSPProxyURL).
      - Without it no proxy is used; proxy environment variables are ignored, as Apache ignores them.
      - It may carry credentials (C(http://user:password@proxy:3128/)); the value is not logged.
    type: str
  resolve:
    description: Resolve responder host names to IPv4 and IPv6 addresses on the managed host.
    type: bool
    default: true
  skew:
    description: Seconds of clock skew allowed when checking a probed response's thisUpdate and nextUpdate.
    type: int
    default: 300
  max_age:
    description: Reject a probed response whose thisUpdate is older than this many seconds.
    type: int
  allowed_networks:
    description:
      - Networks (CIDR, such as V(10.20.0.0/16)) the responders may be in. A destination outside all of them is refused
        (not probed, not an endpoint, the certificate not stapleable), with the reason.
      - Empty (the default) restricts nothing beyond the destinations always refused (see the description).
    type: list
    elements: str
    default: []
    version_added: 1.1.0
  fail_on_error:
    description:
      - Fail the task when a certificate cannot be read or parsed, after reporting every certificate.
      - With V(false) such certificates are reported with RV(certificates[].error) and the task succeeds.
    type: bool
    default: true
notes:
  - Reads files only; changes nothing on the host. A probe sends one HTTP request per certificate.
  - mod_ssl staples only from C(http://) responders; other schemes are reported as not stapleable.
  - Private keys in a PEM bundle are skipped and never returned.
"""

EXAMPLES = r"""
- name: Inspect two certificates
  ocsp.stapling.ocsp_responder_info:
    certificates:
      - /etc/ssl/certs/www.example.org.pem
      - path: /etc/ssl/certs/api.example.org.crt
        chain_path: /etc/ssl/certs/api.example.org.chain.pem
  register: ocsp_facts

- name: Inspect what Apache serves, and ask each responder for real
  ocsp.stapling.ocsp_responder_info:
    vhosts: "{{ apache_facts.vhosts }}"
    probe: true
    timeout: 3
    proxy: http://proxy.example.org:3128
  register: ocsp_facts

- name: Open egress to exactly those responders
  ocsp.stapling.ocsp_egress:
    endpoints: "{{ ocsp_facts.endpoints }}"

- name: Certificates that cannot be stapled, and why
  ansible.builtin.debug:
    msg: "{{ ocsp_facts.certificates | rejectattr('stapleable') | map(attribute='reason') }}"
"""

RETURN = r"""
libraries:
  description:
    - The node's Python and what it has of the libraries the collection needs, C(cryptography) (this module) and
      C(pyOpenSSL) (M(ocsp.stapling.ocsp_staple_info)), each with C(found), C(version), C(minimum), C(path), C(ok) and
      the Debian C(package). Also returned when the module fails for a missing C(cryptography), so a caller learns
      every missing library at once (the role's preflight).
  returned: always
  type: dict
  sample: {"python": "/usr/bin/python3",
           "cryptography": {"found": true, "version": "38.0.4", "minimum": "3.4", "path": "/usr/lib/python3/...",
                            "ok": true, "package": "python3-cryptography"},
           "pyOpenSSL": {"found": false, "version": null, "minimum": "20.0.0", "path": null, "ok": false,
                         "package": "python3-openssl"}}
  version_added: 1.1.0
certificates:
  description: One entry per input certificate (or per distinct certificate file of O(vhosts)), in input order.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The certificate file.
      type: str
      returned: always
      sample: /etc/ssl/certs/www.example.org.pem
    vhosts:
      description: With O(vhosts), the vhosts (C(server_name), C(file), C(line)) serving this certificate.
      type: list
      elements: dict
      returned: when O(vhosts) was given
      sample: [{"server_name": "www.example.org", "file": "/etc/apache2/sites-enabled/www.conf", "line": 1}]
    error:
      description:
        - Why the certificate could not be fully inspected, naming the file; V(null) otherwise.
        - When the file or certificate cannot be read at all, the other keys are absent. When the
          C(cryptography) library cannot load the certificate, or cannot decode its names or validity, the keys hold
          what was read from its DER (RV(certificates[].ocsp_uris), RV(certificates[].must_staple), the serial) and
          RV(certificates[].stapleable) is V(false).
      type: str
      returned: always
      sample: null
    warnings:
      description:
        - Parts of the certificate that could not be read and that stapling does not depend on, each with C(oid) (of
          the extension, or V(null)), C(what) and C(msg). Also an odd certificate in a chain or CA file, skipped as an
          issuer candidate.
      type: list
      elements: dict
      returned: always
      sample: [{"oid": "1.3.6.1.4.1.11129.2.4.2", "what": "extension 1.3.6.1.4.1.11129.2.4.2 (signedCertificateTimestampList)",
                "msg": "cannot be decoded by cryptography (ValueError: Invalid/unsupported hash algorithm for SCT: 238);
                        ignored: stapling does not depend on it"}]
    openssl_loads:
      description:
        - Only for a certificate the C(cryptography) library cannot load. Whether the OpenSSL that pyOpenSSL links on the
          managed host loads it (V(null) without pyOpenSSL). That OpenSSL may be another build than Apache's.
      type: bool
      returned: when the certificate cannot be loaded by cryptography
      sample: true
    subject:
      description: Subject, RFC 4514.
      type: str
      returned: success
      sample: CN=www.example.org
    issuer:
      description: Issuer name, RFC 4514.
      type: str
      returned: success
      sample: CN=Example Intermediate CA,O=Example
    sans:
      description: DNS names and IP addresses of the subjectAltName extension.
      type: list
      elements: str
      returned: success
      sample: [www.example.org, example.org]
    serial:
      description: Serial number, upper-case hex without separators.
      type: str
      returned: success
      sample: 03A1B2C3D4
    fingerprint_sha256:
      description: SHA-256 fingerprint, colon separated.
      type: str
      returned: success
      sample: "AB:CD:..."
    not_before:
      description: Start of validity, ISO 8601 UTC.
      type: str
      returned: success
      sample: "2026-01-01T00:00:00Z"
    not_after:
      description: End of validity, ISO 8601 UTC.
      type: str
      returned: success
      sample: "2026-04-01T00:00:00Z"
    expired:
      description: Whether RV(certificates[].not_after) has passed.
      type: bool
      returned: success
      sample: false
    ocsp_uris:
      description: OCSP responder URIs of the AIA extension, in order.
      type: list
      elements: str
      returned: success
      sample: ["http://ocsp.example.org/"]
    has_ocsp_uri:
      description: Whether there is any OCSP URI. V(false) is a normal state, not an error.
      type: bool
      returned: success
      sample: true
    ca_issuers_uris:
      description: CA Issuers URIs of the AIA extension.
      type: list
      elements: str
      returned: success
      sample: ["http://ca.example.org/intermediate.crt"]
    endpoints:
      description:
        - Each OCSP URI parsed (C(uri), C(scheme), C(host), C(port), C(path), C(addresses), C(resolve_error), C(error)).
        - C(asked) (added in 1.1.0) is V(true) for the one URI mod_ssl asks (the first, unless an C(SSLStaplingForceURL)
          replaces them all); only that one is resolved and probed.
        - C(refused) (added in 1.1.0) says why that destination is refused (a link-local, unspecified, multicast or
          broadcast address, or outside O(allowed_networks)), V(null) otherwise.
      type: list
      elements: dict
      returned: success
      sample: [{"uri": "http://ocsp.example.org/", "scheme": "http", "host": "ocsp.example.org", "port": 80,
                "path": "/", "addresses": ["192.0.2.10"], "resolve_error": null, "error": null, "asked": true,
                "refused": null}]
    force_url:
      description:
        - With O(vhosts), the C(SSLStaplingForceURL) in force for the vhosts of this entry (vhosts serving one certificate
          file with different forced URLs are separate entries). mod_ssl asks it instead of the certificate's URIs.
      type: str
      returned: when a forced URL is in force
      sample: http://ocsp.internal.example/
      version_added: 1.1.0
    force_endpoint:
      description: RV(certificates[].force_url) parsed and judged as an entry of RV(certificates[].endpoints) is.
      type: dict
      returned: when a forced URL is in force
      sample: {"uri": "http://ocsp.internal.example/", "host": "ocsp.internal.example", "port": 80, "asked": true,
               "refused": null}
      version_added: 1.1.0
    must_staple:
      description: Whether the certificate carries the TLS Feature extension asking for C(status_request).
      type: bool
      returned: success
      sample: false
    must_staple_critical:
      description: Whether that extension is marked critical.
      type: bool
      returned: success
      sample: false
    issuer_found:
      description:
        - Whether the issuer certificate was found where Apache looks (rest of the certificate file, chain file, CA file),
          matched by signature.
        - V(false) is what makes mod_ssl log AH02217 and staple nothing. V(null) when the certificate cannot be loaded.
      type: bool
      returned: success
      sample: true
    issuer_source:
      description: Where the issuer was found (C(certificate_file), C(chain_path), C(ca_path)), or V(null).
      type: str
      returned: success
      sample: chain_path
    stapleable:
      description: Whether mod_ssl can staple for this certificate.
      type: bool
      returned: success
      sample: true
    reason:
      description: Why not, when RV(certificates[].stapleable) is false; V(null) otherwise.
      type: str
      returned: success
      sample: the certificate has no OCSP URI
    private_key_in_file:
      description: The certificate file also holds a private key (never returned); consider separating them.
      type: bool
      returned: success
      sample: false
    probe:
      description:
        - With O(probe=true), the verdict of a real request to the first OCSP URI.
        - Keys C(uri), C(method), C(http_status), C(latency_ms), C(ok), C(error) (C(code), C(msg)), and the validator's
          C(valid), C(authentic), C(response_status), C(cert_status), C(revocation_time), C(revocation_reason),
          C(this_update), C(next_update), C(produced_at), C(age), C(signer) (C(issuer) or C(delegated)),
          C(signer_subject), C(errors).
        - Error codes C(unsupported_uri), C(no_issuer), C(connection_refused), C(connection_failed), C(timeout) (the
          whole exchange, connect to last byte, did not finish within O(timeout)), C(not_http) (the peer does not
          speak HTTP), C(incomplete_response) (fewer bytes than its Content-Length), C(response_too_large) (a body over
          1 MiB, refused unread), C(redirect) (a 3xx, not followed, as mod_ssl follows none), C(bad_proxy),
          C(http_status), C(not_ocsp), C(try_later), C(unauthorized), C(malformed_request), C(internal_error),
          C(sig_required), C(signer_not_authorized), C(signature_invalid), C(unsupported_algorithm) (a hash or
          signature algorithm the validator cannot check, its OID named), C(unsupported_critical_extension),
          C(malformed), C(wrong_certificate), C(not_yet_valid), C(expired), C(too_old), C(revoked), C(unknown),
          C(unreadable_certificate) (no probe, the certificate could not be inspected), C(refused_destination) (the
          destination is refused, see RV(certificates[].endpoints); nothing was sent).
      type: dict
      returned: when O(probe=true)
      sample: {"uri": "http://ocsp.example.org/", "method": "GET", "http_status": 200, "latency_ms": 41, "ok": true,
               "valid": true, "cert_status": "good", "signer": "issuer", "error": null}
endpoints:
  description:
    - The responder endpoints of all certificates, one per C(host) and C(port), what C(ocsp.stapling.ocsp_egress) takes.
    - Only where mod_ssl goes - each certificate's first OCSP URI, or the C(SSLStaplingForceURL) in force - and only
      usable (C(http://)) destinations that are not refused.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: Responder host name or address.
      type: str
      returned: always
      sample: ocsp.example.org
    port:
      description: TCP port.
      type: int
      returned: always
      sample: 80
    protocol:
      description: Always C(tcp).
      type: str
      returned: always
      sample: tcp
    uris:
      description: The OCSP URIs served by this endpoint.
      type: list
      elements: str
      returned: always
      sample: ["http://ocsp.example.org/"]
    addresses:
      description: Resolved IPv4 and IPv6 addresses (empty with O(resolve=false) or when resolution failed).
      type: list
      elements: str
      returned: always
      sample: ["192.0.2.10", "2001:db8::10"]
    resolve_error:
      description: Why resolution failed, or V(null).
      type: str
      returned: always
      sample: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ocsp.stapling.plugins.module_utils._deps import libraries, require_cryptography
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from ansible_collections.ocsp.stapling.plugins.module_utils._responder_info import inspect_all, normalize_inputs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            certificates=dict(type="list", elements="raw"),
            vhosts=dict(type="list", elements="dict"),
            probe=dict(type="bool", default=False),
            timeout=dict(type="float", default=5),
            proxy=dict(type="str", no_log=True),
            resolve=dict(type="bool", default=True),
            skew=dict(type="int", default=300),
            max_age=dict(type="int"),
            fail_on_error=dict(type="bool", default=True),
            allowed_networks=dict(type="list", elements="str", default=[]),
        ),
        mutually_exclusive=[("certificates", "vhosts")],
        required_one_of=[("certificates", "vhosts")],
        supports_check_mode=True,
    )
    libs = libraries()
    require_cryptography(module, libraries=libs)
    p = module.params
    try:
        inputs = normalize_inputs(p["certificates"], p["vhosts"])
        certificates, endpoints = inspect_all(
            inputs, probe=p["probe"], timeout=p["timeout"], proxy=p["proxy"], resolve=p["resolve"],
            skew=p["skew"], max_age=p["max_age"], allowed_networks=p["allowed_networks"])
    except StaplingError as exc:
        module.fail_json(msg=exc.msg)
    bad = [c for c in certificates if c["error"]]
    if bad and p["fail_on_error"]:
        module.fail_json(
            msg="{0} of {1} certificates could not be inspected: {2}".format(
                len(bad), len(certificates), "; ".join(c["error"] for c in bad)),
            certificates=certificates, endpoints=endpoints, libraries=libs)
    module.exit_json(changed=False, certificates=certificates, endpoints=endpoints, libraries=libs)


if __name__ == "__main__":
    main()
