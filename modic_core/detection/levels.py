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

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from modic_core.anatomy import level_name

__all__ = ["LevelNaming", "anatomical_filter", "assign_level_names", "column_mask", "name_regions", "order_top_to_bottom"]

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


# --------------------------------------------------------------------------- naming that does not move


#: Regions at or above this detector confidence form the reference column that fixes the names.
REFERENCE_THRESHOLD = 0.5
#: A region whose centre lies further from the fitted column curve than this many median box
#: widths is not a disc of the column (posterior elements, neighbouring structures).
MAX_OFF_COLUMN = 0.6
#: A step between neighbouring reference discs larger than this many local disc spacings leaves
#: a gap for a missed disc instead of shifting every name above it.
GAP_RATIO = 1.6


@dataclass(frozen=True)
class LevelNaming:
    """Names of a study's candidate regions, fixed once for all thresholds.

    ``slots[i]``: disc number - 1 of candidate ``i`` (0 = L5-S1), or None when the region is not
    on the disc column or lies below the lowest reference disc; ``uncertain`` with ``reasons``
    when the count cannot be trusted (few discs, a gap, irregular spacing).
    """

    slots: tuple[int | None, ...]
    uncertain: bool
    reasons: tuple[str, ...] = ()

    def name(self, i: int) -> str | None:
        s = self.slots[i]
        return None if s is None else level_name(s + 1)


def column_mask(boxes: np.ndarray, scores: np.ndarray, *, reference: float = REFERENCE_THRESHOLD) -> np.ndarray:
    """Boolean mask of regions on the disc column: a quadratic x(y) (lordosis) fitted through the
    centres of the confident regions (score >= ``reference``), refitted without outliers; centres
    further than ``MAX_OFF_COLUMN`` median box widths from it are off the column. With fewer than
    five confident regions every region is kept."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    keep = np.ones(len(boxes), dtype=bool)
    conf = scores >= reference
    if conf.sum() < 5:
        return keep
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    width = float(np.median(boxes[conf, 2] - boxes[conf, 0]))
    fit = conf.copy()
    resid = np.zeros(len(boxes))
    for _ in range(3):
        coef = np.polyfit(cy[fit], cx[fit], 2 if fit.sum() >= 6 else 1)
        resid = np.abs(cx - np.polyval(coef, cy))
        new = conf & (resid <= MAX_OFF_COLUMN * width)
        if new.sum() < 4 or np.array_equal(new, fit):
            break
        fit = new
    return resid <= MAX_OFF_COLUMN * width


def name_regions(boxes: np.ndarray, scores: np.ndarray, *, reference: float = REFERENCE_THRESHOLD) -> LevelNaming:
    """Fix every candidate's level name once, independent of the display threshold.

    1. Off-column regions (:func:`column_mask`) and duplicates/sacral remnants
       (:func:`anatomical_filter`) get no name.
    2. The regions with confidence >= ``reference`` are the reference column; the lowest is
       L5-S1 (no sacrum detector yet: see the model card) and names count upward, leaving a gap
       where neighbours are more than ``GAP_RATIO`` local spacings apart (a missed disc).
    3. Every other region takes the slot its position implies between (or beyond) reference discs;
       a region within half a spacing of a reference disc is its duplicate (no name).
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    n = len(boxes)
    slots: list[int | None] = [None] * n
    reasons: list[str] = []
    if n == 0:
        return LevelNaming((), True, ("no region found",))
    ok = column_mask(boxes, scores, reference=reference)
    conf = np.where(ok & (scores >= reference))[0]
    ref_mask = np.zeros(n, dtype=bool)
    if len(conf):
        ref_mask[conf[anatomical_filter(boxes[conf], scores[conf])]] = True
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    ref = [i for i in np.where(ref_mask)[0]]
    ref.sort(key=lambda i: -cy[i])  # bottom first
    if len(ref) < 2:
        order = sorted(np.where(ok)[0], key=lambda i: -cy[i])
        for k, i in enumerate(order):
            slots[i] = k
        return LevelNaming(tuple(slots), True, ("fewer than two confident discs",))
    ys = np.array([cy[i] for i in ref])  # decreasing (bottom first)
    steps = -np.diff(ys)
    k = [0]
    for j, step in enumerate(steps):
        local = np.median(np.delete(steps, j)) if len(steps) > 2 else np.median(steps)
        jump = int(round(step / local)) if step > GAP_RATIO * local else 1
        if jump > 1:
            reasons.append(f"a gap of {jump - 1} disc(s) between two detected discs was left unnamed")
        k.append(k[-1] + jump)
    for i, s in zip(ref, k):
        slots[i] = s
    spacing = float(np.median(steps))
    for i in np.where(ok)[0]:
        if slots[i] is not None:
            continue
        y = cy[i]
        # fractional slot along the reference column (linear between neighbours, extrapolated beyond)
        if y >= ys[0]:
            f = -(y - ys[0]) / spacing
        elif y <= ys[-1]:
            f = k[-1] + (ys[-1] - y) / spacing
        else:
            j = int(np.searchsorted(-ys, -y))  # ys[j-1] > y > ys[j]
            f = k[j - 1] + (ys[j - 1] - y) / (ys[j - 1] - ys[j]) * (k[j] - k[j - 1])
        s = int(round(f))
        if abs(f - s) > 0.35 or s < 0 or s in {slots[r] for r in ref}:
            continue  # between two discs, below L5-S1 or a duplicate of a reference disc
        slots[i] = s
    if len(ref) < 4:
        reasons.append("fewer than four confident discs")
    if len(steps) >= 3 and (steps.max() / max(steps.min(), 1e-6)) > 2.5 and not any("gap" in r for r in reasons):
        reasons.append("irregular spacing of the detected discs")
    return LevelNaming(tuple(slots), bool(reasons), tuple(reasons))
