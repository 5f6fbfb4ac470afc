"""apache_info on files that broke other tools, each in its own copy of the lab's Apache sandbox, judged by Apache.

The oracle is the real binary: ``apache2ctl -t -D DUMP_VHOSTS -D DUMP_CONFIG`` on the same sandbox (its verdict, its
vhost list, mod_info's configuration tree for their order, its message when it refuses); no vhost list is typed into
these tests. Every case runs as a task of one
ansible-playbook run (one sandbox per case), so the module runs exactly as a playbook runs it.
"""

import json
import os

import pytest

from lab import ApacheSandbox
from lab.config_fuzz import apache_vhost_order, ours, ours_in_order, same_vhosts, theirs

VHOST = ("<VirtualHost 127.0.0.1:8443>\n    ServerName {name}\n    SSLEngine on\n    SSLCertificateFile {cert}\n"
         "    SSLCertificateKeyFile {key}\n</VirtualHost>")


def vhost(name):
    return VHOST.replace("{name}", name)


# case id -> text of sites-enabled/case.conf ({cert} {key} filled in); the cases of issue 17, and case 3 container by
# container. Whether Apache accepts each is Apache's to say; a few are known refusals, kept to prove the module
# then reports Apache's refusal rather than failing or inventing vhosts.
CASES = {
    # 1. an unterminated quote: Apache takes the word to the end of the line
    "1-unterminated-quote": vhost("quote.lab.test").replace(
        "</VirtualHost>", '    SSLCipherSuite "EECDH+ECDSA+AESGCM EECDH+aRSA+AES\n</VirtualHost>'),
    # 2. a close tag and another on one line, as the file's last line
    "2-close-tags-on-one-line": "<IfModule ssl_module>\n" + vhost("pair.lab.test").replace(
        "</VirtualHost>", "</VirtualHost> </IfModule>"),
    "2-vhost-close-then-words": vhost("words.lab.test").replace("</VirtualHost>", "</VirtualHost> trailing words"),
    "2-directory-close-then-words": "<Directory /srv/x>\n    Require all granted\n</Directory> junk\n" +
                                    vhost("dirwords.lab.test"),
    "2-ifmodule-close-then-words": "<IfModule ssl_module>\n" + vhost("ifwords.lab.test") + "\n</IfModule> junk\n",
    "2-vhost-close-glued": vhost("glued.lab.test").replace("</VirtualHost>", "</VirtualHost>junk"),
    # 3. containers left open at the end of the file, one by one
    "3-open-ifmodule-loaded": "<IfModule ssl_module>\n" + vhost("ifmod.lab.test"),
    "3-open-ifmodule-not-missing": "<IfModule !nope_module>\n" + vhost("ifnotmod.lab.test"),
    "3-open-ifdefine-not-undefined": "<IfDefine !UNDEFINED>\n" + vhost("ifdef.lab.test"),
    "3-open-ifversion-holds": "<IfVersion >= 2.4>\n" + vhost("ifver.lab.test"),
    "3-open-iffile-exists": "<IfFile apache2.conf>\n" + vhost("iffile.lab.test"),
    "3-open-ifmodule-not-loaded": "<IfModule nope_module>\n" + vhost("nomod.lab.test"),
    "3-open-ifdefine-undefined": "<IfDefine UNDEFINED>\n" + vhost("nodef.lab.test"),
    "3-open-ifversion-fails": "<IfVersion < 2.4>\n" + vhost("nover.lab.test"),
    "3-open-iffile-missing": "<IfFile nothere.conf>\n" + vhost("nofile.lab.test"),
    "3-open-virtualhost": vhost("openvh.lab.test").replace("</VirtualHost>", ""),
    "3-open-directory": vhost("opendir.lab.test") + "\n<Directory /srv/x>\n    Require all granted\n",
    "3-open-location": vhost("openloc.lab.test") + "\n<Location /x>\n    Require all granted\n",
    "3-open-vhost-inside-ifmodule": "<IfModule ssl_module>\n" + vhost("inner.lab.test").replace("</VirtualHost>", ""),
    # 4. section headers continued over several lines, as hosting panels write them
    "4-multi-line-headers": "\n".join(
        "# panel-generated\n<VirtualHost \\\n    127.0.0.1:8443 \\\n    127.0.0.1:9443 \\\n>\n"
        "    ServerName panel{0}.lab.test\n    SSLEngine on\n    SSLCertificateFile {1}\n"
        "    SSLCertificateKeyFile {2}\n</VirtualHost>\n".format(i, "{cert}", "{key}") for i in range(4)),
    # 5. mod_macro, with Define'd variables inside the macro and ${VAR} in section headers
    "5-macro": ("Define LAB_ADDR 127.0.0.1\n"
                "<Macro Vhost $host %port @dir>\n"
                "    Define docroot_$host @dir\n"
                "    <VirtualHost ${LAB_ADDR}:%port>\n"
                "        ServerName $host\n"
                "        ServerAlias www.$host\n"
                "        DocumentRoot ${docroot_$host}\n"
                "        SSLEngine on\n"
                "        SSLCertificateFile {cert}\n"
                "        SSLCertificateKeyFile {key}\n"
                "    </VirtualHost>\n"
                "</Macro>\n"
                "<Macro Pair $name>\n"
                "    Use Vhost $name 8443 /var/www/pair\n"
                "    Use Vhost tls.$name 9443 /var/www/pair\n"
                "</Macro>\n"
                "Use Vhost example.org 8443 /var/www/example\n"
                "Use Vhost example.net 9443 /var/www/example.net\n"
                "Use Pair example.com\n"
                "UndefMacro Pair\n"),
    "5-macro-wrong-argument-count": "<Macro Vhost $host $port>\n" + vhost("$host") + "\n</Macro>\nUse Vhost a.lab.test\n",
    "5-macro-uses-itself": "<Macro Loop $n>\n    Use Loop $n\n</Macro>\nUse Loop x\n",
    # bad input: a clear reading or a clear error, never a traceback
    "bad-10mb-line": vhost("big.lab.test").replace(
        "</VirtualHost>", '    Header set X-Big "' + "b" * (10 * 1024 * 1024) + '"\n</VirtualHost>'),
    "bad-binary-garbage": bytes(bytearray((i * 7919 + 13) % 256 for i in range(64 * 1024))),
    "bad-include-loop": "Include sites-enabled/case.conf\n" + vhost("loop.lab.test"),
}


