"""ocsp.stapling.apache_stapling_info through ansible-playbook on the lab: one module execution returns what
apache_info and ocsp_responder_info return, and on a node Python without cryptography still reads Apache and names
the missing libraries; apache_stapling_config and apache_reload take its facts instead of reading Apache again."""

import json
import os
import subprocess
import sys

import pytest

import ansible_runner

VOLATILE = ("changed", "warnings", "failed", "invocation", "deprecations", "_output", "created_dirs")


def strip(result):
    out = dict((k, v) for k, v in result.items() if k not in VOLATILE)
    out["layout"] = dict((k, v) for k, v in out["layout"].items() if k != "created_dirs")
    return out


@pytest.mark.core_matrix
def test_one_execution_is_apache_info_and_ocsp_responder_info(run_module, lab, tmp_path):
    root = lab.apache.confdir
    journal = str(tmp_path / "journal")
    both = run_module("ocsp.stapling.apache_stapling_info", {"server_root": root, "journal_dir": journal})
    assert not both["failed"], both["_output"]
    apache = run_module("ocsp.stapling.apache_info", {"server_root": root, "journal_dir": journal})
    tls = [v for v in apache["vhosts"] if v["tls"]]
    certs = run_module("ocsp.stapling.ocsp_responder_info", {"vhosts": tls, "fail_on_error": False})
    for key in ("apache", "openssl", "capabilities", "layout", "global_stapling", "vhosts", "problems", "files_read",
                "preflight", "cross_check"):
        assert strip(both)[key] == strip(apache)[key], key
    for key in ("certificates", "endpoints", "libraries"):
        assert both[key] == certs[key], key
    assert both["libraries"]["cryptography"]["ok"] and both["libraries"]["os_family"] == "Debian"
    assert len(both["certificates"]) == len(tls) and both["endpoints"]


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A node Python without cryptography and pyOpenSSL (a venv without the system's site packages)."""
    path = str(tmp_path_factory.mktemp("bare") / "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    return os.path.join(path, "bin", "python")


def test_without_cryptography_apache_is_read_and_the_gap_named(lab, bare_python):
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {"ansible_python_interpreter": bare_python},
             "tasks": [{"name": "read", "ocsp.stapling.apache_stapling_info": {"server_root": lab.apache.confdir}}]}]
    rc, results, out = ansible_runner.run_playbook(json.dumps(play))
    assert rc == 0, out[-3000:]
    result = [r for r in results if r["task"] == "read"][0]["result"]
    assert result["libraries"]["cryptography"]["found"] is False and result["libraries"]["pyOpenSSL"]["ok"] is False
    assert result["certificates"] == [] and result["endpoints"] == []
    assert result["vhosts"] and result["apache"]["version"]  # Apache read all the same


def test_the_config_module_takes_the_facts_it_is_given(run_module, lab, tmp_path):
    """With apache_facts the module does not read Apache again: facts that say the configtest already fails refuse
    the change although Apache accepts its configuration now, and facts of another instance are refused."""
    root = lab.apache.confdir
    facts = run_module("ocsp.stapling.apache_stapling_info", {"server_root": root})
    assert not facts["failed"], facts["_output"]
    told = dict(facts, problems=[{"code": "configtest_failed", "severity": "error", "file": None, "line": None,
                                  "msg": "Apache rejects the configuration: AH00526 (as the facts say)"}])
    args = {"server_root": root, "journal_dir": str(tmp_path / "journal"), "apache_facts": told}
    refused = run_module("ocsp.stapling.apache_stapling_config", args, check=True)
    assert refused["failed"] and "as the facts say" in refused["msg"], refused["msg"]
    other = dict(args, apache_facts=dict(facts, layout=dict(facts["layout"], server_root=str(tmp_path))))
    foreign = run_module("ocsp.stapling.apache_stapling_config", other, check=True)
    assert foreign["failed"] and "of another Apache instance" in foreign["msg"], foreign["msg"]
    reloaded = run_module("ocsp.stapling.apache_reload", {"server_root": root, "apache_facts": told, "needed": "none",
                                                          "checks": []}, check=True)
    assert not reloaded["failed"] and reloaded["mode"] == "none", reloaded["_output"]
