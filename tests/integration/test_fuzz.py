"""The fuzz harness's short seeded run (tests/integration/fuzz_targets.py; long runs: benchmarks/fuzz/run.py).

In the integration stage because the configuration property asks Debian's apache2 (``-t``) as its oracle. Seeded
(``OCSP_FUZZ_SEED``, default 24), so CI sees the same examples every run; a counterexample is shrunk by hypothesis and
printed. About 20 s in all on this machine."""

import os

import pytest

import fuzz_targets

SEED = int(os.environ.get("OCSP_FUZZ_SEED", "24"))
EXAMPLES = {"config_reader": 300, "config_vs_apache": 80, "certificate_reader": 600, "ocsp_validator": 600}


@pytest.mark.parametrize("target", sorted(EXAMPLES))
def test_fuzz_target_holds_its_property(target):
    seen = fuzz_targets.run(target, EXAMPLES[target], seed=SEED)
    # the run exercised what it claims (hypothesis may stop early on a small search space; never at zero)
    assert seen["examples"] >= EXAMPLES[target] // 2, seen
    if target == "config_vs_apache":
        assert seen["apache_accepted"] > 0, seen  # the oracle compared vhosts, not only refusals
    if target == "certificate_reader":
        assert seen["read"] > 0, seen
