"""Where a crop's heat-map mass lies: the disc band, the two marrow bands beside the endplates, the rest.

A crop (:mod:`modic_core.classification.crops`) is centred on an intervertebral region box
(x0, y0, x1, y1) in T1 pixels that covers the disc with both adjacent endplates. In crop
pixels (rows superior-inferior, columns anterior-posterior), within the box's columns:

- **disc**: the central ``disc_fraction`` of the box height (the disc itself; SPIDER boxes are
  ~25 mm tall for a ~10 mm disc, so 0.4 by default);
- **upper / lower marrow**: the box rows above / below the disc band (endplate and the vertebral
  marrow beside it), extended ``margin_mm`` beyond the box into the vertebral bodies;
- **outside**: every other crop pixel.

The masks are disjoint and cover the crop. Pixel centres decide membership.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modic_core.classification.crops import CropSpec

__all__ = ["DISC_FRACTION", "Bands", "band_masks", "band_shares"]

#: Share of a region box's height taken by the disc (central band); the rest is endplate and marrow.
DISC_FRACTION = 0.4


@dataclass(frozen=True)
class Bands:
    """Boolean masks (H, W) of one crop; ``marrow`` = upper | lower."""

    disc: np.ndarray
    upper: np.ndarray
    lower: np.ndarray

    @property
    def marrow(self) -> np.ndarray:
        return self.upper | self.lower

    @property
    def outside(self) -> np.ndarray:
        return ~(self.disc | self.marrow)


def band_masks(box: tuple[float, float, float, float], spacing_yx: tuple[float, float], spec: CropSpec, *,
               disc_fraction: float = DISC_FRACTION, margin_mm: float = 5.0) -> Bands:
    """Band masks of the crop centred on ``box`` (T1 pixels; ``spacing_yx`` in mm per T1 row, column)."""
    if not 0 < disc_fraction < 1:
        raise ValueError(f"disc_fraction must lie in (0, 1), got {disc_fraction!r}")
    if margin_mm < 0:
        raise ValueError(f"margin_mm must be >= 0, got {margin_mm!r}")
    x0, y0, x1, y1 = (float(v) for v in box)
    # half sizes of the box in crop pixels, and each crop pixel's offset from the crop centre
    hh = abs(y1 - y0) / 2 * spacing_yx[0] / spec.pixel_mm
    hw = abs(x1 - x0) / 2 * spacing_yx[1] / spec.pixel_mm
    dy = (np.arange(spec.height) - (spec.height - 1) / 2)[:, None]
    dx = (np.arange(spec.width) - (spec.width - 1) / 2)[None, :]
    cols = np.abs(dx) <= hw
    disc = (np.abs(dy) <= disc_fraction * hh) & cols
    reach = hh + margin_mm / spec.pixel_mm
    upper = (dy < -disc_fraction * hh) & (dy >= -reach) & cols
    lower = (dy > disc_fraction * hh) & (dy <= reach) & cols
    full = (spec.height, spec.width)
    return Bands(np.broadcast_to(disc, full).copy(), np.broadcast_to(upper, full).copy(), np.broadcast_to(lower, full).copy())


def band_shares(heat: np.ndarray, bands: Bands) -> dict[str, float] | None:
    """Shares of a map's mass (H, W) or (D, H, W), summed over slices, in "disc" / "marrow" / "outside"
    (they add up to 1), and "marrow_denser": 1.0 when the mean map value per pixel is higher in the
    marrow bands than in the disc band (mass per area: the marrow bands are larger), else 0.0.
    None when the map has no mass."""
    h = np.asarray(heat, dtype=np.float64)
    h = h.sum(0) if h.ndim == 3 else h
    total = float(h.sum())
    if not total > 0:
        return None
    disc, marrow = float(h[bands.disc].sum()), float(h[bands.marrow].sum())
    denser = marrow / max(int(bands.marrow.sum()), 1) > disc / max(int(bands.disc.sum()), 1)
    return {"disc": disc / total, "marrow": marrow / total, "outside": float(h[bands.outside].sum() / total),
            "marrow_denser": float(denser)}
