"""Naming detected intervertebral regions by an anatomical rule.

Rule: sort the regions by their centre from superior to inferior (row index, top to bottom);
the lowest region is L5-S1 (the disc above the sacrum, which is always in a lumbar field of
view) and the names count upward: L4-L5, L3-L4, L2-L3, L1-L2, T12-L1, T11-T12, ...
Like SPIDER's own numbering, this assumes five lumbar vertebrae.

Before naming, :func:`anatomical_filter` removes regions that cannot be separate discs of the
column: (1) a region whose centre row lies inside a higher-scoring region's rows (a duplicate
of the same disc); (2) regions at the bottom separated from the one above by more than
``MAX_GAP_RATIO`` times the median distance between neighbouring regions (e.g. an S1-S2 disc
remnant below the lumbosacral junction).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from modic_core.anatomy import level_name

__all__ = ["assign_level_names", "order_top_to_bottom", "anatomical_filter"]

#: A lowest region further below its neighbour than this many median inter-disc distances is
#: not a lumbar disc (a sacral disc remnant or a false positive) and is dropped.
MAX_GAP_RATIO = 1.7


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


def anatomical_filter(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Boolean mask of the regions kept by the two rules in the module docstring."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    keep = np.ones(len(boxes), dtype=bool)
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    for i in np.argsort(-scores, kind="stable"):
        if not keep[i]:
            continue
        inside = (cy > boxes[i, 1]) & (cy < boxes[i, 3]) & (scores <= scores[i]) & keep
        inside[i] = False
        keep &= ~inside
    while keep.sum() >= 4:
        idx = np.where(keep)[0]
        ys = np.sort(cy[idx])
        gaps = np.diff(ys)
        if gaps[-1] > MAX_GAP_RATIO * np.median(gaps[:-1]):
            keep[idx[np.argmax(cy[idx])]] = False
        else:
            break
    return keep
