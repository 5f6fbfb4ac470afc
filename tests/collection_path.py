"""Make this checkout importable and runnable as ``ansible_collections.ocsp.stapling``.

The collection root is the repository root; Ansible (and Python imports of
``ansible_collections.ocsp.stapling...``) need it inside a tree named
``ansible_collections/ocsp/stapling``. We keep a symlink to the checkout in
``.cache/collections`` (git-ignored, outside the build) and return that path.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".cache", "collections")


def ensure():
    ns = os.path.join(COLLECTIONS, "ansible_collections", "ocsp")
    link = os.path.join(ns, "stapling")
    os.makedirs(ns, exist_ok=True)
    if not os.path.islink(link) or os.path.realpath(link) != REPO:
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(REPO, link)
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    return COLLECTIONS
