"""Pictures of the T1/T2 alignment check: a checkerboard of the two sequences on the T1 grid.

Where the two line up, vertebral edges run straight across tile borders; a table move shows as
edges that jump at every border. Both slices are windowed to their own 1st-99th percentile first.
"""
from __future__ import annotations

import numpy as np

__all__ = ["checkerboard"]


def _window(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    body = a[a > 0]
    if body.size < 16:
        return np.zeros_like(a, dtype=np.uint8)
    lo, hi = np.percentile(body, [1, 99])
    if hi <= lo:
        hi = lo + 1.0
    return (np.clip((a - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def checkerboard(t1_slice: np.ndarray, t2_slice: np.ndarray, *, tile_px: int = 32) -> np.ndarray:
    """uint8 (y, x) image: T1 and T2 (resampled onto the T1 grid) in alternating square tiles.

    Args:
        t1_slice, t2_slice: one sagittal slice each, same (y, x) shape, any intensity unit.
        tile_px: tile side in pixels (>= 4).
    """
    a, b = np.asarray(t1_slice), np.asarray(t2_slice)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"checkerboard needs two 2D slices of one shape, got {a.shape} and {b.shape}")
    tile_px = max(4, int(tile_px))
    yy, xx = np.indices(a.shape)
    use_t2 = ((yy // tile_px) + (xx // tile_px)) % 2 == 1
    return np.where(use_t2, _window(b), _window(a))
