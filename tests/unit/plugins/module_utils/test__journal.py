"""The journal behind apache_stapling_config: prior state saved root-only before any write, byte-exact restore (also
of a change cut off half-way), pruning by age within one Apache instance (never an unfinished journal), trusted only
when root's (issue 24 #1), written through mkstemp (issue 24 #5) keeping mode, owner and extended attributes."""

import json
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


def finished(journal, n, state="committed"):
    ids = []
    for _i in range(n):
        ids.append(journal.begin([]))
        journal.mark(ids[-1], state)
    return ids


def test_prune_keeps_the_newest_even_within_one_second(tmp_path):
    journal = _journal.Journal(str(tmp_path / "journal"))
    ids = finished(journal, 5)  # same second: random suffixes, creation order kept
    assert journal.ids() == ids
    assert journal.prune(2) == sorted(ids[:3]) and journal.ids() == ids[3:]
    more = finished(journal, 2)
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


INSTANCE_A = _journal.instance_key("/srv/a", "/srv/a/apache2.conf")
INSTANCE_B = _journal.instance_key("/srv/b", "/srv/b/apache2.conf")


def test_journals_belong_to_one_instance_and_unfinished_ones_are_never_pruned(tmp_path):
    """Issue 22: committing one instance's change pruned another instance's `applied` journal (its only record of
    how to restore). Now each instance prunes only its own finished journals."""
    directory = str(tmp_path / "journal")
    a, b = _journal.Journal(directory, INSTANCE_A), _journal.Journal(directory, INSTANCE_B)
    b_applied = b.begin([])
    b.mark(b_applied, "applied")
    b_old = finished(b, 3)
    a_applied = a.begin([])
    a.mark(a_applied, "applied")
    a_done = finished(a, 3)
    assert a.ids() == [a_applied] + a_done and b.ids() == [b_applied] + b_old
    assert sorted(a.prune(1)) == sorted(a_done[:2])  # a's applied one stays, b's are not a's to prune
    assert a.ids() == [a_applied, a_done[2]] and b.ids() == [b_applied] + b_old
    assert a.prune(1, before=a_done[2]) == []
    with pytest.raises(StaplingError, match="another Apache instance"):
        a.load(b_applied)


def test_a_journal_of_1_0_belongs_to_the_instance_holding_its_paths(tmp_path):
    directory = str(tmp_path / "journal")
    conf = tmp_path / "a"
    conf.mkdir()
    legacy = _journal.Journal(directory).begin([str(conf / "x.conf")])
    mine = _journal.Journal(directory, _journal.instance_key(str(conf), str(conf / "apache2.conf")))
    other = _journal.Journal(directory, INSTANCE_B)
    assert mine.ids() == [legacy] and other.ids() == []


def test_a_journal_dir_that_is_a_symlink_is_refused_and_its_target_not_chmodded(tmp_path):
    target = tmp_path / "etc"
    target.mkdir()
    os.chmod(str(target), 0o755)
    os.symlink(str(target), str(tmp_path / "journal"))
    journal = _journal.Journal(str(tmp_path / "journal"))
    with pytest.raises(StaplingError, match="symlink"):
        journal.begin([])
    assert mode(str(target)) == 0o755 and os.listdir(str(target)) == []


@pytest.mark.parametrize("owner, perm, why", [((65534, 65534), 0o700, "owned by uid 65534"),
                                              ((0, 0), 0o777, "writable by group or others")])
def test_a_journal_dir_another_user_controls_is_refused(tmp_path, owner, perm, why):
    directory = tmp_path / "journal"
    directory.mkdir()
    os.chown(str(directory), *owner)
    os.chmod(str(directory), perm)
    with pytest.raises(StaplingError, match=why):
        _journal.Journal(str(directory)).begin([])


def test_a_parent_another_user_can_write_is_refused(tmp_path):
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chmod(str(parent), 0o777)  # not sticky: anyone may rename the journal away and plant another
    with pytest.raises(StaplingError, match="a parent of journal_dir, is writable"):
        _journal.Journal(str(parent / "journal")).begin([])
    os.chmod(str(parent), 0o1777)  # sticky, as /tmp: only the owner renames
    assert _journal.Journal(str(parent / "journal")).begin([])


