"""Synthetic Modic type 1 lesions painted into real MC0 crops (training augmentation).

MC1 (oedema) is T1-hypointense and T2-hyperintense marrow beside an endplate. Only 4 real MC1
discs exist in the training data, so the classifier can be shown synthetic ones: in a crop
(2, D, H, W) centred on the region, a band of the vertebral body next to the upper or lower
endplate (starting at the disc edge, taken as 40 % of the box's half height from its centre;
depth 4-10 mm; the central 70 % of the region's width; soft edges) is blended towards
a dark T1 value (the crop's 5th percentile) and a bright T2 value (its 97th percentile) with
strength 0.5-0.9. Targets come from the crop itself, so the lesion is expressed in whatever
intensity normalization the crop has.

The band's geometry (:func:`mc1_band`) and blend (:func:`blend_mc1`) also paint the teaching page's
lesion-inserted cases (:func:`modic_core.ui.teaching_cases.insert_mc1`) on whole images.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["ENDPLATE_SIDES", "blend_mc1", "mc1_band", "paint_mc1"]

DISC_SHARE = 0.4  # half the disc's height as a share of half the region box's height (spider2d boxes)
AP_SHARE = 0.7  # the band covers the central 70 % of the region's width
ENDPLATE_SIDES = ("upper", "lower", "both")


def _smooth(mask: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([0.25, 0.5, 0.25])
    m = mask[None, None]
    m = F.conv2d(F.pad(m, (1, 1, 0, 0), mode="replicate"), k.view(1, 1, 1, 3))
    m = F.conv2d(F.pad(m, (0, 0, 1, 1), mode="replicate"), k.view(1, 1, 3, 1))
    return m[0, 0]


def mc1_band(
    shape_hw: tuple[int, int],
    *,
    centre_yx: tuple[float, float],
    half_height_px: float,
    half_width_px: float,
    endplate: str,
    depth_px: float,
) -> torch.Tensor:
    """Soft mask (H, W) float32 in [0, 1] of a synthetic MC1 band on a plane of ``shape_hw`` pixels.

    ``centre_yx``: the region box's centre (row, column, pixel coordinates); ``half_height_px`` /
    ``half_width_px``: half its height / width in pixels (the box edges sit at the endplates).
    The disc fills the middle ``DISC_SHARE`` of the box's height; the band starts at the disc's
    edge and reaches ``depth_px`` pixels into the vertebral body above (``endplate="upper"``),
    below (``"lower"``) or both (``"both"``), over the central ``AP_SHARE`` of the box's width;
    its edges are smoothed by one pixel. Rows grow downwards (inferior).
    """
    if endplate not in ENDPLATE_SIDES:
        raise ValueError(f"endplate must be one of {ENDPLATE_SIDES}, not {endplate!r}")
    h, w = shape_hw
    cy, cx = centre_yx
    rows = torch.arange(h, dtype=torch.float32)[:, None]
    cols = torch.arange(w, dtype=torch.float32)[None, :]
    band = torch.zeros((h, w), dtype=torch.bool)
    if endplate in ("upper", "both"):  # marrow of the vertebra above
        edge = cy - DISC_SHARE * half_height_px
        band |= (rows >= edge - depth_px) & (rows <= edge)
    if endplate in ("lower", "both"):  # marrow of the vertebra below
        edge = cy + DISC_SHARE * half_height_px
        band |= (rows >= edge) & (rows <= edge + depth_px)
    cw = AP_SHARE * half_width_px
    ap = (cols >= cx - cw) & (cols <= cx + cw)
    return _smooth((band & ap).float())


def blend_mc1(t1: torch.Tensor, t2: torch.Tensor, mask: torch.Tensor, *, dark, bright, texture: torch.Tensor):
    """(T1, T2) planes blended towards ``dark`` on T1 and ``bright`` on T2 where ``mask`` (same shape,
    weights in [0, 1]) is set, each target times ``texture`` (multiplicative, ~1). New tensors."""
    return t1 * (1 - mask) + dark * mask * texture, t2 * (1 - mask) + bright * mask * texture


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
    centre = ((h - 1) / 2, (w - 1) / 2)
    for i in range(n):
        hh, hw = float(half_height_px[i]), float(half_width_px[i])
        depth = rng.uniform(4.0, 10.0) / pixel_mm
        side = "upper" if rng.random() < 0.5 else "lower"
        band = mc1_band((h, w), centre_yx=centre, half_height_px=hh, half_width_px=hw, endplate=side, depth_px=depth)
        mask = band * float(rng.uniform(0.5, 0.9))
        t1, t2 = out[i, 0], out[i, 1]
        lo = torch.quantile(t1.flatten(), 0.05)
        hi = torch.quantile(t2.flatten(), 0.97)
        texture = 1.0 + 0.05 * torch.from_numpy(rng.standard_normal((h, w)).astype(np.float32))
        out[i, 0], out[i, 1] = blend_mc1(t1, t2, mask, dark=lo, bright=hi, texture=texture)
    return out
