"""What the browser picture receives: 16-bit series codes and per-level Grad-CAM patches."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from modic_core.analysis.report import HeatPatch, LocalHeatmap
from modic_core.export.display import CODE_MAX, decode_series, heat_patches, series_payload, series_stride


def test_codes_round_trip_within_one_step():
    rng = np.random.default_rng(0)
    vol = rng.normal(800.0, 300.0, size=(3, 20, 24)).astype(np.float32)
    got = series_payload(vol, max_bytes=1 << 20)
    assert got["shape"] == [3, 20, 24] and got["stride"] == 1
    back = decode_series(got)
    step = (vol.max() - vol.min()) / CODE_MAX
    assert np.abs(back - vol).max() <= step * 0.51 + 1e-3  # 16-bit codes: at most half a step off
    assert back.min() == pytest.approx(vol.min(), abs=1e-3)


def test_large_series_gets_an_in_plane_stride():
    assert series_stride((60, 512, 512), max_bytes=24 << 20) == 2  # 31 MB of codes at full size
    assert series_stride((15, 192, 192), max_bytes=24 << 20) == 1
    vol = np.zeros((2, 10, 10), np.int16)
    vol[:, ::2, ::2] = 7
    got = series_payload(vol, max_bytes=2 * 25 * 2)
    assert got["stride"] == 2 and got["shape"] == [2, 5, 5]
    assert np.allclose(decode_series(got), 7.0)  # every second pixel, in the series' own units


def test_constant_and_non_finite_series_are_safe():
    vol = np.full((1, 4, 4), 5.0, np.float32)
    vol[0, 0, 0] = np.nan
    back = decode_series(series_payload(vol, max_bytes=1 << 10))
    assert np.isfinite(back).all() and back[0, 1, 1] == pytest.approx(5.0)
    with pytest.raises(ValueError):
        series_payload(np.zeros((4, 4)), max_bytes=1 << 10)


class _Level:
    def __init__(self, cam):
        self.gradcam = cam


def test_heat_patches_keep_position_and_skip_empty_ones():
    values = np.zeros((6, 8), np.float32)
    values[2:4, 3:5] = 0.9
    cam = LocalHeatmap(shape=(4, 32, 32), patches=(HeatPatch(z=1, row0=10, col0=12, values=values),
                                                   HeatPatch(z=2, row0=10, col0=12, values=np.zeros((6, 8), np.float32))))
    got = heat_patches([_Level(cam), _Level(None)])
    assert len(got) == 2 and got[1] == []
    (p,) = got[0]  # the all-zero patch is not sent
    assert (p["z"], p["x"], p["y"], p["w"], p["h"]) == (1, 11.5, 9.5, 8, 6)
    png = base64.b64decode(p["uri"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
