"""Digests of directory trees: a config tree before and after a change compares equal only when byte-identical."""

import hashlib
import os


def tree_digest(root):
    """sha256 over every path, file content, mode and symlink target below root (what "byte for byte" promises:
    contents, modes, symlinks, which paths exist)."""
    h = hashlib.sha256()
    for base, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            h.update(os.path.relpath(path, root).encode() + b"\0")
            if os.path.islink(path):
                h.update(b"L" + os.readlink(path).encode() + b"\0")
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    h.update(b"F" + oct(os.stat(path).st_mode).encode() + f.read() + b"\0")
    return h.hexdigest()
