"""The Modic signal probe on generated arrays with known signal."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.analysis.signal_probe import ENDPLATE_BAND_MM, LevelSignal, probe_level

# raw signals (T1, T2) of the two vertebrae's marrow and of a Modic type 1 band beside the upper endplate
UPPER, LOWER, MODIC1, DISC = (500.0, 300.0), (400.0, 200.0), (250.0, 600.0), (100.0, 900.0)


def _norm(a: np.ndarray) -> np.ndarray:
    """An affine 'normalization' (as a z-score is): known values in normalized units."""
    return (a - 300.0) / 100.0


def _case(*, spacing_yx=(1.0, 1.0), n_slices=3, disc_row_mm=60.0, height_mm=120.0, noise=5.0, seed=0):
    """Sagittal arrays (z, y, x): vertebra above, a 10 mm disc centred at ``disc_row_mm``, vertebra
    below; a 5 mm MC1 band above the disc; the region box 25 mm tall (disc + both endplates)."""
    sy, sx = spacing_yx
    ny, nx = int(round(height_mm / sy)), int(round(60.0 / sx))
    ymm = (np.arange(ny) + 0.5) * sy  # row centres, mm
    t1, t2 = np.full((n_slices, ny, nx), 50.0), np.full((n_slices, ny, nx), 50.0)
    top, bottom = disc_row_mm - 5.0, disc_row_mm + 5.0
    rows = {
        "upper": (ymm >= top - 27.0) & (ymm < top),
        "modic": (ymm >= top - ENDPLATE_BAND_MM) & (ymm < top),
        "disc": (ymm >= top) & (ymm < bottom),
        "lower": (ymm >= bottom) & (ymm < bottom + 27.0),
    }
    for key, (v1, v2) in (("upper", UPPER), ("modic", MODIC1), ("disc", DISC), ("lower", LOWER)):
        t1[:, rows[key], :], t2[:, rows[key], :] = v1, v2
    rng = np.random.default_rng(seed)
    t1 += rng.normal(0, noise, t1.shape)
    t2 += rng.normal(0, noise, t2.shape)
    box = (10.0 / sx, (disc_row_mm - 12.5) / sy, 50.0 / sx, (disc_row_mm + 12.5) / sy)
    return t1, t2, box


def _probe(t1, t2, box, *, spacing_yx=(1.0, 1.0), z_range=(0, 2)) -> LevelSignal:
    return probe_level(box=box, z_range=z_range, spacing_yx=spacing_yx, t1=t1, t2=t2, t1_norm=_norm(t1), t2_norm=_norm(t2))


def _close(value, truth, rel=0.02):
    assert value is not None and abs(value - truth) <= rel * abs(truth), (value, truth)


@pytest.mark.parametrize("spacing_yx", [(1.0, 1.0), (0.6, 0.8)])
def test_values_within_2_percent_of_the_truth(spacing_yx):
    t1, t2, box = _case(spacing_yx=spacing_yx)
    p = _probe(t1, t2, box, spacing_yx=spacing_yx)
    assert not p.notes
    # normalized units: the affine map of the known raw signal
    _close(p.upper_endplate.t1, _norm(np.float64(MODIC1[0])))
    _close(p.upper_endplate.t2, _norm(np.float64(MODIC1[1])))
    _close(p.upper_centre.t1, _norm(np.float64(UPPER[0])))
    _close(p.lower_centre.t2, _norm(np.float64(LOWER[1])))
    _close(p.lower_endplate.t1, _norm(np.float64(LOWER[0])))
    _close(p.lower_centre.t1, _norm(np.float64(LOWER[0])))
    # ratios on the raw signal: MC1 = dark T1, bright T2
    _close(p.upper_ratio_t1, MODIC1[0] / UPPER[0])
    _close(p.upper_ratio_t2, MODIC1[1] / UPPER[1])


def test_band_without_change_has_ratio_one():
    t1, t2, box = _case()
    p = _probe(t1, t2, box)
    _close(p.lower_ratio_t1, 1.0)
    _close(p.lower_ratio_t2, 1.0)
    assert p.lower_endplate.pixels > 0 and p.lower_centre.pixels > 0


def test_normalized_means_are_reported_even_where_the_unit_is_zero():
    """A z-score-like unit puts T2 marrow at 0.0: the mean is reported, the ratio uses raw signal."""
    t1, t2, box = _case(noise=0.0)
    p = _probe(t1, t2, box)
    assert p.upper_centre.t2 == pytest.approx(0.0, abs=1e-9)
    _close(p.upper_ratio_t2, MODIC1[1] / UPPER[1])


def test_bands_at_the_image_edge_are_clipped_or_none():
    # disc 8 mm below the top edge: the upper bands fall outside the image
    t1, t2, box = _case(disc_row_mm=8.0)
    p = _probe(t1, t2, box)
    assert p.upper_centre.t1 is None and p.upper_centre.pixels == 0 and "outside the image" in p.upper_centre.reason
    # the upper endplate band (-2..3 mm) is clipped to its 3 rows inside the image, still averaged
    assert p.upper_endplate.pixels == 3 * 32 * 3
    _close(p.upper_endplate.t1, _norm(np.float64(MODIC1[0])))
    assert p.upper_ratio_t1 is None and p.upper_ratio_t2 is None
    assert any("upper T1" in n for n in p.notes)
    _close(p.lower_ratio_t1, 1.0)
    # disc 12 mm below the top: the upper endplate band (2..7 mm) is whole, its centre band clipped away
    t1, t2, box = _case(disc_row_mm=12.0)
    p = _probe(t1, t2, box)
    _close(p.upper_endplate.t1, _norm(np.float64(MODIC1[0])))
    assert p.upper_centre.t1 is None and p.upper_ratio_t1 is None
    # near the bottom edge: the lower centre band is partly inside and still averaged
    t1, t2, box = _case(disc_row_mm=120.0 - 18.0)
    p = _probe(t1, t2, box)
    assert p.lower_centre.pixels == 2 * 32 * 3  # 118..122 mm clipped to the image's 120 mm: half the band
    _close(p.lower_ratio_t1, 1.0)
    values = [getattr(b, s) for b in (p.upper_endplate, p.upper_centre, p.lower_endplate, p.lower_centre) for s in ("t1", "t2")]
    assert all(v is None or np.isfinite(v) for v in values)


def test_box_on_a_one_slice_study():
    t1, t2, box = _case(n_slices=1)
    for z_range in [(0, 0), (0, 4), (-2, 3)]:
        p = _probe(t1, t2, box, z_range=z_range)
        _close(p.upper_ratio_t1, MODIC1[0] / UPPER[0])
        _close(p.lower_ratio_t2, 1.0)
    p = _probe(t1, t2, box, z_range=(3, 5))  # slices beyond the study: every band empty, no NaN
    assert p.upper_endplate.t1 is None and p.lower_ratio_t1 is None and p.notes


def test_shapes_must_match():
    t1, t2, box = _case()
    with pytest.raises(ValueError, match="one shape"):
        probe_level(box=box, z_range=(0, 2), spacing_yx=(1.0, 1.0), t1=t1, t2=t2[:1], t1_norm=t1, t2_norm=t2)
