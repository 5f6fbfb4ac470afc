"""ocsp.stapling.apache_info through ansible-playbook, against Debian's real apache2 in a sandbox."""

import re

import pytest

from lab import STAPLING_GLOBAL
from lab.procs import free_port

MODULE = "ocsp.stapling.apache_info"


def build(apache_sandbox, lab):
    pki = lab.pki.certs
    s = apache_sandbox
    s.set_global(STAPLING_GLOBAL)
    shared = free_port()
    s.add_vhost("good", pki["good"].cert_path, pki["good"].key_path, chain_path=pki["good"].chain_path,
                port=shared, server_name="good.lab.test", aliases=("www.good.lab.test",),
                directives=["SSLUseStapling on"])
    s.add_vhost("nochain", pki["no_uri"].fullchain_path, pki["no_uri"].key_path, port=shared,
                server_name="nochain.lab.test", directives=["SSLUseStapling off"])
    s.add_vhost("inherits", pki["revoked"].cert_path, pki["revoked"].key_path, ca_path=lab.pki.ca_bundle_path,
                server_name="inherits.lab.test")
    s.set_global(STAPLING_GLOBAL + "SSLUseStapling on\n", name="zz-lab-stapling")
    v6 = free_port()
    s.write_conf("sites-enabled/v6.conf", "Listen [::1]:{0}\n<VirtualHost [::1]:{0}>\n  ServerName v6.lab.test\n"
                 "  SSLEngine on\n  SSLCertificateFile {1}\n  SSLCertificateKeyFile {2}\n"
                 "  SSLCertificateChainFile {3}\n</VirtualHost>\n".format(
                     v6, pki["must_staple"].cert_path, pki["must_staple"].key_path, pki["must_staple"].chain_path))
    star = free_port()
    s.ports.add(star)
    s.write_conf("sites-enabled/star.conf", "<VirtualHost *:{0}>\n  ServerName star.lab.test\n</VirtualHost>\n".format(star))
    s._write_ports()
    return shared, v6, star


@pytest.mark.core_matrix
def test_reports_the_sandbox_as_apache_sees_it(run_module, apache_sandbox, lab):
    shared, v6, star = build(apache_sandbox, lab)
    ok, out = apache_sandbox.configtest()
    assert ok, out
    apache_sandbox.start()
    result = run_module(MODULE, {"server_root": apache_sandbox.confdir}, check=True)
    assert not result["failed"], result["_output"]
    assert result["changed"] is False
    # Versions: the binary's, and mod_ssl's OpenSSL as Apache itself announces it (AH00489). The line lists every
    # module that announces itself, in load order ("... OpenSSL/3.0.19 mod_wsgi/4.9.4 Python/3.11 configured" where the
    # machine's own Apache has mod_wsgi enabled, which the sandbox copies): read the words, not their positions.
    announced = re.search(r"AH00489: (.*) configured", apache_sandbox.log_text()).group(1)
    assert result["apache"]["version"] == re.search(r"\bApache/(\d+\.\d+\.\d+)", announced).group(1)
    assert result["openssl"]["mod_ssl_version"] == re.search(r"\bOpenSSL/(\S+)", announced).group(1), result["openssl"]
    assert result["apache"]["mpm"] == "event" and result["apache"]["ssl_module"] and result["apache"]["socache_shmcb_module"]
    assert result["capabilities"]["mod_ssl_stapling"]["ok"] is True
    layout = result["layout"]
    assert layout["family"] == "debian" and layout["run_dir"] == apache_sandbox.run_dir
    assert layout["global_snippet_enable"] == "a2enconf" and layout["service"] == "apache2"
    # Every vhost, with what it serves and the stapling in force.
    by_name = {v["server_name"]: v for v in result["vhosts"]}
    assert sorted(by_name) == ["good.lab.test", "inherits.lab.test", "nochain.lab.test", "star.lab.test", "v6.lab.test"]
    good = by_name["good.lab.test"]
    assert good["addresses"] == ["127.0.0.1:{0}".format(shared)] and good["server_aliases"] == ["www.good.lab.test"]
    assert good["certificate_chain_file"] == lab.pki.certs["good"].chain_path and good["tls"]
    assert good["key_file"] == lab.pki.certs["good"].key_path
    assert by_name["v6.lab.test"]["addresses"] == ["[::1]:{0}".format(v6)]
    assert by_name["star.lab.test"]["tls"] is False and by_name["star.lab.test"]["addresses"] == ["*:{0}".format(star)]
    assert by_name["inherits.lab.test"]["ca_certificate_file"] == lab.pki.ca_bundle_path
    enabled = {n: v["stapling"]["enabled"] for n, v in by_name.items()}
    assert enabled == {"good.lab.test": True, "nochain.lab.test": False, "inherits.lab.test": True,
                       "star.lab.test": False, "v6.lab.test": True}
    inherits = by_name["inherits.lab.test"]["stapling"]
    assert inherits["directives"]["SSLUseStapling"] == "on"
    assert {"SSLUseStapling", "SSLStaplingCache"} <= set(inherits["inherited"])
    assert "SSLUseStapling" not in by_name["good.lab.test"]["stapling"]["inherited"]
    assert result["global_stapling"]["SSLStaplingCache"]["file"].endswith("conf-enabled/zz-lab-stapling.conf")
    # Apache's own dump agrees: nothing missed, nothing invented.
    assert result["problems"] == [], result["problems"]
    assert result["cross_check"] == {"ran": True, "apache_vhosts": 5, "disagreements": 0}
    assert "key material" not in result["_output"] and "PRIVATE KEY" not in result["_output"]


