"""A cache key that changes when files change."""
from __future__ import annotations

from pathlib import Path

__all__ = ["file_stamp"]


def file_stamp(*paths: str | Path) -> tuple[tuple[str, int | None, int | None], ...]:
    """(path, modification time in ns, size in bytes) of each path; (path, None, None) for one that
    cannot be read. Used to re-read a file only when it changes (an ``lru_cache`` keyed on this)."""
    out = []
    for p in paths:
        try:
            st = Path(p).stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)