def test_a_planted_manifest_is_neither_adopted_nor_restored(tmp_path):
    """Issue 24 #1: another user's manifest (a later creation time, state applied, an entry writing a setuid file)
    was adopted and restored as root. Files not owned by root, or writable by others, are never read."""
    journal = _journal.Journal(str(tmp_path / "journal"), INSTANCE_A)
    mine = journal.begin([])
    journal.mark(mine, "committed")
    planted = os.path.join(journal.directory, "29990101T000000Z-000000")
    os.mkdir(planted, 0o700)
    with open(os.path.join(planted, "manifest.json"), "w") as f:
        f.write('{"id": "29990101T000000Z-000000", "state": "applied", "created": 9e9, "instance": %s, '
                '"entries": [{"path": "/srv/a/evil", "exists": true, "kind": "file", "mode": 2541, "uid": 0, '
                '"gid": 0, "content": "0000.bin"}]}' % json.dumps(INSTANCE_A))
    with open(os.path.join(planted, "0000.bin"), "w") as f:
        f.write("#!/bin/sh\n")
    for path in (planted, os.path.join(planted, "manifest.json"), os.path.join(planted, "0000.bin")):
        os.chown(path, 65534, 65534)
    assert journal.ids() == [mine]
    with pytest.raises(StaplingError, match="owned by uid 65534"):
        journal.restore("29990101T000000Z-000000")
    # Root's, but world-writable: refused too.
    for path in (planted, os.path.join(planted, "manifest.json"), os.path.join(planted, "0000.bin")):
        os.chown(path, 0, 0)
    os.chmod(os.path.join(planted, "manifest.json"), 0o666)
    assert journal.ids() == [mine]
    with pytest.raises(StaplingError, match="writable by group or others"):
        journal.load("29990101T000000Z-000000")


def test_restore_refuses_a_path_that_is_not_the_instances(tmp_path):
    journal = _journal.Journal(str(tmp_path / "journal"))
    inside, outside = str(tmp_path / "conf.conf"), str(tmp_path / "elsewhere")
    tid = journal.begin([inside, outside])
    _journal.write_atomic(inside, b"x")
    with pytest.raises(StaplingError, match="not this Apache instance's configuration: " + outside):
        journal.restore(tid, allowed=lambda p: p == inside)
    assert os.path.exists(inside)  # nothing was restored


def test_write_atomic_never_follows_a_planted_symlink(tmp_path):
    """Issue 24 #5: the temporary name was predictable (.NAME.ocsp-stapling-PID) and opened without O_EXCL: a symlink
    planted there made root write the new content into the link's target."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    path = str(tmp_path / "site.conf")
    with open(path, "wb") as f:
        f.write(b"old\n")
    os.symlink(str(victim), str(tmp_path / ".site.conf.ocsp-stapling-{0}".format(os.getpid())))
    _journal.write_atomic(path, b"new\n", 0o640)
    assert victim.read_bytes() == b"precious\n"
    assert open(path, "rb").read() == b"new\n" and mode(path) == 0o640
    assert sorted(os.listdir(str(tmp_path))) == sorted([".site.conf.ocsp-stapling-{0}".format(os.getpid()),
                                                        "site.conf", "victim"])  # no temporary file left


def test_write_atomic_keeps_owner_group_and_extended_attributes(tmp_path):
    path = str(tmp_path / "site.conf")
    with open(path, "wb") as f:
        f.write(b"old\n")
    os.chown(path, 0, 65534)
    try:
        os.setxattr(path, "user.ocsp_test", b"kept")
    except OSError:
        pytest.fail("this file system stores no user.* extended attributes; the test needs one that does")
    st = os.stat(path)
    _journal.write_atomic(path, b"new\n", 0o640, st.st_uid, st.st_gid)
    assert os.stat(path).st_gid == 65534 and mode(path) == 0o640
    assert os.getxattr(path, "user.ocsp_test") == b"kept"
