"""The integration runner's guard: a deprecation warning of ours fails the test that saw it.

Real ansible-playbook runs of this venv's ansible-core: a module that deprecates in our name, another collection's
deprecation (printed, not ours), a deprecation returned by a module of a collection named ocsp.stapling, and the
``ansible.module_utils.six`` import in such a collection's plugins, which ansible-core 2.22 words in its own name (the
traceback the runner switches on names our file).
"""

import textwrap

import pytest
from ansible.release import __version__ as ANSIBLE_CORE_VERSION

import ansible_runner

CORE = tuple(int(p) for p in ANSIBLE_CORE_VERSION.split(".")[:2])

DEPRECATING_MODULE = '''
from __future__ import annotations
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"collection": {"type": "str", "required": True}})
    module.deprecate("the guard test's feature is going away", version="9.0.0",
                     collection_name=module.params["collection"])
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
'''

SIX_MODULE = '''
from __future__ import annotations
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six import string_types


def main():
    module = AnsibleModule(argument_spec={})
    module.exit_json(changed=False, text=isinstance("x", string_types))


if __name__ == "__main__":
    main()
'''

SIX_FILTER = '''
from __future__ import annotations
from ansible.module_utils.six import string_types


class FilterModule(object):
    def filters(self):
        return {"is_text": lambda value: isinstance(value, string_types)}
'''


def play(tmp_path, task):
    path = tmp_path / "play.yml"
    path.write_text(textwrap.dedent('''\
        - hosts: localhost
          gather_facts: false
          tasks:
            - {0}
        ''').format(task))
    return str(path)


def fake_collection(tmp_path, modules=(), filters=()):
    """A collection named ocsp.stapling in tmp_path with the given plugins: {name: source}."""
    root = tmp_path / "collections" / "ansible_collections" / "ocsp" / "stapling"
    for kind, plugins in (("modules", modules), ("filter", filters)):
        d = root / "plugins" / kind
        d.mkdir(parents=True, exist_ok=True)
        for name, source in plugins:
            (d / (name + ".py")).write_text(source)
    (root / "galaxy.yml").write_text("namespace: ocsp\nname: stapling\nversion: 0.0.1\nreadme: README.md\n"
                                     "authors: [test]\n")
    return {"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections")}


def test_blocks_end_where_the_next_message_starts():
    output = textwrap.dedent('''\
        TASK [x] ***
        [DEPRECATION WARNING]: The `ansible.module_utils.six` module is deprecated. This feature will be removed from
        ansible-core version 2.24.

        Traceback (most recent call last):
          File "/c/ansible_collections/ocsp/stapling/plugins/filter/md_escape.py", line 44, in <module>
        [WARNING]: something else
        [DEPRECATION WARNING]: x. This feature will be removed from community.example in version 3.0.0.
        ok: [localhost]
        ''')
    blocks = ansible_runner.deprecation_blocks(output)
    assert len(blocks) == 2
    assert "md_escape.py" in blocks[0] and "something else" not in blocks[0]
    assert blocks[1].endswith("version 3.0.0.")
    assert [b for b in blocks if ansible_runner.OURS.search(b)] == blocks[:1]


@pytest.mark.core_matrix
def test_a_deprecation_in_our_name_fails_the_run(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    (library / "deprecating.py").write_text(DEPRECATING_MODULE)
    with pytest.raises(ansible_runner.DeprecationOfOurs) as caught:
        ansible_runner.run_playbook(play(tmp_path, "deprecating: {collection: ocsp.stapling}"))
    assert "the guard test's feature is going away" in str(caught.value)


@pytest.mark.core_matrix
def test_another_collections_deprecation_is_printed_and_passes(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    (library / "deprecating.py").write_text(DEPRECATING_MODULE)
    rc, _results, output = ansible_runner.run_playbook(play(tmp_path, "deprecating: {collection: community.example}"))
    assert rc == 0, output
    blocks = ansible_runner.deprecation_blocks(output)
    assert any("the guard test's feature is going away" in b for b in blocks), output
    assert not ansible_runner.our_deprecations(output)


@pytest.mark.core_matrix
def test_a_deprecation_returned_by_our_module_fails_the_run_whoever_it_names(tmp_path):
    env = fake_collection(tmp_path, modules=[("deprecating", DEPRECATING_MODULE)])
    with pytest.raises(ansible_runner.DeprecationOfOurs) as caught:
        ansible_runner.run_playbook(play(tmp_path, "ocsp.stapling.deprecating: {collection: community.example}"),
                                    env=env)
    assert "ocsp.stapling.deprecating" in str(caught.value)


@pytest.mark.core_matrix
@pytest.mark.parametrize("where", ["module", "filter"])
def test_importing_six_in_our_plugins_fails_the_run_from_2_22_on(tmp_path, where):
    """ansible-core 2.22 warns at the import of ansible.module_utils.six in its own name ("removed from ansible-core
    version 2.24"); the runner still finds our file in the warning's traceback (module: also the result). Earlier
    lines import it silently, and the run passes."""
    if where == "module":
        env = fake_collection(tmp_path, modules=[("uses_six", SIX_MODULE)])
        task = "ocsp.stapling.uses_six:"
    else:
        env = fake_collection(tmp_path, filters=[("uses_six", SIX_FILTER)])
        task = "debug: {msg: \"{{ 'x' | ocsp.stapling.is_text }}\"}"
    if CORE >= (2, 22):
        with pytest.raises(ansible_runner.DeprecationOfOurs) as caught:
            ansible_runner.run_playbook(play(tmp_path, task), env=env)
        assert "ansible.module_utils.six" in str(caught.value)
    else:
        rc, _results, output = ansible_runner.run_playbook(play(tmp_path, task), env=env)
        assert rc == 0, output
        assert not ansible_runner.deprecation_blocks(output), output
