# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: a journal of configuration changes on the managed host, for byte-exact rollback.

Before the first write of a change, the exact prior state of every path it will touch (bytes, mode,
owner, whether it existed, symlink target) is saved under ``<journal_dir>/<id>/`` (root-only, 0700
directories, 0600 files), and only then are files written, each atomically (temporary file in the
same directory, then rename). ``restore()`` puts every journaled path back as it was and removes the
paths that did not exist, whether the change completed, failed or was cut off half-way.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import time

from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

MANIFEST = "manifest.json"
STATES = ("pending", "applied", "failed", "restored", "committed")


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


def write_atomic(path, data, mode=0o644, uid=None, gid=None):
    """Write bytes to path through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, ".{0}.ocsp-stapling-{1}".format(os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if uid is not None and (uid, gid) != (os.getuid(), os.getgid()):
            os.chown(tmp, uid, gid)
        os.rename(tmp, path)
    except OSError:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def symlink_atomic(path, target):
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, ".{0}.ocsp-stapling-{1}".format(os.path.basename(path), os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, path)
    _fsync_dir(directory)


def remove(path):
    if os.path.lexists(path):
        os.unlink(path)
        _fsync_dir(os.path.dirname(path) or ".")


class Journal(object):
    """The journals in one directory."""

    def __init__(self, directory):
        if not os.path.isabs(directory):
            raise StaplingError("journal_dir {0!r} is relative; give an absolute path such as "
                                "/var/lib/ocsp-stapling/journal".format(directory))
        self.directory = directory

    def _dir(self, tid):
        if not tid or "/" in tid or tid.startswith("."):
            raise StaplingError("transaction {0!r} is not a journal id (as returned in transaction)".format(tid))
        return os.path.join(self.directory, tid)

    def ids(self):
        """Journal ids, oldest first: by the manifest's creation time (an id names only its second, and two changes
        within one second must not prune the newer), then by id."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []

        def created(name):
            try:
                with open(os.path.join(self.directory, name, MANIFEST)) as f:
                    return float(json.load(f).get("created") or 0)
            except (IOError, OSError, ValueError, TypeError):
                return 0.0
        found = [n for n in names if os.path.isfile(os.path.join(self.directory, n, MANIFEST))]
        return sorted(found, key=lambda n: (created(n), n))

    def load(self, tid):
        path = os.path.join(self._dir(tid), MANIFEST)
        try:
            with open(path) as f:
                return json.load(f)
        except (IOError, OSError):
            raise StaplingError("no journal {0} in {1}; the transaction ids there are: {2}".format(
                tid, self.directory, ", ".join(self.ids()) or "none"))
        except ValueError as exc:
            raise StaplingError("journal {0} is damaged ({1}): {2}".format(tid, path, exc))

    def _save(self, tid, manifest):
        d = self._dir(tid)
        write_atomic(os.path.join(d, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"), 0o600)

    def begin(self, paths, meta=None):
        """Journal the prior state of every path; returns the transaction id. Nothing is written to paths."""
        for parent in (os.path.dirname(self.directory), self.directory):
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o700)
        os.chmod(self.directory, 0o700)
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
        manifest.update(meta or {})
        self._save(tid, manifest)
        return tid

    def mark(self, tid, state, **extra):
        manifest = self.load(tid)
        manifest["state"] = state
        manifest.update(extra)
        self._save(tid, manifest)
        return manifest

    def restore(self, tid):
        """Put every journaled path back as it was; returns the paths whose state changed."""
        manifest = self.load(tid)
        d = self._dir(tid)
        changed = []
        for entry in manifest["entries"]:
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
            with open(os.path.join(d, entry["content"]), "rb") as f:
                want = f.read()
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
        """Remove journals beyond the newest ``keep``, and (``before``: an id) every journal older than it."""
        removed = []
        ids = self.ids()
        doomed = set(ids[:-keep] if keep and len(ids) > keep else ([] if keep else ids))
        if before in ids:
            doomed |= set(ids[:ids.index(before)])
        for tid in sorted(doomed):
            shutil.rmtree(self._dir(tid), ignore_errors=True)
            removed.append(tid)
        return removed
