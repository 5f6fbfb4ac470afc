"""The role ocsp.stapling.stapling_report's interface: meta/argument_specs.yml and defaults/main.yml agree on every
variable (names, types, defaults); every variable its tasks use is declared and named stapling_report_* (private ones
__stapling_report_*); the templates it names exist."""

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, "roles", "stapling_report")
PYTYPES = {"bool": (bool,), "int": (int,), "float": (float,), "list": (list,), "dict": (dict,), "str": (str,),
           "path": (str,)}


def load(rel):
    with open(os.path.join(ROLE, rel)) as f:
        return yaml.safe_load(f)


def spec_options():
    return load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]


def test_same_variables():
    assert set(load("defaults/main.yml")) == set(spec_options())


@pytest.mark.parametrize("name", sorted(spec_options()))
def test_type_and_default_agree(name):
    opt = spec_options()[name]
    default = load("defaults/main.yml")[name]
    assert name.startswith("stapling_report_")
    assert opt.get("default") == default, name
    assert opt.get("description"), name
    if default is not None:
        assert isinstance(default, PYTYPES[opt["type"]]) and not isinstance(default, bool) or opt["type"] == "bool", name
    if opt["type"] == "list":
        assert opt.get("elements"), name
        if "choices" in opt and default is not None:
            assert set(default) <= set(opt["choices"]), name


def test_every_variable_used_is_declared_and_prefixed():
    declared = set(spec_options())
    used, private = set(), set()
    for path in glob.glob(os.path.join(ROLE, "tasks", "*.yml")):
        with open(path) as f:
            text = f.read()
        used |= set(re.findall(r"(?<![\w.])(stapling_report_\w+)", text))
        private |= set(re.findall(r"(?<![\w.])(_+\w+)", text))
    assert used - declared == set()
    assert private and all(p.startswith("__stapling_report_") for p in private), sorted(private)


def test_shipped_templates_exist():
    for name in ("report.html.j2", "report.md.j2"):
        assert os.path.isfile(os.path.join(ROLE, "templates", name))
    with open(os.path.join(ROLE, "tasks", "main.yml")) as f:
        text = f.read()
    assert "/templates/report.html.j2" in text and "/templates/report.md.j2" in text