@pytest.fixture(scope="module")
def judged(tmp_path_factory, lab):
    """Every case in its own sandbox, apache_info on all of them in one playbook, Apache's verdict on each."""
    work = str(tmp_path_factory.mktemp("cases"))
    pki = lab.pki.certs
    sandboxes = {}
    for case, text in CASES.items():
        s = ApacheSandbox(work, name=case)
        s.enable_module("macro")
        s.enable_module("info")  # -D DUMP_CONFIG: the configuration tree in Apache's order
        if isinstance(text, bytes):
            with open(os.path.join(s.confdir, "sites-enabled/case.conf"), "wb") as f:
                f.write(text)
        else:
            s.write_conf("sites-enabled/case.conf", text.replace("{cert}", pki["good"].cert_path)
                         .replace("{key}", pki["good"].key_path))
        sandboxes[case] = s
    tasks = [{"name": case, "ocsp.stapling.apache_info": {"server_root": s.confdir}, "ignore_errors": True}
             for case, s in sandboxes.items()]
    from ansible_runner import run_playbook
    rc, results, output = run_playbook(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    by_task = dict((r["task"], r["result"]) for r in results)
    assert set(by_task) == set(CASES), output[-3000:]
    verdicts = {}
    for case, s in sandboxes.items():
        proc = s.ctl("-t", "-D", "DUMP_VHOSTS", "-D", "DUMP_CONFIG")
        verdicts[case] = (proc.returncode == 0, proc.stdout, by_task[case], s)
    return verdicts


@pytest.mark.parametrize("case", sorted(CASES))
def test_read_as_apache_reads_it(judged, case):
    accepted, output, result, sandbox = judged[case]
    assert not result.get("failed"), result.get("msg")
    assert "Traceback" not in json.dumps(result)
    codes = [p["code"] for p in result["problems"]]
    if accepted:
        # Apache's vhost list (address, name, file, editor's line, macro) is the module's, and the module's own
        # cross-check with DUMP_VHOSTS finds nothing to report
        want, got = theirs(output), ours(result)
        assert want, output
        assert same_vhosts(want, got), "apache: {0}\nmodule: {1}".format(want, got)
        assert apache_vhost_order(output) == ours_in_order(result)  # and in the order Apache builds them
        assert result["cross_check"]["disagreements"] == 0, result["problems"]
        assert not [c for c in codes if c.startswith("vhost_") or c in ("configtest_failed", "config_unreadable")]
    else:
        # Apache's own message (its "Syntax error ..." line, file and line) is the module's verdict
        refused = [p["msg"] for p in result["problems"] if p["code"] == "configtest_failed"]
        assert refused, result["problems"]
        said = [line.strip() for line in output.splitlines() if "rror" in line][0]
        assert said[:200] in refused[0], (said, refused[0])
        assert result["vhosts"] == [] or "config_unreadable" not in codes


def test_the_lines_and_macros_reported(judged):
    """What the operator (and apache_stapling_config's plan) sees: a vhost's line is where its <VirtualHost> starts;
    a macro's vhost is at its Use line, naming the macro's definition."""
    accepted, output, result, sandbox = judged["4-multi-line-headers"]
    path = os.path.join(sandbox.confdir, "sites-enabled/case.conf")
    with open(path) as f:
        starts = [i for i, text in enumerate(f.read().split("\n"), 1) if text.startswith("<VirtualHost")]
    assert [v["line"] for v in result["vhosts"]] == starts and len(starts) == 4
    accepted, output, result, sandbox = judged["5-macro"]
    path = os.path.join(sandbox.confdir, "sites-enabled/case.conf")
    made = [(v["server_name"], v["addresses"], v["line"], v["macro"]["name"], v["macro"]["line"])
            for v in result["vhosts"]]
    assert made == [("example.org", ["127.0.0.1:8443"], 17, "vhost", 2),
                    ("example.net", ["127.0.0.1:9443"], 18, "vhost", 2),
                    ("example.com", ["127.0.0.1:8443"], 19, "vhost", 2),
                    ("tls.example.com", ["127.0.0.1:9443"], 19, "vhost", 2)]
    assert all(v["file"] == path and v["macro"]["file"] == path for v in result["vhosts"])
    assert result["vhosts"][0]["server_aliases"] == ["www.example.org"]


@pytest.mark.parametrize("case, fragment", [
    ("bad-include-loop", "include loop"),
    ("5-macro-uses-itself", "recursive use of macro 'loop' is invalid"),
    ("5-macro-wrong-argument-count", "used with 1 arguments instead of 2"),
    ("3-open-virtualhost", "<VirtualHost> was not closed"),
    ("3-open-ifmodule-not-loaded", "<IfModule> is not in force and never closed"),
])
def test_where_apache_refuses_the_reading_says_why_too(judged, case, fragment):
    """Beside Apache's message, the module says where its own reading stopped (file:line), in words."""
    accepted, output, result, sandbox = judged[case]
    assert not accepted
    unreadable = [p["msg"] for p in result["problems"] if p["code"] == "config_unreadable"]
    assert unreadable and fragment in unreadable[0], result["problems"]
    assert os.path.join(sandbox.confdir, "sites-enabled/case.conf") in unreadable[0]
