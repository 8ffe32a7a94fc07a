"""Axis-aligned boxes: the one intersection-over-union of the project.

Boxes are (x0, y0, x1, y1) in pixels, continuous rectangles [x0, x1] x [y0, y1] (area
(x1 - x0)(y1 - y0), no +1), as torchvision's detectors return them. Every caller (detection's
class merging and slice fusion, the demo and teaching truth matching, the detection metrics) uses
:func:`box_iou`; the arithmetic is torchvision's ``torchvision.ops.box_iou``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["box_iou"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (G, P), float64 in [0, 1], of boxes ``a`` (G, 4) against boxes ``b`` (P, 4).

    An inverted box (x1 < x0 or y1 < y0) has no area and overlaps nothing: IoU 0, as is the IoU
    of two boxes without area (torchvision's 0 / 0). Either set empty: a (G, P) array of zeros.
    """
    # torch/torchvision load in seconds: imported on the first comparison, not by the modules that import boxes
    # lazy: torch and torchvision are heavy; only the model path needs it
    import torch
    from torchvision.ops import box_iou as torchvision_box_iou

    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))

    def valid(x: np.ndarray) -> torch.Tensor:
        x = x.copy()
        x[:, 2] = np.maximum(x[:, 2], x[:, 0])
        x[:, 3] = np.maximum(x[:, 3], x[:, 1])
        return torch.from_numpy(x)

    with np.errstate(invalid="ignore"):
        m = torchvision_box_iou(valid(a), valid(b)).numpy()
    return np.nan_to_num(m, nan=0.0).clip(0, 1)
