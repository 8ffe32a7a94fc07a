"""Undoing the box inflation that the detector learned from its rotation augmentation.

Training rotates each slice by an angle drawn uniformly from ±``TRAIN_ROTATION_DEG`` and takes
the bounding box of the rotated box's corners as the target. For a wide, flat disc box
(w x h) rotated by t that target is (w|cos t| + h|sin t|) x (h|cos t| + w|sin t|): on average
taller by a factor of about 1 + 0.044 w / h (~8.5 % for a 2:1 disc). The detector learns the
average target, so its boxes come out inflated by the mean of that map. :func:`deinflate_boxes`
inverts the mean map about each box's centre::

    w' = c w + s h,   h' = c h + s w,   c = E|cos t| = sin(a) / a,   s = E|sin t| = (1 - cos a) / a

with a = ``TRAIN_ROTATION_DEG`` in radians. Nothing is fitted: a is the augmentation's range.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["TRAIN_ROTATION_DEG", "deinflate_boxes", "inflation_coefficients"]

#: Rotation range (±degrees) of the training augmentation of the shipped detector weights
#: (``modic_core.train.detector._random_affine`` uses this constant). 0 turns the correction off.
TRAIN_ROTATION_DEG = 5.0


def inflation_coefficients(max_rotation_deg: float) -> tuple[float, float]:
    """(c, s) = (E|cos t|, E|sin t|) for t uniform in ±``max_rotation_deg`` degrees."""
    if not 0.0 <= max_rotation_deg < 45.0:
        raise ValueError(f"max_rotation_deg must be in [0, 45), got {max_rotation_deg}")
    a = math.radians(max_rotation_deg)
    if a == 0.0:
        return 1.0, 0.0
    return math.sin(a) / a, (1.0 - math.cos(a)) / a


def deinflate_boxes(boxes: np.ndarray, *, max_rotation_deg: float = TRAIN_ROTATION_DEG) -> np.ndarray:
    """Boxes (N, 4) (x0, y0, x1, y1), pixels, shrunk about their centres by the inverse of the mean
    rotation inflation (module docstring). A size the inverse would bring under half the
    detected size keeps half (a box taller than wide is never shrunk to nothing)."""
    b = np.array(boxes, dtype=float).reshape(-1, 4)
    c, s = inflation_coefficients(max_rotation_deg)
    if s == 0.0 or len(b) == 0:
        return b
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    det = c * c - s * s
    w0 = np.maximum((c * w - s * h) / det, 0.5 * w)
    h0 = np.maximum((c * h - s * w) / det, 0.5 * h)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    return np.stack([cx - w0 / 2, cy - h0 / 2, cx + w0 / 2, cy + h0 / 2], axis=1)
