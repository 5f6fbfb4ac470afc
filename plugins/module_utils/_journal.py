# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: a journal of configuration changes on the managed host, for byte-exact rollback.

Before the first write of a change, the exact prior state of every path it will touch (bytes, mode,
owner, whether it existed, symlink target) is saved under ``<journal_dir>/<id>/`` (root-only, 0700
directories, 0600 files), and only then are files written, each atomically (a temporary file made by
``mkstemp`` in the same directory, its mode, owner and extended attributes set on the descriptor, then a
rename). ``restore()`` puts every journaled path back as it was and removes the paths that did not exist,
whether the change completed, failed or was cut off half-way.

A journal is trusted only when the directory and everything in it is owned by us (root), not writable by
group or others, and not a symlink (checked with ``lstat``): whoever can write a manifest can make root
write any file. A journal belongs to one Apache instance (its ServerRoot and main configuration file):
adoption, pruning and restore consider only that instance's journals, and a journal that is not finished
(``pending``, ``applied``) is never pruned.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import stat
import tempfile
import time

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

MANIFEST = "manifest.json"
STATES = ("pending", "applied", "failed", "restored", "committed")
UNFINISHED = ("pending", "applied")
_TMP_SUFFIX = ".ocsp-stapling-tmp"


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def snapshot(path):
    """The state of one path: exists, kind (file / symlink), mode, uid, gid, link target; bytes separately."""
    try:
        st = os.lstat(path)
    except OSError:
        return {"path": path, "exists": False}, None
    if stat.S_ISLNK(st.st_mode):
        return {"path": path, "exists": True, "kind": "symlink", "target": os.readlink(path),
                "uid": st.st_uid, "gid": st.st_gid}, None
    if not stat.S_ISREG(st.st_mode):
        raise StaplingError("{0} is neither a file nor a symlink; refusing to change it".format(path))
    with open(path, "rb") as f:
        data = f.read()
    return {"path": path, "exists": True, "kind": "file", "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
            "gid": st.st_gid}, data


def _xattrs(path):
    """{name: value} of a regular file's extended attributes (SELinux context, POSIX ACLs, user.*), {} where the
    platform or the file system has none."""
    if not hasattr(os, "listxattr"):
        return {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in names:
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            pass
    return out


def _copy_xattrs(fd, attrs):
    for name, value in attrs.items():
        try:
            os.setxattr(fd, name, value)
        except OSError as exc:
            # A context the policy refuses, or an attribute this file system does not store: the file keeps the
            # directory's default, as a fresh file would (Ansible's atomic_move does the same).
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES, errno.EINVAL):
                raise


