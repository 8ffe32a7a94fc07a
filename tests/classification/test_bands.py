"""Disc and marrow bands of a crop (modic_core.classification.bands)."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.classification.bands import band_masks, band_shares
from modic_core.classification.crops import CropSpec

SPEC = CropSpec(height=48, width=56, depth=1, pixel_mm=1.25)
BOX = (100.0, 200.0, 160.0, 240.0)  # 60 x 40 px at 0.625 mm: 37.5 mm wide, 25 mm tall = 20 crop rows


def _rows(mask):
    return np.flatnonzero(mask.any(1))


def test_bands_are_disjoint_cover_the_crop_and_sit_in_order():
    b = band_masks(BOX, (0.625, 0.625), SPEC, disc_fraction=0.4, margin_mm=0.0)
    stack = np.stack([b.disc, b.upper, b.lower, b.outside]).astype(int)
    assert stack.sum(0).min() == 1 and stack.sum(0).max() == 1
    disc, up, low = _rows(b.disc), _rows(b.upper), _rows(b.lower)
    assert up.max() < disc.min() and disc.max() < low.min()
    # the box is 20 crop rows tall, centred: disc = middle 40 % (8 rows), marrow = 6 rows each side
    assert len(disc) == 8 and len(up) == 6 and len(low) == 6
    assert up.min() == 14 and low.max() == 33
    # columns: the box is 37.5 mm = 30 crop columns wide, centred in 56
    cols = np.flatnonzero(b.disc.any(0))
    assert len(cols) == 30 and cols.min() == 13


def test_margin_reaches_into_the_vertebral_bodies_and_spacing_matters():
    b0 = band_masks(BOX, (0.625, 0.625), SPEC, margin_mm=0.0)
    b5 = band_masks(BOX, (0.625, 0.625), SPEC, margin_mm=5.0)
    assert (b5.disc == b0.disc).all() and b5.marrow.sum() > b0.marrow.sum() and (b0.marrow <= b5.marrow).all()
    assert len(_rows(b5.upper)) == len(_rows(b0.upper)) + 4  # 5 mm = 4 crop rows
    coarse = band_masks(BOX, (1.25, 1.25), SPEC, margin_mm=0.0)  # same pixels, twice the mm: twice as tall
    assert len(_rows(coarse.disc)) == 16


def test_band_shares_add_up_and_per_pixel_density():
    b = band_masks(BOX, (0.625, 0.625), SPEC, margin_mm=0.0)
    h = np.zeros((48, 56))
    h[b.upper] = 1.0
    s = band_shares(h, b)
    assert s["marrow"] == pytest.approx(1.0) and s["disc"] == 0 and s["marrow_denser"] == 1.0
    even = band_shares(np.ones((1, 48, 56)), b)
    assert sum(even[k] for k in ("disc", "marrow", "outside")) == pytest.approx(1.0)
    assert even["marrow"] > even["disc"] and even["marrow_denser"] == 0.0  # more marrow area, same density
    assert band_shares(np.zeros((48, 56)), b) is None
    with pytest.raises(ValueError):
        band_masks(BOX, (0.625, 0.625), SPEC, disc_fraction=1.2)
