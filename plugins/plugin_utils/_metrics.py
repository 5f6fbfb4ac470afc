# -*- coding: utf-8 -*-
# Copyright: ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private: not part of the collection's public API.
"""A verify run (its JSON summary) as Prometheus text exposition for node_exporter's textfile collector, with the
metric names the ssl_exporter project uses for stapled OCSP responses, and the atomic write of such a file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.ocsp.stapling.plugins.plugin_utils._outcome import GOOD, decide, epoch

# ssl_exporter's numbering of the certificate status in an OCSP response
STATUS_NUMBER = {"good": 0, "revoked": 1, "unknown": 2}

# name -> help; every family is a gauge
FAMILIES = (
    ("ssl_ocsp_response_stapled", "Does the TLS handshake carry a stapled OCSP response? Boolean."),
    ("ssl_ocsp_response_status", "The status in the stapled OCSP response. 0=Good 1=Revoked 2=Unknown."),
    ("ssl_ocsp_response_produced_at", "The producedAt value in the stapled OCSP response. Expressed as a Unix Epoch "
                                      "Time."),
    ("ssl_ocsp_response_this_update", "The thisUpdate value in the stapled OCSP response. Expressed as a Unix Epoch "
                                      "Time."),
    ("ssl_ocsp_response_next_update", "The nextUpdate value in the stapled OCSP response. Expressed as a Unix Epoch "
                                      "Time."),
    ("ocsp_stapling_staple_valid", "Whether the stapled response verified (signature by the issuer or its "
                                   "authorized delegate, CertID of the served certificate, time window, status "
                                   "good). Boolean."),
    ("ocsp_stapling_verify_success", "Whether the host's verification succeeded (ocsp.stapling.verify outcome ok). "
                                     "Boolean."),
    ("ocsp_stapling_verify_last_run_timestamp_seconds", "When the verify run that wrote this file started. Expressed "
                                                        "as a Unix Epoch Time."),
)
LABEL_MAX = 255


def _label(value):
    text = "" if value is None else (value if isinstance(value, str) else str(value))
    if len(text) > LABEL_MAX:
        text = text[:LABEL_MAX - 1] + u"\u2026"
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\"", "\\\"")


def _labels(pairs):
    return "{" + ",".join('{0}="{1}"'.format(k, _label(v)) for k, v in pairs) + "}"


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def exposition(summary):
    """The text exposition of a JSON summary (``ocsp.stapling/report/1``): per verified vhost (a target the run made
    a handshake with) one series of ``ssl_ocsp_response_stapled`` and ``ocsp_stapling_staple_valid``, and, when a
    response was stapled, of its status and times; per host ``ocsp_stapling_verify_success``; the run's start. Labels:
    ``host`` (inventory name), ``vhost`` (the SNI / ServerName), ``address`` (where the handshake went), ``serial``
    (the served certificate's, hex). A label set met twice (names cut to 255 characters) is written once."""
    series = dict((name, []) for name, _help in FAMILIES)
    seen = set()
    hosts = summary.get("hosts") or {}
    for name in sorted(hosts, key=str):
        h = hosts[name] if isinstance(hosts[name], dict) else {}
        outcome = h.get("outcome") or decide(h)[0]
        series["ocsp_stapling_verify_success"].append((_labels([("host", name)]), outcome in GOOD))
        for v in h.get("vhosts") or []:
            if not isinstance(v, dict):
                continue
            staple = v.get("staple") or {}
            if not staple.get("checked"):
                continue
            labels = _labels([("host", name), ("vhost", v.get("server_name")),
                              ("address", (v.get("addresses") or [""])[0]),
                              ("serial", (v.get("certificate") or {}).get("serial"))])
            if labels in seen:
                continue
            seen.add(labels)
            series["ssl_ocsp_response_stapled"].append((labels, bool(staple.get("present"))))
            series["ocsp_stapling_staple_valid"].append((labels, bool(staple.get("valid"))))
            if not staple.get("present"):
                continue
            if staple.get("cert_status") in STATUS_NUMBER:
                series["ssl_ocsp_response_status"].append((labels, STATUS_NUMBER[staple["cert_status"]]))
            for family, key in (("ssl_ocsp_response_produced_at", "produced_at"),
                                ("ssl_ocsp_response_this_update", "this_update"),
                                ("ssl_ocsp_response_next_update", "next_update")):
                when = epoch(staple.get(key))
                if when is not None:
                    series[family].append((labels, when))
    started = epoch(summary.get("generated"))
    if started is not None:
        series["ocsp_stapling_verify_last_run_timestamp_seconds"].append(("", started))
    lines = []
    for family, help_text in FAMILIES:
        if not series[family]:
            continue
        lines.append("# HELP {0} {1}".format(family, help_text))
        lines.append("# TYPE {0} gauge".format(family))
        for labels, value in series[family]:
            lines.append("{0}{1} {2}".format(family, labels, _number(value)))
    return "\n".join(lines) + "\n", sum(len(s) for s in series.values())


def write_atomic(path, text, mode=0o644):
    """Both actions' one write (the metrics file; the summary, page and Markdown of ``stapling_summary``).
    Write ``text`` to ``path`` so that a reader sees the old file or the new one, never a part: a temporary file
    in the same directory whose name does not end in .prom (node_exporter reads only *.prom), made with mkstemp
    (O_EXCL: never a file someone planted), written, synced, given its mode, renamed over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".{0}.".format(os.path.basename(path)), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
