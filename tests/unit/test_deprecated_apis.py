"""The collection uses nothing the supported ansible-core lines deprecate or removed (2.20, 2.21 and 2.22 changelogs).

The integration runner catches what a line warns about at run time (tests/integration/ansible_runner.py); this test
reads the source, so every line's unit stage also catches what only a newer line warns about, and what no line
warns about before removing it:

- ``ansible.module_utils.six`` (deprecated in 2.21, a runtime warning from 2.22, removed in 2.24): the standard
  library instead (the controller is Python 3; modules run on managed-node Python 3.9+);
- ``get_bin_path(..., required=...)`` (removed in 2.21);
- names removed from or deprecated in ``ansible.module_utils.basic`` (2.21: ``get_platform``,
  ``load_platform_subclass``, ``get_all_subclasses``, the re-exported ``datetime``, ``signal``, ``types``, ``chain``,
  ``repeat``, ``map``, ``shlex_quote``; 2.22: ``heuristic_log_sanitize``), ``remove_values``/``sanitize_keys`` of
  ``ansible.module_utils.common.parameters`` (2.22), ``ansible.module_utils.compat.datetime`` and
  ``compat.paramiko`` (removed in 2.21), ``safe_eval`` (removed in 2.21), ``AnsibleActionSkip`` (2.22);
- a ``skipped`` key in what a module returns (deprecated in 2.22: task conditionals decide that);
- facts read as injected variables (``ansible_os_family`` for ``ansible_facts['os_family']``; INJECT_FACTS_AS_VARS
  is deprecated in 2.20 and its default becomes False in 2.24) in the roles and playbooks;
- the ``VALUE_SPECIFIED_IN_NO_LOG_PARAMETER`` placeholder (2.22 masks ``no_log`` values as ``$REDACTED$`` instead).
"""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BASIC_GONE = {"get_platform", "load_platform_subclass", "get_all_subclasses", "datetime", "signal", "types", "chain",
              "repeat", "map", "shlex_quote", "heuristic_log_sanitize"}
MODULES_GONE = {"ansible.module_utils.six", "ansible.module_utils.compat.datetime",
                "ansible.module_utils.compat.paramiko"}
NAMES_GONE = {"ansible.module_utils.common.parameters": {"remove_values", "sanitize_keys"},
              "ansible.module_utils.common.validation": {"safe_eval"},
              "ansible.errors": {"AnsibleActionSkip"}}
# Facts as injected variables (a fact is ansible_facts['x']); magic variables such as ansible_check_mode are fine.
INJECTED_FACT = re.compile(r"\bansible_(os_family|distribution\w*|hostname|fqdn|nodename|domain|default_ipv[46]|"
                           r"all_ipv[46]_addresses|interfaces|python(_version)?|pkg_mgr|service_mgr|system\w*|"
                           r"architecture|machine|kernel\w*|env|lsb|date_time|processor\w*|memtotal_mb|selinux\w*|"
                           r"apparmor|virtualization_\w+|user_\w+|mounts|dns|local)\b")


def python_files():
    for top in ("plugins",):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(dirpath, name)


def yaml_files():
    for top in ("roles", "playbooks"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith((".yml", ".yaml", ".j2")):
                    yield os.path.join(dirpath, name)


def rel(path):
    return os.path.relpath(path, ROOT)


def deprecated_uses(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        where = "{0}:{1}".format(rel(path), getattr(node, "lineno", "?"))
        if isinstance(node, ast.Import):
            for alias in node.names:
                if any(alias.name == m or alias.name.startswith(m + ".") for m in MODULES_GONE):
                    found.append("{0}: import {1}".format(where, alias.name))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if any(node.module == m or node.module.startswith(m + ".") for m in MODULES_GONE):
                found.append("{0}: from {1} import ...".format(where, node.module))
            names = {a.name for a in node.names}
            if node.module == "ansible.module_utils.basic" and names & BASIC_GONE:
                found.append("{0}: from ansible.module_utils.basic import {1}".format(
                    where, ", ".join(sorted(names & BASIC_GONE))))
            gone = NAMES_GONE.get(node.module, set()) & names
            if gone:
                found.append("{0}: from {1} import {2}".format(where, node.module, ", ".join(sorted(gone))))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            keywords = {k.arg for k in node.keywords}
            if name == "get_bin_path" and "required" in keywords:
                found.append("{0}: get_bin_path(required=...)".format(where))
            if name in ("exit_json", "fail_json") and "skipped" in keywords:
                found.append("{0}: {1}(skipped=...)".format(where, name))
        elif isinstance(node, ast.Constant) and node.value == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER":
            found.append("{0}: the no_log placeholder of ansible-core before 2.22".format(where))
    return found


@pytest.mark.parametrize("path", sorted(python_files()), ids=rel)
def test_plugin_uses_no_deprecated_ansible_api(path):
    assert deprecated_uses(path) == []


@pytest.mark.parametrize("path", sorted(yaml_files()), ids=rel)
def test_role_and_playbook_read_facts_from_ansible_facts(path):
    with open(path) as f:
        hits = ["{0}:{1}: {2}".format(rel(path), n, m.group(0)) for n, line in enumerate(f, 1)
                for m in INJECTED_FACT.finditer(line) if not line.lstrip().startswith("#")]
    assert hits == []


def test_the_checks_find_what_they_look_for(tmp_path):
    """The oracle can fail: a file with each deprecated use is reported once per use."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from ansible.module_utils.six import string_types\n"
        "import ansible.module_utils.six.moves.urllib.parse\n"
        "from ansible.module_utils.basic import AnsibleModule, get_platform\n"
        "from ansible.module_utils.common.parameters import remove_values\n"
        "from ansible.errors import AnsibleActionSkip\n"
        "module.get_bin_path('apache2', required=True)\n"
        "module.exit_json(changed=False, skipped=True)\n"
        "x = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'\n")
    found = deprecated_uses(str(bad))
    assert [f.split(": ", 1)[0].rsplit(":", 1)[1] for f in found] == [str(n) for n in range(1, 9)], found
    assert INJECTED_FACT.search("when: ansible_os_family == 'Debian'")
    assert not INJECTED_FACT.search("when: ansible_check_mode and ansible_facts['os_family'] == 'Debian'")
