from __future__ import annotations

import numpy as np
import torch

from modic_core.classification.augment import paint_mc1


def test_synthetic_mc1_darkens_t1_brightens_t2_beside_one_endplate_only():
    rng = np.random.default_rng(0)
    h, w = 48, 56
    t1 = torch.full((h, w), 0.5) + 0.01 * torch.randn(h, w, generator=torch.Generator().manual_seed(0))
    t2 = torch.full((h, w), 0.5) + 0.01 * torch.randn(h, w, generator=torch.Generator().manual_seed(1))
    t1[:6], t2[:6] = 0.0, 1.0  # dark/bright references so the percentile targets differ from marrow
    crops = torch.stack([t1, t2])[None, :, None].repeat(8, 1, 1, 1, 1)  # (8, 2, 1, H, W)
    out = paint_mc1(crops, np.full(8, 12.0), np.full(8, 20.0), rng, pixel_mm=1.25)
    assert out.shape == crops.shape and not torch.equal(out, crops)
    diff1 = (out[:, 0, 0] - crops[:, 0, 0]).numpy()
    diff2 = (out[:, 1, 0] - crops[:, 1, 0]).numpy()
    c = (h - 1) / 2
    for i in range(8):
        rows = np.where(np.abs(diff1[i]).max(1) > 0.05)[0]
        assert len(rows) > 0
        above, below = (rows < c).all(), (rows > c).all()
        assert above != below, "one endplate only"
        band = np.abs(diff1[i]) > 0.05
        assert diff1[i][band].mean() < 0 and diff2[i][band].mean() > 0  # T1 darker, T2 brighter
        assert np.abs(diff1[i][:, :8]).max() < 1e-6  # anterior edge untouched (central 70 % of the box)
    assert torch.equal(crops[:, 0, 0, 20:28], out[:, 0, 0, 20:28])  # the disc itself is left alone


def test_mc1_band_lies_beside_the_chosen_endplate_with_its_depth():
    import pytest

    from modic_core.classification.augment import DISC_SHARE, mc1_band

    kw = dict(centre_yx=(50.0, 40.0), half_height_px=20.0, half_width_px=20.0, depth_px=6.0)
    up = mc1_band((100, 80), endplate="upper", **kw).numpy()
    low = mc1_band((100, 80), endplate="lower", **kw).numpy()
    both = mc1_band((100, 80), endplate="both", **kw).numpy()
    rows_up = np.where(up.max(1) > 0.99)[0]
    rows_low = np.where(low.max(1) > 0.99)[0]
    edge = DISC_SHARE * 20.0
    assert rows_up.max() <= 50 - edge and rows_up.min() >= 50 - edge - 6  # above the disc, 6 px deep
    assert rows_low.min() >= 50 + edge and rows_low.max() <= 50 + edge + 6
    assert np.allclose(both, np.maximum(up, low), atol=0.3) and (both[:, :20] == 0).all()  # central 70 % of the width
    with pytest.raises(ValueError, match="endplate"):
        mc1_band((100, 80), endplate="middle", **kw)
