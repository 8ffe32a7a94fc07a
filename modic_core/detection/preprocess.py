"""Resampling a sagittal slice to the detector's fixed in-plane grid, and back."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DETECTOR_SPACING_MM", "to_detector_grid", "normalize_for_detector"]

DETECTOR_SPACING_MM = 1.0  # in-plane pixel size (mm) the detector sees, rows and columns


def normalize_for_detector(image: np.ndarray) -> np.ndarray:
    """1st-99.5th percentile of the slice mapped to [0, 1] (the detector's own, fixed normalization)."""
    img = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(img, [1.0, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def to_detector_grid(image: np.ndarray, spacing_yx: tuple[float, float]) -> tuple[torch.Tensor, np.ndarray]:
    """Resample a (rows, columns) slice to :data:`DETECTOR_SPACING_MM` and normalize it.

    Returns the tensor (1, rows', columns') and the scale (sy, sx) with
    detector_pixel = original_pixel * scale.
    """
    img = normalize_for_detector(image)
    sy = float(spacing_yx[0]) / DETECTOR_SPACING_MM
    sx = float(spacing_yx[1]) / DETECTOR_SPACING_MM
    h = max(32, int(round(img.shape[0] * sy)))
    w = max(32, int(round(img.shape[1] * sx)))
    t = torch.from_numpy(np.ascontiguousarray(img))[None, None]
    t = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    return t, np.array([h / img.shape[0], w / img.shape[1]])
