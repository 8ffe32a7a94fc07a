"""Test-time augmentation of the detector: an anterior-posterior flip, fused by weighted box fusion.

The detector was trained with random horizontal flips (columns = anterior-posterior on a
sagittal slice), so the flipped slice is an image of the same kind. Each slice is run as is and
flipped; the flipped pass's boxes are mapped back (:func:`unflip_boxes`) and the two passes are
fused per class by :func:`weighted_box_fusion`: the box of a cluster is the score-weighted mean
of its members' coordinates and its score is the sum of member scores divided by the number of
passes (a box found in one pass of two scores half).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["FUSION_IOU", "unflip_boxes", "weighted_box_fusion"]

#: A box joins a cluster of the same class (from another pass) when its IoU with the cluster's
#: fused box reaches this (the WBF paper's default, 0.55).
FUSION_IOU = 0.55


def unflip_boxes(boxes: np.ndarray, width: float) -> np.ndarray:
    """Boxes (N, 4) (x0, y0, x1, y1) found on an image flipped left-right, mapped back onto the
    original image of ``width`` columns (continuous pixel coordinates: x -> width - x)."""
    b = np.array(boxes, dtype=float).reshape(-1, 4)
    b[:, [0, 2]] = float(width) - b[:, [2, 0]]
    return b


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) with each of (M, 4) boxes."""
    if len(boxes) == 0:
        return np.zeros(0)
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_box_fusion(
    passes: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    iou: float = FUSION_IOU,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Fuse the detections of several passes over the same image.

    ``passes``: one (boxes (N, 4), scores (N,), labels (N,) or None) per pass, boxes in the same
    pixel frame. Per class, boxes are taken by descending score; a box joins the first cluster
    whose fused box it overlaps with IoU >= ``iou`` and that has no member from its pass yet,
    else it starts a cluster. A cluster's box is the score-weighted mean of its members, its
    score the sum of member scores divided by ``len(passes)``.
    Returns (boxes (M, 4), scores (M,), labels (M,) or None) by descending score.
    """
    if not passes:
        raise ValueError("weighted_box_fusion needs at least one pass")
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must be in (0, 1], got {iou}")
    has_labels = passes[0][2] is not None
    items = []
    for p, (boxes, scores, labels) in enumerate(passes):
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        scores = np.asarray(scores, dtype=float).reshape(-1)
        labels = np.ones(len(scores), dtype=int) if labels is None else np.asarray(labels).reshape(-1)
        items += [(float(s), p, int(c), b) for b, s, c in zip(boxes, scores, labels)]
    items.sort(key=lambda t: -t[0])
    fused: list[np.ndarray] = []
    members: list[list[tuple[float, np.ndarray]]] = []
    seen: list[set[int]] = []
    cls: list[int] = []
    for s, p, c, b in items:
        same = [j for j in range(len(fused)) if cls[j] == c and p not in seen[j]]
        ious = _iou(b, np.array([fused[j] for j in same]).reshape(-1, 4))
        hit = next((j for j, o in zip(same, ious) if o >= iou), None)
        if hit is None:
            fused.append(b.copy())
            members.append([(s, b)])
            seen.append({p})
            cls.append(c)
            continue
        members[hit].append((s, b))
        seen[hit].add(p)
        w = np.array([m[0] for m in members[hit]])
        fused[hit] = np.average(np.array([m[1] for m in members[hit]]), axis=0, weights=np.maximum(w, 1e-12))
    n = len(passes)
    scores_out = np.array([sum(m[0] for m in ms) / n for ms in members])
    order = np.argsort(-scores_out, kind="stable")
    boxes_out = np.array(fused, dtype=float).reshape(-1, 4)[order]
    labels_out = np.array(cls, dtype=int)[order] if has_labels else None
    return boxes_out, scores_out[order], labels_out
