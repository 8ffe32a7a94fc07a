"""Names of the intervertebral disc levels, shared by detection, datasets and reports.

Numbering follows SPIDER: disc 1 is L5-S1 and numbers count upward (cranially). Names assume the
usual five lumbar and twelve thoracic vertebrae; a transitional vertebra (lumbarised S1,
sacralised L5) cannot be told from a lumbar field of view alone and shifts every name by one.
"""
from __future__ import annotations

__all__ = ["LEVEL_NAMES", "level_name", "level_index"]


def _names() -> list[str]:
    names = ["L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2", "T12-L1"]
    names += [f"T{i}-T{i + 1}" for i in range(11, 0, -1)]  # T11-T12 ... T1-T2
    names += ["C7-T1"] + [f"C{i}-C{i + 1}" for i in range(6, 1, -1)]  # C7-T1, C6-C7 ... C2-C3
    return names


#: Disc names from the bottom up: ``LEVEL_NAMES[0]`` is L5-S1 (disc 1), then L4-L5, ... C2-C3.
LEVEL_NAMES: list[str] = _names()


def level_name(ivd_label: int) -> str:
    """Level name for a disc number (1 = L5-S1, counting upward); ``IVD<n>`` beyond C2-C3."""
    n = int(ivd_label)
    return LEVEL_NAMES[n - 1] if 1 <= n <= len(LEVEL_NAMES) else f"IVD{n}"


def level_index(name: str) -> int | None:
    """Inverse of :func:`level_name`: the disc number (1 = L5-S1) of a name, or None if unknown."""
    try:
        return LEVEL_NAMES.index(str(name).strip().upper()) + 1
    except ValueError:
        return None
