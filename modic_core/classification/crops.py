"""Paired T1/T2 crops around an intervertebral region on a fixed millimetre grid.

A crop is (2, D, H, W) = (T1/T2 channel, slices, rows, columns). In-plane it is resampled
(bilinear) to ``pixel_mm`` around the region's centre; ``H x W`` pixels cover
``H * pixel_mm`` mm superior-inferior by ``W * pixel_mm`` mm anterior-posterior, enough for the
disc, both endplates and the adjacent halves of the vertebral bodies where Modic changes lie.
Along the slice axis the crop takes D consecutive native slices centred on the region's slice
(depth stride 1), padding with zeros outside the volume.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CropSpec", "crop_grid", "extract_crops", "paste_back", "paste_back_patches"]


@dataclass(frozen=True)
class CropSpec:
    height: int = 48  # rows (superior-inferior), pixels of pixel_mm: 60 mm
    width: int = 56  # columns (anterior-posterior): 70 mm
    depth: int = 1  # slices
    pixel_mm: float = 1.25

    def to_dict(self) -> dict:
        return asdict(self)


def crop_grid(center_yx: tuple[float, float], spacing_yx: tuple[float, float], spec: CropSpec) -> tuple[np.ndarray, np.ndarray]:
    """Continuous T1 pixel coordinates (rows (H,), columns (W,)) of the crop's sample points."""
    cy, cx = center_yx
    rows = cy + (np.arange(spec.height) - (spec.height - 1) / 2) * spec.pixel_mm / spacing_yx[0]
    cols = cx + (np.arange(spec.width) - (spec.width - 1) / 2) * spec.pixel_mm / spacing_yx[1]
    return rows, cols


def _sample(slices: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
    """Bilinear samples of (C, D, Y, X) at the grid rows x cols -> (C, D, H, W); zeros outside."""
    C, D, Y, X = slices.shape
    gy = torch.from_numpy((2 * rows / max(Y - 1, 1) - 1).astype(np.float32))
    gx = torch.from_numpy((2 * cols / max(X - 1, 1) - 1).astype(np.float32))
    yy, xx = torch.meshgrid(gy, gx, indexing="ij")
    grid = torch.stack([xx, yy], dim=-1)[None].expand(D, -1, -1, -1)
    out = F.grid_sample(slices.permute(1, 0, 2, 3), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.permute(1, 0, 2, 3)


def _readable(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous float32 array torch can wrap (a copy only when it must)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    return a if a.flags.writeable else a.copy()


def extract_crops(
    t1: np.ndarray,
    t2: np.ndarray,
    boxes: np.ndarray,
    z_centers: list[int] | np.ndarray,
    spacing_yx: tuple[float, float],
    spec: CropSpec,
    *,
    jitter_mm: np.ndarray | None = None,
) -> torch.Tensor:
    """Crops (N, 2, D, H, W) from normalized T1 and T2 arrays (z, y, x) on the same grid.

    ``boxes`` (N, 4) = (x0, y0, x1, y1) in pixels; ``jitter_mm`` (N, 2) shifts centres (dy, dx) in mm.
    """
    # Only the slices a crop needs are copied: stacking both whole volumes cost 2 x 2 copies of a
    # series (1 GB transient for a 64 Mi-voxel pair).
    pair = [torch.from_numpy(_readable(a)) for a in (t1, t2)]  # (Z, Y, X) each, not copied when float32
    Z, Y, X = pair[0].shape
    out = []
    for i, (b, zc) in enumerate(zip(np.asarray(boxes, float).reshape(-1, 4), z_centers)):
        cy, cx = (b[1] + b[3]) / 2, (b[0] + b[2]) / 2
        if jitter_mm is not None:
            cy += jitter_mm[i, 0] / spacing_yx[0]
            cx += jitter_mm[i, 1] / spacing_yx[1]
        rows, cols = crop_grid((cy, cx), spacing_yx, spec)
        zs = int(zc) + np.arange(spec.depth) - spec.depth // 2
        valid = (zs >= 0) & (zs < Z)
        sl = torch.zeros((2, spec.depth, Y, X))
        for c, v in enumerate(pair):
            sl[c, valid] = v[zs[valid]]
        out.append(_sample(sl, rows, cols))
    if not out:
        return torch.zeros((0, 2, spec.depth, spec.height, spec.width))
    return torch.stack(out)


def paste_back_patches(
    heat: np.ndarray,
    box: tuple[float, float, float, float],
    z_center: int,
    spacing_yx: tuple[float, float],
    spec: CropSpec,
    shape: tuple[int, int, int],
) -> list[tuple[int, int, int, np.ndarray]]:
    """A crop-grid map (D, H, W) resampled onto the T1 grid, kept local: ``[(z, row0, col0, values (h, w))]``.

    One float32 patch per slice of the crop that lies inside the volume, covering only the
    T1 pixels under the crop (bilinear); :func:`paste_back` places them in a full volume.
    """
    from scipy.ndimage import map_coordinates  # lazy: scipy is heavy; only this computation needs it

    Z, Y, X = shape
    cy, cx = (box[1] + box[3]) / 2, (box[0] + box[2]) / 2
    rows, cols = crop_grid((cy, cx), spacing_yx, spec)
    r0, r1 = max(0, int(np.floor(rows.min()))), min(Y - 1, int(np.ceil(rows.max())))
    c0, c1 = max(0, int(np.floor(cols.min()))), min(X - 1, int(np.ceil(cols.max())))
    if r1 < r0 or c1 < c0:
        return []
    yy, xx = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
    # fractional crop indices of each T1 pixel
    fi = (yy - rows[0]) / (rows[1] - rows[0]) if spec.height > 1 else np.zeros_like(yy, float)
    fj = (xx - cols[0]) / (cols[1] - cols[0]) if spec.width > 1 else np.zeros_like(xx, float)
    out = []
    for d in range(spec.depth):
        z = int(z_center) + d - spec.depth // 2
        if 0 <= z < Z:
            vals = map_coordinates(heat[d].astype(np.float32), [fi, fj], order=1, mode="constant", cval=0.0)
            out.append((z, r0, c0, vals.astype(np.float32, copy=False)))
    return out


def paste_back(
    heat: np.ndarray,
    box: tuple[float, float, float, float],
    z_center: int,
    spacing_yx: tuple[float, float],
    spec: CropSpec,
    shape: tuple[int, int, int],
) -> np.ndarray:
    """Place a crop-grid map (D, H, W) back on the T1 grid (z, y, x); zero outside the crop."""
    out = np.zeros(shape, dtype=np.float32)
    for z, r0, c0, vals in paste_back_patches(heat, box, z_center, spacing_yx, spec, shape):
        h, w = vals.shape
        np.maximum(out[z, r0 : r0 + h, c0 : c0 + w], vals, out=out[z, r0 : r0 + h, c0 : c0 + w])
    return out
