from __future__ import annotations

import numpy as np

from modic_core.classification.crops import CropSpec, extract_crops, paste_back


def test_crop_is_centred_on_the_box_in_millimetres():
    z, y, x = 3, 200, 180
    t1 = np.zeros((z, y, x), np.float32)
    t1[1, 100, 90] = 1.0  # a dot at the box centre
    t2 = t1 * 2
    spec = CropSpec(height=21, width=21, depth=1, pixel_mm=1.0)
    crops = extract_crops(t1, t2, np.array([[80, 90, 100, 110]]), [1], (0.5, 0.5), spec)
    assert crops.shape == (1, 2, 1, 21, 21)
    c = crops[0, 0, 0].numpy()
    assert np.unravel_index(c.argmax(), c.shape) == (10, 10)
    assert np.allclose(crops[0, 1], 2 * crops[0, 0])


def test_depth_slab_and_zero_padding_outside_volume():
    t = np.stack([np.full((64, 64), k + 1, np.float32) for k in range(4)])
    spec = CropSpec(height=8, width=8, depth=3, pixel_mm=1.0)
    crops = extract_crops(t, t, np.array([[20, 20, 40, 40]]), [0], (1.0, 1.0), spec)
    means = crops[0, 0].mean(dim=(1, 2)).numpy()
    assert np.allclose(means, [0.0, 1.0, 2.0])


def test_paste_back_inverts_the_crop_grid():
    shape = (1, 120, 100)
    spec = CropSpec(height=30, width=40, depth=1, pixel_mm=0.8)
    box = (30.0, 40.0, 70.0, 80.0)
    heat = np.zeros((1, 30, 40), np.float32)
    heat[0, :15] = 1.0  # upper half of the crop
    out = paste_back(heat, box, 0, (0.6, 0.6), spec, shape)
    assert out.shape == shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    cy = (box[1] + box[3]) / 2
    rows = np.nonzero(out[0].max(1) > 0.5)[0]
    assert rows.max() < cy + 1 and rows.min() < cy - 10