def test_misplaced_cache_and_missing_include(run_module, apache_sandbox, lab):
    pki = lab.pki.certs
    apache_sandbox.add_vhost("bad", pki["good"].cert_path, pki["good"].key_path,
                             directives=["SSLUseStapling on", "SSLStaplingCache shmcb:/tmp/x(32768)"])
    result = run_module(MODULE, {"server_root": apache_sandbox.confdir})
    assert not result["failed"], result["_output"]
    codes = sorted(p["code"] for p in result["problems"])
    assert "cache_in_vhost" in codes and "configtest_failed" in codes, result["problems"]
    assert any("AH00526" in p["msg"] or "not allowed" in p["msg"] for p in result["problems"]
               if p["code"] == "configtest_failed")
    apache_sandbox.write_conf("conf-enabled/zz-include.conf", "Include /nonexistent/ocsp-stapling.conf\n")
    broken = run_module(MODULE, {"server_root": apache_sandbox.confdir})
    # Apache refuses it: its own message is the verdict (configtest_failed); ours says where reading stopped.
    # The facts are still returned (no task failure), and nothing half-read is reported as a vhost.
    assert not broken["failed"], broken["_output"]
    by_code = dict((p["code"], p["msg"]) for p in broken["problems"])
    assert "zz-include.conf" in by_code["configtest_failed"] and "/nonexistent/ocsp-stapling.conf" in \
        by_code["configtest_failed"]
    assert "zz-include.conf:1: Include /nonexistent/ocsp-stapling.conf does not exist" in by_code["config_unreadable"]
    assert broken["vhosts"] == [] and broken["cross_check"]["ran"] is False


def test_binary_missing(run_module):
    result = run_module(MODULE, {"binary": "/nonexistent/apache2ctl"})
    assert result["failed"] and "/nonexistent/apache2ctl does not exist" in result["msg"]


@pytest.mark.core_matrix
def test_facts_flow_into_responder_info(run_playbook, lab):
    """apache_info's vhost list is what ocsp_responder_info takes, unchanged, in one play."""
    play = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: facts
      ocsp.stapling.apache_info:
        server_root: {confdir}
      register: apache_facts
    - name: responders
      ocsp.stapling.ocsp_responder_info:
        vhosts: "{{{{ apache_facts.vhosts }}}}"
        probe: true
""".format(confdir=lab.apache.confdir)
    rc, results, output = run_playbook(play)
    assert rc == 0, output
    responders = [r for r in results if r["task"] == "responders"][0]["result"]
    by_name = {c["vhosts"][0]["server_name"]: c for c in responders["certificates"]}
    # The PKI's vhosts and the stock default-ssl site (no ServerName; Debian's snakeoil certificate, no OCSP URI).
    assert sorted(by_name, key=str) == sorted([t["sni"] for t in lab.vhosts.values()] + [None], key=str)
    assert by_name[None]["has_ocsp_uri"] is False
    assert by_name["good.lab.test"]["probe"]["ok"] is True
    assert by_name["no-uri.lab.test"]["has_ocsp_uri"] is False
    assert sorted(e["port"] for e in responders["endpoints"]) == sorted([lab.openssl.port, lab.fault.port])