def write_atomic(path, data, mode=0o644, uid=None, gid=None):
    """Write bytes to path through a temporary file in the same directory and a rename.

    The temporary file is made by ``mkstemp`` (O_CREAT | O_EXCL, a random name: a symlink planted in the directory is
    never followed); its mode, owner and group are set on the descriptor, and the extended attributes of the file it
    replaces (SELinux context, ACLs) are copied over, as Ansible's own ``atomic_move`` keeps them."""
    directory = os.path.dirname(path) or "."
    previous = _xattrs(path) if os.path.isfile(path) and not os.path.islink(path) else {}
    fd, tmp = tempfile.mkstemp(prefix=".{0}.".format(os.path.basename(path))[:64], suffix=_TMP_SUFFIX,
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if uid is not None and (uid, gid) != (os.geteuid(), os.getegid()):
                os.fchown(f.fileno(), uid, gid)
            os.fchmod(f.fileno(), mode)
            _copy_xattrs(f.fileno(), previous)
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def symlink_atomic(path, target):
    """Make path a symlink to target: a new link under a random name (symlink() never follows, and fails on an
    existing name), then a rename over path."""
    directory = os.path.dirname(path) or "."
    for _attempt in range(100):
        tmp = os.path.join(directory, ".{0}.{1:08x}{2}".format(os.path.basename(path)[:48],
                                                               random.getrandbits(32), _TMP_SUFFIX))
        try:
            os.symlink(target, tmp)
            break
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    else:
        raise StaplingError("could not make a temporary symlink in {0}".format(directory))
    try:
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_dir(directory)


def remove(path):
    if os.path.lexists(path):
        os.unlink(path)
        _fsync_dir(os.path.dirname(path) or ".")


def _unsafe(st, what, path, kind="dir"):
    """Why a journal path cannot be trusted (None when it can): not ours, group/world-writable, a symlink, or not
    the kind expected."""
    if stat.S_ISLNK(st.st_mode):
        return "{0} {1} is a symlink".format(what, path)
    if kind == "dir" and not stat.S_ISDIR(st.st_mode):
        return "{0} {1} is not a directory".format(what, path)
    if kind == "file" and not stat.S_ISREG(st.st_mode):
        return "{0} {1} is not a regular file".format(what, path)
    if st.st_uid != os.geteuid():
        return "{0} {1} is owned by uid {2}, not by uid {3} (root)".format(what, path, st.st_uid, os.geteuid())
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "{0} {1} is writable by group or others (mode {2:04o})".format(what, path, stat.S_IMODE(st.st_mode))
    return None


def instance_key(server_root, config_file):
    """What names one Apache instance in a journal: its ServerRoot and main configuration file, resolved."""
    return {"server_root": os.path.realpath(server_root) if server_root else None,
            "config_file": os.path.realpath(config_file) if config_file else None}


class Journal(object):
    """The journals in one directory; with ``instance`` (instance_key()), the ones of that Apache instance."""

    def __init__(self, directory, instance=None):
        if not os.path.isabs(directory):
            raise StaplingError("journal_dir {0!r} is relative; give an absolute path such as "
                                "/var/lib/ocsp-stapling/journal".format(directory))
        self.directory = directory
        self.instance = instance

    # --- trust -----------------------------------------------------------------------------------------------
    def problem(self):
        """Why this journal directory cannot be used (None when it can, or when it does not exist yet and can be
        made): the directory itself must not be a symlink, and it and every existing parent must be ours and not
        writable by others (a sticky directory such as /tmp excepted for parents)."""
        try:
            st = os.lstat(self.directory)
        except OSError:
            st = None
        if st is not None:
            why = _unsafe(st, "journal_dir", self.directory)
            if why:
                return why
        parent = os.path.dirname(os.path.realpath(self.directory) if st is not None else self.directory)
        while True:
            try:
                pst = os.stat(parent)
            except OSError:
                pst = None  # not there yet: made by us, 0700
            if pst is not None:
                if not stat.S_ISDIR(pst.st_mode):
                    return "{0}, a parent of journal_dir, is not a directory".format(parent)
                if pst.st_uid not in (0, os.geteuid()):
                    return "{0}, a parent of journal_dir, is owned by uid {1}".format(parent, pst.st_uid)
                if pst.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not pst.st_mode & stat.S_ISVTX:
                    return "{0}, a parent of journal_dir, is writable by group or others (mode {1:04o})".format(
                        parent, stat.S_IMODE(pst.st_mode))
            up = os.path.dirname(parent)
            if up == parent:
                return None
            parent = up

    def check(self):
        why = self.problem()
        if why:
            raise StaplingError("journal_dir {0} cannot be trusted: {1}. Whoever can write there can make root "
                                "write any file through a journal. Use a directory only root can write (the default "
                                "/var/lib/ocsp-stapling/journal), or fix its owner and mode (chown root: ; chmod "
                                "0700).".format(self.directory, why))

    def _trusted_entry(self, name):
        """Why journal ``name`` (its directory and manifest) cannot be trusted, or None."""
        d = os.path.join(self.directory, name)
        try:
            why = _unsafe(os.lstat(d), "journal", d)
            if not why:
                why = _unsafe(os.lstat(os.path.join(d, MANIFEST)), "manifest", os.path.join(d, MANIFEST), "file")
        except OSError as exc:
            return "{0}: {1}".format(d, exc.strerror)
        return why

    def _read_private(self, path):
        """Bytes of a journal file, refused unless it is ours and private (opened without following a symlink)."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise StaplingError("cannot open journal file {0}: {1}".format(path, exc.strerror))
        with os.fdopen(fd, "rb") as f:
            why = _unsafe(os.fstat(f.fileno()), "journal file", path, "file")
            if why:
                raise StaplingError("refusing journal file: {0}; it may have been planted by another user. Remove "
                                    "it after checking what it holds.".format(why))
            return f.read()

    # --- listing ---------------------------------------------------------------------------------------------
    def _dir(self, tid):
        if not tid or "/" in tid or tid.startswith("."):
            raise StaplingError("transaction {0!r} is not a journal id (as returned in transaction)".format(tid))
        return os.path.join(self.directory, tid)

    def _manifests(self):
        """{id: manifest} of every trusted journal in the directory (untrusted ones are skipped, never used)."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return {}
        out = {}
        for name in names:
            if name.startswith(".") or self._trusted_entry(name):
                continue
            try:
                out[name] = json.loads(self._read_private(os.path.join(self.directory, name, MANIFEST)).decode("utf-8"))
            except (StaplingError, ValueError, UnicodeDecodeError):
                continue
        return out

    def belongs(self, manifest):
        """Whether a manifest is this instance's. Journals of 1.0.0 carry no instance: they belong to the instance
        under whose ServerRoot all their paths lie."""
        if self.instance is None:
            return True
        recorded = manifest.get("instance")
        if recorded:
            return recorded == self.instance
        root = self.instance.get("server_root")
        paths = [e.get("path") or "" for e in manifest.get("entries") or []]
        return bool(root and paths) and all(os.path.realpath(p).startswith(root.rstrip("/") + "/") for p in paths)

    def ids(self, mine=True):
        """Journal ids (this instance's unless ``mine`` is false), oldest first: by the manifest's creation time (an
        id names only its second, and two changes within one second must not prune the newer), then by id."""
        manifests = self._manifests()

        def created(name):
            try:
                return float(manifests[name].get("created") or 0)
            except (ValueError, TypeError):
                return 0.0
        found = [n for n, m in manifests.items() if not mine or self.belongs(m)]
        return sorted(found, key=lambda n: (created(n), n))

    def load(self, tid):
        path = os.path.join(self._dir(tid), MANIFEST)
        if not os.path.lexists(path):
            raise StaplingError("no journal {0} in {1}; the transaction ids of this Apache instance there are: "
                                "{2}".format(tid, self.directory, ", ".join(self.ids()) or "none"))
        why = self._trusted_entry(tid)
        if why:
            raise StaplingError("refusing journal {0}: {1}; it may have been planted by another user. Remove it "
                                "after checking what it holds.".format(tid, why))
        try:
            manifest = json.loads(self._read_private(path).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise StaplingError("journal {0} is damaged ({1}): {2}".format(tid, path, exc))
        if not self.belongs(manifest):
            raise StaplingError("journal {0} belongs to another Apache instance ({1}), not to {2}; give that "
                                "instance's server_root and config_file".format(
                                    tid, manifest.get("instance") or "paths outside this ServerRoot",
                                    self.instance))
        return manifest

    def _save(self, tid, manifest):
        d = self._dir(tid)
        write_atomic(os.path.join(d, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"), 0o600)

    # --- transactions ----------------------------------------------------------------------------------------
    def begin(self, paths, meta=None):
        """Journal the prior state of every path; returns the transaction id. Nothing is written to paths."""
        self.check()
        missing = []
        parent = self.directory
        while not os.path.lexists(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(missing):
            os.mkdir(d, 0o700)
        why = _unsafe(os.lstat(self.directory), "journal_dir", self.directory)
        if why:
            raise StaplingError("journal_dir cannot be trusted: {0}".format(why))
        os.chmod(self.directory, 0o700)  # not a symlink (lstat above): no chmod through a link
        tid = "{0}-{1:06x}".format(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), random.randint(0, 0xFFFFFF))
        d = self._dir(tid)
        os.mkdir(d, 0o700)
        entries = []
        for i, path in enumerate(paths):
            entry, data = snapshot(path)
            if data is not None:
                entry["content"] = "{0:04d}.bin".format(i)
                write_atomic(os.path.join(d, entry["content"]), data, 0o600)
            entries.append(entry)
        manifest = {"id": tid, "state": "pending", "created": time.time(), "entries": entries}
        if self.instance is not None:
            manifest["instance"] = self.instance
        manifest.update(meta or {})
        self._save(tid, manifest)
        return tid

    def mark(self, tid, state, **extra):
        manifest = self.load(tid)
        manifest["state"] = state
        manifest.update(extra)
        self._save(tid, manifest)
        return manifest

    def content(self, tid, entry):
        """The journaled bytes of a file entry."""
        name = entry.get("content") or ""
        if not name or "/" in name or name.startswith("."):
            raise StaplingError("journal {0}: entry {1} names no content file".format(tid, entry.get("path")))
        return self._read_private(os.path.join(self._dir(tid), name))

    def restore(self, tid, allowed=None, skip=()):
        """Put every journaled path back as it was (``skip``: paths left as they are now); returns the paths whose
        state changed. ``allowed``: a predicate a path must pass (the instance's own paths), checked for every entry
        before anything is written."""
        manifest = self.load(tid)
        entries = [e for e in manifest["entries"] if e["path"] not in skip]
        if allowed is not None:
            foreign = [e["path"] for e in entries if not allowed(e["path"])]
            if foreign:
                raise StaplingError("journal {0} names paths that are not this Apache instance's configuration: {1}; "
                                    "refusing to restore any of it".format(tid, ", ".join(foreign[:5])))
        changed = []
        for entry in entries:
            path = entry["path"]
            current, data = snapshot(path) if os.path.lexists(path) else ({"path": path, "exists": False}, None)
            if not entry["exists"]:
                if current["exists"]:
                    remove(path)
                    changed.append(path)
                continue
            if entry["kind"] == "symlink":
                if current.get("kind") != "symlink" or current.get("target") != entry["target"]:
                    symlink_atomic(path, entry["target"])
                    changed.append(path)
                continue
            want = self.content(tid, entry)
            same = (current.get("kind") == "file" and data == want and current.get("mode") == entry["mode"]
                    and current.get("uid") == entry["uid"] and current.get("gid") == entry["gid"])
            if not same:
                parent = os.path.dirname(path)
                if not os.path.isdir(parent):
                    os.makedirs(parent, 0o755)
                if current.get("kind") == "symlink":
                    remove(path)
                write_atomic(path, want, entry["mode"], entry["uid"], entry["gid"])
                changed.append(path)
        self.mark(tid, "restored")
        return changed

    def prune(self, keep, before=None):
        """Remove this instance's finished journals beyond the newest ``keep``, and (``before``: an id) every finished
        one older than it. Another instance's journals and unfinished ones (pending, applied: the only record of how
        to restore) are never removed."""
        manifests = self._manifests()
        ids = [i for i in self.ids() if i in manifests]
        doomed = set(ids[:-keep] if keep and len(ids) > keep else ([] if keep else ids))
        if before in ids:
            doomed |= set(ids[:ids.index(before)])
        removed = []
        for tid in sorted(doomed):
            if manifests[tid].get("state") in UNFINISHED:
                continue
            shutil.rmtree(self._dir(tid), ignore_errors=True)
            removed.append(tid)
        return removed
