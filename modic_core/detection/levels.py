"""Naming detected intervertebral regions by an anatomical rule.

Rule: the detector has a class of its own for the L5-S1 region (the disc on the sacrum): the
region it scores highest for that class is the anchor, L5-S1, and the names count upward from it
(L4-L5, L3-L4, L2-L3, L1-L2, T12-L1, T11-T12, ...), leaving a gap for a missed disc. Without an
anchor (weights trained before the anchor class, or no region scores as L5-S1) the lowest
confident region is taken as L5-S1 and the naming is flagged uncertain.
Like SPIDER's own numbering, this assumes five lumbar vertebrae: a transitional vertebra cannot
be told from a lumbar field of view alone.

Before naming, :func:`anatomical_filter` removes regions that cannot be separate discs of the
column: (1) a region whose centre lies less than ``MIN_STEP_RATIO`` median region heights above or
below a higher-scoring region's centre (a duplicate of the same disc, or a vertebral body between
two discs: neighbouring disc regions are at least ~1 region height apart); (2) regions at the bottom separated from the one above by more than
``MAX_GAP_RATIO`` times the median distance between neighbouring regions (e.g. an S1-S2 disc
remnant below the lumbosacral junction). :func:`between_mask` then drops a less confident region
lying between two adjacent sure discs (a vertebral body of a spine whose discs are thin and far
apart, where the step rule cannot see it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from modic_core.anatomy import level_name
from modic_core.boxes import box_iou

__all__ = [
    "ADJACENT_RATIO", "ANCHOR_SURE", "ANCHOR_THRESHOLD", "LevelNaming", "MIN_STEP_RATIO", "MIN_WIDTH_RATIO", "SURE_THRESHOLD", "anatomical_filter", "assign_level_names",
    "between_mask", "column_mask", "merge_classes",
    "name_regions", "order_top_to_bottom", "width_mask",
]

#: A lowest region further below its neighbour than this many median inter-disc distances is
#: not a lumbar disc (a sacral disc remnant or a false positive) and is dropped.
MAX_GAP_RATIO = 1.7
#: Two regions whose centres are closer in rows than this many median region heights cannot both be
#: discs (the less confident goes). Dimensionless (row distance / median region height); its choice and check on
#: the cross-validation folds are in docs/level_names.md.
MIN_STEP_RATIO = 0.85
#: A region narrower than this share of the most confident region's width is not a disc (posterior
#: elements). Dimensionless (width / most confident region's width).
MIN_WIDTH_RATIO = 0.5


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


def anatomical_filter(boxes: np.ndarray, scores: np.ndarray, *, drop_low_outliers: bool = True) -> np.ndarray:
    """Boolean mask of the regions kept by the two rules in the module docstring (the second,
    a far-below lowest region, only with ``drop_low_outliers``)."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    keep = np.ones(len(boxes), dtype=bool)
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    min_step = MIN_STEP_RATIO * float(np.median(boxes[:, 3] - boxes[:, 1])) if len(boxes) else 0.0
    for i in np.argsort(-scores, kind="stable"):
        if not keep[i]:
            continue
        inside = (cy > boxes[i, 1]) & (cy < boxes[i, 3])  # centre inside its rows (the rule before the step)
        near = (inside | (np.abs(cy - cy[i]) < min_step)) & (scores <= scores[i]) & keep
        near[i] = False
        keep &= ~near
    while drop_low_outliers and keep.sum() >= 4:
        idx = np.where(keep)[0]
        ys = np.sort(cy[idx])
        gaps = np.diff(ys)
        if gaps[-1] > MAX_GAP_RATIO * np.median(gaps[:-1]):
            keep[idx[np.argmax(cy[idx])]] = False
        else:
            break
    return keep


#: Regions at or above this confidence are sure discs: they fix the local disc spacing.
SURE_THRESHOLD = 0.95
#: Two neighbouring sure discs at most this many local spacings apart are adjacent levels: a region
#: between them is a vertebral body, not a disc. Dimensionless (distance / local sure-disc spacing);
#: its choice and check on the cross-validation
#: folds are in docs/level_names.md. Two sure discs two levels apart
#: with every sure step around them also two levels long (discs between them all below
#: ``SURE_THRESHOLD``) look the same: :func:`name_regions` therefore flags every drop as uncertain.
ADJACENT_RATIO = 1.4
#: Regions within this share of a step from either sure disc are left to :func:`anatomical_filter`
#: (duplicates of that disc).
BETWEEN_MARGIN = 0.25


