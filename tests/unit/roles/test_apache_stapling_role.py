"""The role's interface: meta/argument_specs.yml and defaults/main.yml agree on every variable (names, types,
defaults); every variable the tasks use is declared, named apache_stapling_* (private ones __apache_stapling_*);
every boolean variable reaching a condition goes through '| bool' (-e apache_stapling_egress=false is a string)."""

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, "roles", "apache_stapling")
PYTYPES = {"bool": (bool,), "int": (int,), "float": (float, int), "list": (list,), "dict": (dict,),
           "str": (str,), "path": (str,)}
# Facts the role publishes for playbooks (not inputs).
OUTPUTS = {"apache_stapling_report"}


def load(rel):
    with open(os.path.join(ROLE, rel)) as f:
        return yaml.safe_load(f)


def spec_options():
    return load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]


def task_texts():
    out = {}
    for path in sorted(glob.glob(os.path.join(ROLE, "tasks", "*.yml"))):
        with open(path) as f:
            out[os.path.basename(path)] = f.read()
    return out


def test_same_variables():
    assert set(load("defaults/main.yml")) == set(spec_options())


@pytest.mark.parametrize("name", sorted(spec_options()))
def test_type_and_default_agree(name):
    opt = spec_options()[name]
    default = load("defaults/main.yml")[name]
    assert opt.get("default") == default, "{0}: argument_specs default {1!r} != defaults/main.yml {2!r}".format(
        name, opt.get("default"), default)
    assert opt.get("description"), name
    if default is not None and opt["type"] != "raw":
        assert isinstance(default, PYTYPES[opt["type"]]), "{0}: {1!r} is not {2}".format(name, default, opt["type"])
        if opt["type"] in ("int", "float"):
            assert not isinstance(default, bool), name
    if "choices" in opt:
        if opt["type"] == "list":
            assert set(default) <= set(opt["choices"]), name
        else:
            assert default in opt["choices"], name
    if opt["type"] == "list":
        assert opt.get("elements"), name


def test_every_variable_used_is_declared_and_prefixed():
    declared = set(spec_options())
    used, private = set(), set()
    for text in task_texts().values():
        used |= set(re.findall(r"(?<![\w.])(apache_stapling_\w+)", text))
        private |= set(re.findall(r"(?<![\w.])(_+\w+)", text))
    assert used - declared - OUTPUTS == set()
    assert all(p.startswith("__apache_stapling_") for p in private), sorted(private)


def test_main_reads_as_the_table_of_contents():
    """tasks/main.yml holds every step in order, commit on its own line; only the installation of missing libraries
    and the rollback are included files."""
    main = load("tasks/main.yml")
    steps = []

    def walk(tasks):
        for t in tasks:
            if "block" in t:
                walk(t["block"])
                steps.append("rescue:")
                walk(t.get("rescue", []))
                continue
            action = [k for k in t if k.startswith(("ansible.builtin.", "ocsp.stapling."))][0]
            if action == "ansible.builtin.include_tasks":
                action += ":" + t[action]
            elif action == "ocsp.stapling.apache_stapling_config" and t[action].get("state") == "committed":
                action += ":committed"
            steps.append(action)
    walk(main)
    assert steps == [
        "ocsp.stapling.apache_stapling_info",            # detect: Apache, its certificates, the node's libraries
        "ansible.builtin.include_tasks:install.yml",     # only a node that lacks a library
        "ansible.builtin.debug",                         # the plan, when asked (apache_stapling_show_plan)
        "ocsp.stapling.ocsp_egress",
        "ocsp.stapling.apache_stapling_config",
        "ocsp.stapling.apache_reload",
        "ocsp.stapling.ocsp_staple_info",
        "rescue:",
        "ansible.builtin.include_tasks:rollback.yml",
        "ocsp.stapling.apache_stapling_config:committed",
        "ansible.builtin.set_fact",                      # the host's report
        "ocsp.stapling.stapling_summary",                # once per batch
        "ansible.builtin.fail",
    ], steps
    for name in ("install.yml", "rollback.yml"):
        assert os.path.exists(os.path.join(ROLE, "tasks", name))
    assert sorted(os.listdir(os.path.join(ROLE, "tasks"))) == ["install.yml", "main.yml", "rollback.yml"]


def _conditions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("when", "changed_when", "failed_when", "until"):
                for cond in value if isinstance(value, list) else [value]:
                    yield str(cond)
            else:
                yield from _conditions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _conditions(item)


def test_boolean_variables_in_conditions_go_through_bool():
    bools = [n for n, o in spec_options().items() if o["type"] == "bool"]
    checked = 0
    for path in glob.glob(os.path.join(ROLE, "tasks", "*.yml")):
        with open(path) as f:
            tasks = yaml.safe_load(f)
        for cond in _conditions(tasks):
            for name in bools:
                for m in re.finditer(r"(?<![\w.]){0}\b(\s*\|\s*bool)?".format(name), cond):
                    checked += 1
                    assert m.group(1), "{0}: '{1}' in a condition without '| bool': {2}".format(
                        os.path.basename(path), name, cond)
    assert checked >= 4  # the test sees the conditions it is about


def test_module_arguments_by_fqcn_only():
    for name, text in task_texts().items():
        tasks = yaml.safe_load(text)
        for t in tasks:
            modules = [k for k in t if "." in k]
            assert all(m.startswith(("ansible.builtin.", "ocsp.stapling.")) for m in modules), (name, modules)
