"""Synthetic Modic type 1 lesions painted into real MC0 crops (training augmentation).

MC1 (oedema) is T1-hypointense and T2-hyperintense marrow beside an endplate. Only 4 real MC1
discs exist in the training data, so the classifier can be shown synthetic ones: in a crop
(2, D, H, W) centred on the region, a band of the vertebral body next to the upper or lower
endplate (starting at the disc edge, taken as 40 % of the box's half height from its centre;
depth 4-10 mm; the central 70 % of the region's width; soft edges) is blended towards
a dark T1 value (the crop's 5th percentile) and a bright T2 value (its 97th percentile) with
strength 0.5-0.9. Targets come from the crop itself, so the lesion is expressed in whatever
intensity normalization the crop has.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["paint_mc1"]

DISC_SHARE = 0.4  # half the disc's height as a share of half the region box's height (spider2d boxes)


def _smooth(mask: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([0.25, 0.5, 0.25])
    m = mask[None, None]
    m = F.conv2d(F.pad(m, (1, 1, 0, 0), mode="replicate"), k.view(1, 1, 1, 3))
    m = F.conv2d(F.pad(m, (0, 0, 1, 1), mode="replicate"), k.view(1, 1, 3, 1))
    return m[0, 0]


def paint_mc1(
    crops: torch.Tensor,
    half_height_px: np.ndarray,
    half_width_px: np.ndarray,
    rng: np.random.Generator,
    *,
    pixel_mm: float,
) -> torch.Tensor:
    """Copies of ``crops`` (N, 2, D, H, W) with one synthetic MC1 band each.

    ``half_height_px``/``half_width_px``: half the region box's height/width in crop pixels
    (the box edges sit at the endplates).
    """
    out = crops.clone()
    n, _, d, h, w = crops.shape
    rows = torch.arange(h, dtype=torch.float32)[:, None]
    cols = torch.arange(w, dtype=torch.float32)[None, :]
    for i in range(n):
        hh, hw = float(half_height_px[i]), float(half_width_px[i])
        depth = rng.uniform(4.0, 10.0) / pixel_mm
        # the disc fills about the middle 40 % of the box's height; the band starts at its edge
        if rng.random() < 0.5:  # upper endplate: marrow of the vertebra above
            edge = (h - 1) / 2 - DISC_SHARE * hh
            band = (rows >= edge - depth) & (rows <= edge)
        else:  # lower endplate: marrow of the vertebra below
            edge = (h - 1) / 2 + DISC_SHARE * hh
            band = (rows >= edge) & (rows <= edge + depth)
        cw = 0.7 * hw
        ap = (cols >= (w - 1) / 2 - cw) & (cols <= (w - 1) / 2 + cw)
        mask = _smooth((band & ap).float()) * float(rng.uniform(0.5, 0.9))
        t1, t2 = out[i, 0], out[i, 1]
        lo = torch.quantile(t1.flatten(), 0.05)
        hi = torch.quantile(t2.flatten(), 0.97)
        texture = 1.0 + 0.05 * torch.from_numpy(rng.standard_normal((h, w)).astype(np.float32))
        out[i, 0] = t1 * (1 - mask) + lo * mask * texture
        out[i, 1] = t2 * (1 - mask) + hi * mask * texture
    return out
