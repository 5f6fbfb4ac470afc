"""Digests of directory trees: a config tree before and after a change compares equal only when byte-identical."""

import hashlib
import os
import stat


def tree_entries(root):
    """{relative path: (kind, mode, uid, gid, content or link target)} for every path below root, from lstat: a
    symlink is a symlink (its target), never what it points to."""
    out = {}
    for base, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", None, st.st_uid, st.st_gid, os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, f.read())
            else:
                out[rel] = ("dir" if stat.S_ISDIR(st.st_mode) else "other", stat.S_IMODE(st.st_mode), st.st_uid,
                            st.st_gid, None)
    return out


def tree_digest(root, ignore=()):
    """sha256 over every path, its kind, mode, owner and group, file content and symlink target below root (what
    "byte for byte" promises). ``ignore``: relative paths left out (e.g. our kept cache snippet)."""
    h = hashlib.sha256()
    for rel, (kind, mode, uid, gid, data) in sorted(tree_entries(root).items()):
        if rel in ignore:
            continue
        h.update(rel.encode() + b"\0" + kind.encode() + "{0}:{1}:{2}".format(mode, uid, gid).encode() + b"\0")
        if data is not None:
            h.update(data if isinstance(data, bytes) else data.encode())
        h.update(b"\0")
    return h.hexdigest()


def tree_diff(before, after):
    """Paths whose entry differs between two tree_entries() (for a readable assertion message)."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
