"""Shared by unit and integration tests: the collection is importable by its FQCN."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import collection_path  # noqa: E402

collection_path.ensure()
