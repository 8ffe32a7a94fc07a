"""Naming detected intervertebral regions by an anatomical rule.

Rule: sort the regions by their centre from superior to inferior (row index, top to bottom);
the lowest region is L5-S1 (the disc above the sacrum, which is always in a lumbar field of
view) and the names count upward: L4-L5, L3-L4, L2-L3, L1-L2, T12-L1, T11-T12, ...
Like SPIDER's own numbering, this assumes five lumbar vertebrae.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..cohort import level_name

__all__ = ["assign_level_names", "order_top_to_bottom"]


def order_top_to_bottom(boxes: np.ndarray) -> np.ndarray:
    """Indices that sort (N, 4) boxes (x0, y0, x1, y1) by centre row, top first."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return np.argsort((boxes[:, 1] + boxes[:, 3]) / 2.0, kind="stable")


def assign_level_names(boxes: np.ndarray | Sequence[Sequence[float]]) -> list[str]:
    """Level name for each box (same order as given), by counting up from the lowest box."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    order = order_top_to_bottom(boxes)
    names = [""] * len(boxes)
    n = len(boxes)
    for rank, idx in enumerate(order):
        names[idx] = level_name(n - rank)  # lowest (rank n-1) -> 1 = L5-S1
    return names
