"""Checkerboard picture of the alignment check."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.export.alignment_view import checkerboard


def test_tiles_alternate_between_the_two_sequences():
    a = np.full((64, 64), 10.0)
    a[0, 0] = 0.0
    b = np.full((64, 64), 500.0)
    a += np.random.default_rng(0).normal(0, 1, a.shape)
    b += np.random.default_rng(1).normal(0, 1, b.shape)
    img = checkerboard(a, b, tile_px=16)
    assert img.dtype == np.uint8 and img.shape == (64, 64)
    t1_tile, t2_tile = img[:16, :16], img[:16, 16:32]
    # each tile comes from one sequence: compare against the windowed inputs
    win_a = checkerboard(a, a, tile_px=16)
    win_b = checkerboard(b, b, tile_px=16)
    assert np.array_equal(t1_tile, win_a[:16, :16]) and np.array_equal(t2_tile, win_b[:16, 16:32])


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        checkerboard(np.zeros((8, 8)), np.zeros((8, 9)))
