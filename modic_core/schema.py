"""Typed records of every JSON file the project writes and reads (weights cards, comparison, reports).

Each document carries ``schema`` (its kind) and ``schema_version``; readers refuse an unknown
version with a clear message instead of guessing its shape.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["sha256_file"]


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
