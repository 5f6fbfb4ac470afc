"""Differential test: a few hundred generated configurations, each judged by Apache itself.

For every variant (tests/lab/config_fuzz.py: quoting, continuations, comments, nesting, CRLF, tabs, end tags with
trailing words, conditions left open, Define, mod_macro, includes), in its own minimal ServerRoot:
Apache accepts it -> apache_info's facts (``_apache.gather``, the module's whole core, with the real binary for the
configtest and its dumps) list the same vhosts as ``apache2 -t -D DUMP_VHOSTS`` (address, name, file and line,
macro), in the order of mod_info's ``-D DUMP_CONFIG`` tree, and the facts' own cross-check finds no disagreement; Apache refuses it -> the facts report
``configtest_failed`` (and nothing raised). The compile-time ``-V`` output, the same for every variant, is taken once.

A longer run for nightly use: ``benchmarks/apache_config_fuzz/run.py --count N --seed S``.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ocsp.stapling.plugins.module_utils import _apache
from lab.config_fuzz import cached_runner, generate, judge

COUNT = 300
SEED = int(os.environ.get("OCSP_FUZZ_SEED", "17"))


def test_generated_configurations_read_as_apache_reads_them(tmp_path):
    run = cached_runner()

    def one(index):
        return judge(generate(SEED, index), str(tmp_path / "v{0:04d}".format(index)), _apache.gather, run)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(COUNT)))
    accepted = [r for r in results if r["accepted"]]
    # the generator must exercise both sides and every kind of construct, or the test proves little
    assert 0.2 * COUNT < len(accepted) < 0.8 * COUNT, len(accepted)
    assert sum(r["vhosts"] for r in accepted) > COUNT / 2
    seen = set(f for r in accepted for f in r["features"])
    for feature in ("unterminated_quote", "close_tag_trailing_words", "open_at_eof", "multi_line_header", "macro",
                    "macro_nested", "define_in_macro", "continuation", "comment_continued", "crlf", "tabs", "include",
                    "condition", "define"):
        assert feature in seen, feature
    wrong = [r for r in results if not r["agree"]]
    assert not wrong, "\n\n".join("seed {0} variant {1} ({2}) in {3}:\n{4}\napache said:\n{5}".format(
        SEED, r["index"], ", ".join(r["features"]), r["root"], r["why"], r["apache"][-800:]) for r in wrong[:5])