def between_mask(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Boolean mask that drops regions lying between two adjacent sure discs.

    ``boxes``: (N, 4) x0, y0, x1, y1 in pixels of one sagittal slice; steps are centre-row distances
    in those pixels. Sure discs score at least ``SURE_THRESHOLD`` (pass ``np.inf`` for a region that
    must count as sure, e.g. the anchor). Two neighbouring sure discs are adjacent when their centre
    step is at most ``ADJACENT_RATIO`` times the median of the other sure steps nearby (two on each
    side, or the two on the one side at either end of the column);
    a less confident region whose centre lies between them, further than ``BETWEEN_MARGIN`` of the
    step from both, is a vertebral body boxed like a disc and is dropped. Between sure discs
    further apart (a missed disc) nothing is dropped. With fewer than four sure discs every region
    is kept.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    keep = np.ones(len(boxes), dtype=bool)
    sure = np.where(scores >= SURE_THRESHOLD)[0]
    if len(sure) < 4:
        return keep
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    ys = np.sort(cy[sure])
    steps = np.diff(ys)
    for j, step in enumerate(steps):
        near = np.delete(steps[max(0, j - 2):j + 3], min(j, 2))
        if step > ADJACENT_RATIO * float(np.median(near)):
            continue
        lo, hi = ys[j] + BETWEEN_MARGIN * step, ys[j + 1] - BETWEEN_MARGIN * step
        keep &= ~((cy > lo) & (cy < hi) & (scores < SURE_THRESHOLD))
    return keep


# --------------------------------------------------------------------------- naming that does not move


#: A region whose L5-S1-class score reaches this is the sacral anchor of the count (the highest one).
ANCHOR_THRESHOLD = 0.3
#: An anchor scored below this still fixes the names, but the naming is flagged uncertain. In the
#: 5-fold CV 112 of the 114 anchors that named L5-S1 right scored >= 0.9; detectors meeting a
#: scanner maker they were not trained on put wrong anchors (a sacral segment taken for L5-S1) at
#: 0.48-0.86 (``python -m modic_core.train.detector_transfer``; the value was chosen after those runs).
ANCHOR_SURE = 0.9
#: An anchor candidate with more confident discs than this below it is not L5-S1 (the next one is tried).
MAX_BELOW_ANCHOR = 1
#: Detector class labels: 1 = intervertebral region, 2 = the L5-S1 region (anchor).
DISC_CLASS, ANCHOR_CLASS = 1, 2


def merge_classes(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray | None, *, iou: float = 0.5):
    """One region per location from a multi-class detector output.

    Faster R-CNN returns a box per class for the same region. Boxes are clustered greedily
    (highest score first, IoU >= ``iou`` with the cluster's first box); a cluster keeps its first
    box, its region score is min(1, best disc-class score + best anchor-class score) (the
    probability of being any intervertebral region) and its anchor score is the best anchor-class
    score. Without labels (single-class weights) boxes and scores pass through, anchor scores 0.
    Returns (boxes (M, 4), scores (M,), anchor scores (M,)), by descending score.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if labels is None or len(boxes) == 0:
        return boxes, scores, np.zeros(len(boxes))
    labels = np.asarray(labels).reshape(-1)
    if not (labels == ANCHOR_CLASS).any():
        return boxes, scores, np.zeros(len(boxes))
    order = np.argsort(-scores, kind="stable")
    ious = box_iou(boxes, boxes)
    heads: list[int] = []
    best: list[dict[int, float]] = []
    for i in order:
        for h, b in zip(heads, best):
            if ious[i, h] >= iou:
                b[int(labels[i])] = max(b.get(int(labels[i]), 0.0), float(scores[i]))
                break
        else:
            heads.append(int(i))
            best.append({int(labels[i]): float(scores[i])})
    region = np.array([min(1.0, b.get(DISC_CLASS, 0.0) + b.get(ANCHOR_CLASS, 0.0)) for b in best])
    anchor = np.array([b.get(ANCHOR_CLASS, 0.0) for b in best])
    o = np.argsort(-region, kind="stable")
    return boxes[heads][o].reshape(-1, 4), region[o], anchor[o]


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
    when the count cannot be trusted (few discs, a gap, irregular spacing, a weak anchor);
    ``anchor``: index of the candidate the count starts from as L5-S1 when the detector's L5-S1
    class found it (None: counted from the lowest confident disc), ``anchor_score`` its L5-S1 score.
    """

    slots: tuple[int | None, ...]
    uncertain: bool
    reasons: tuple[str, ...] = ()
    anchor: int | None = None
    anchor_score: float | None = None

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


def width_mask(boxes: np.ndarray, scores: np.ndarray, *, min_ratio: float | None = None) -> np.ndarray:
    """Boolean mask of regions at least ``min_ratio`` times as wide as the most confident region
    (narrow boxes on the posterior elements are not discs; default ``MIN_WIDTH_RATIO``)."""
    min_ratio = MIN_WIDTH_RATIO if min_ratio is None else min_ratio
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if len(boxes) == 0:
        return np.ones(0, dtype=bool)
    w = boxes[:, 2] - boxes[:, 0]
    return w >= min_ratio * w[int(np.argmax(scores))]


def name_regions(
    boxes: np.ndarray, scores: np.ndarray, *, anchor: np.ndarray | None = None, reference: float = REFERENCE_THRESHOLD,
    anchor_sure: float = ANCHOR_SURE,
) -> LevelNaming:
    """Fix every candidate's level name once, independent of the display threshold.

    1. Off-column and narrow regions (:func:`column_mask`, :func:`width_mask`) and
       duplicates/vertebral bodies/sacral remnants
       (:func:`anatomical_filter`, :func:`between_mask` on the confident regions) get no name; a
       region dropped by :func:`between_mask` makes the naming uncertain.
    2. The anchor: the on-column region with the highest L5-S1-class score (``anchor``, one per
       region; None for single-class weights) that reaches ``ANCHOR_THRESHOLD`` and has at most
       ``MAX_BELOW_ANCHOR`` confident discs below it (a sacral remnant); it is L5-S1 and regions
       below it get no name; an anchor scored below ``anchor_sure`` makes the naming uncertain.
       Without an anchor the lowest confident region is L5-S1 and the naming is uncertain.
    3. The anchor plus the regions with confidence >= ``reference`` above it are the reference
       column; names count upward from L5-S1, leaving a gap where neighbours are more than
       ``GAP_RATIO`` local spacings apart (a missed disc).
    4. Every other region takes the slot its position implies between (or beyond) reference discs;
       a region within half a spacing of a reference disc is its duplicate (no name).
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    n = len(boxes)
    slots: list[int | None] = [None] * n
    reasons: list[str] = []
    if n == 0:
        return LevelNaming((), True, ("no region found",))
    ok = column_mask(boxes, scores, reference=reference) & width_mask(boxes, scores)
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    a = None
    conf = np.where(ok & (scores >= reference))[0]
    if anchor is not None:
        anchor = np.asarray(anchor, dtype=float).reshape(-1)
        cand = sorted(np.where(ok & (anchor >= ANCHOR_THRESHOLD))[0], key=lambda i: -anchor[i])
        for i in cand:  # at most one confident disc (a sacral remnant) may lie below L5-S1
            half = (boxes[i, 3] - boxes[i, 1]) / 2
            if sum(cy[j] > cy[i] + half for j in conf) <= MAX_BELOW_ANCHOR:
                a = int(i)
                break
        if a is None:
            reasons.append("the L5-S1 disc on the sacrum was not identified")
        elif anchor[a] < anchor_sure:
            reasons.append(f"the L5-S1 disc was detected with low confidence, {anchor[a]:.2f}")
    if a is not None:
        half = (boxes[a, 3] - boxes[a, 1]) / 2
        conf = np.array([i for i in conf if i != a and cy[i] < cy[a] - half] + [a], dtype=int)
        pri = scores[conf].copy()
        pri[-1] = np.inf  # the anchor wins its duplicates
        keep = anatomical_filter(boxes[conf], pri, drop_low_outliers=False)
    else:
        pri = scores[conf]
        keep = anatomical_filter(boxes[conf], pri) if len(conf) else np.zeros(0, dtype=bool)
    if keep.any():
        between = between_mask(boxes[conf][keep], pri[keep])
        if not between.all():
            reasons.append("a region between two detected discs was taken for a vertebral body and left unnamed")
        keep[keep] = between
    found = {"anchor": a, "anchor_score": None if a is None or anchor is None else float(anchor[a])}
    ref_mask = np.zeros(n, dtype=bool)
    ref_mask[conf[keep]] = True
    ref = [int(i) for i in np.where(ref_mask)[0]]
    ref.sort(key=lambda i: -cy[i])  # bottom first
    if len(ref) < 2:
        order = sorted(np.where(ok)[0], key=lambda i: -cy[i])
        if a is not None:
            order = [i for i in order if cy[i] <= cy[a]]
        for k, i in enumerate(order):
            slots[i] = k
        return LevelNaming(tuple(slots), True, tuple(reasons) + ("fewer than two confident discs",), **found)
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
    return LevelNaming(tuple(slots), bool(reasons), tuple(reasons), **found)
