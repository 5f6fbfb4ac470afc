"""The journal behind apache_stapling_config: prior state saved root-only before any write, byte-exact restore (also
of a change cut off half-way), pruning by age."""

import os
import stat

import pytest

from ansible_collections.ocsp.stapling.plugins.module_utils import _journal
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_restore_puts_every_kind_of_path_back(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    edited, created, link, gone = (str(conf / n) for n in ("a.conf", "new.conf", "link.conf", "old.conf"))
    with open(edited, "wb") as f:
        f.write(b"<VirtualHost *:443>\r\n\tServerName a\r\n</VirtualHost>")  # CRLF, no final newline
    os.chmod(edited, 0o640)
    os.symlink("../x/a.conf", link)
    with open(gone, "wb") as f:
        f.write(b"keep me\n")
    journal = _journal.Journal(str(tmp_path / "journal"))
    tid = journal.begin([edited, created, link, gone])
    assert mode(journal.directory) == 0o700 and mode(os.path.join(journal.directory, tid)) == 0o700
    assert {mode(os.path.join(journal.directory, tid, n)) for n in os.listdir(os.path.join(journal.directory, tid))} \
        == {0o600}
    # The change, cut off half-way: two paths changed, two not yet.
    _journal.write_atomic(edited, b"changed\n", 0o644)
    _journal.write_atomic(created, b"ours\n")
    changed = journal.restore(tid)
    assert sorted(changed) == sorted([edited, created])
    with open(edited, "rb") as f:
        assert f.read() == b"<VirtualHost *:443>\r\n\tServerName a\r\n</VirtualHost>"
    assert mode(edited) == 0o640 and not os.path.lexists(created) and os.readlink(link) == "../x/a.conf"
    # The whole change, then restore again.
    os.unlink(link)
    os.symlink("elsewhere", link)
    _journal.remove(gone)
    assert sorted(journal.restore(tid)) == sorted([link, gone])
    assert os.readlink(link) == "../x/a.conf" and open(gone).read() == "keep me\n"
    assert journal.restore(tid) == [] and journal.load(tid)["state"] == "restored"


def test_prune_keeps_the_newest_even_within_one_second(tmp_path):
    journal = _journal.Journal(str(tmp_path / "journal"))
    ids = [journal.begin([]) for _i in range(5)]  # same second: random suffixes, creation order kept
    assert journal.ids() == ids
    assert journal.prune(2) == sorted(ids[:3]) and journal.ids() == ids[3:]
    more = [journal.begin([]) for _i in range(2)]
    # committed: everything older than the committed journal goes, however many are kept.
    assert sorted(journal.prune(10, before=more[0])) == sorted(ids[3:]) and journal.ids() == more


@pytest.mark.parametrize("tid", ["../etc", ".hidden", "", "a/b"])
def test_a_transaction_id_is_never_a_path(tmp_path, tid):
    with pytest.raises(StaplingError, match="not a journal id"):
        _journal.Journal(str(tmp_path)).load(tid)


def test_relative_directory_and_unknown_id(tmp_path):
    with pytest.raises(StaplingError, match="relative"):
        _journal.Journal("journal")
    journal = _journal.Journal(str(tmp_path))
    tid = journal.begin([])
    with pytest.raises(StaplingError, match="no journal 2020.*" + tid):
        journal.load("20200101T000000Z-000000")
