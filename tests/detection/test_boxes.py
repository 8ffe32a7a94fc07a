from __future__ import annotations

import math

import numpy as np
import pytest

from modic_core.detection.boxes import deinflate_boxes, inflation_coefficients


def _rotated_target(w: float, h: float, deg: float) -> tuple[float, float]:
    t = math.radians(deg)
    return w * abs(math.cos(t)) + h * abs(math.sin(t)), h * abs(math.cos(t)) + w * abs(math.sin(t))


def test_deinflation_inverts_the_mean_rotation_inflation_of_a_disc_box():
    w, h = 76.0, 39.0
    angles = np.linspace(-5, 5, 2001)
    mw = np.mean([_rotated_target(w, h, a)[0] for a in angles])
    mh = np.mean([_rotated_target(w, h, a)[1] for a in angles])
    assert mh / h > 1.07  # the augmentation's mean target is clearly taller than the disc
    out = deinflate_boxes(np.array([[100 - mw / 2, 200 - mh / 2, 100 + mw / 2, 200 + mh / 2]]))[0]
    assert out[2] - out[0] == pytest.approx(w, rel=1e-3)
    assert out[3] - out[1] == pytest.approx(h, rel=1e-3)
    assert (out[0] + out[2]) / 2 == pytest.approx(100) and (out[1] + out[3]) / 2 == pytest.approx(200)


def test_no_rotation_leaves_boxes_alone_and_degenerate_boxes_keep_half():
    b = np.array([[0.0, 0.0, 10.0, 100.0]])  # a tall, narrow box: the inverse would shrink the width a lot
    assert np.allclose(deinflate_boxes(b, max_rotation_deg=0.0), b)
    assert inflation_coefficients(0.0) == (1.0, 0.0)
    out = deinflate_boxes(b)
    assert out[0, 2] - out[0, 0] >= 5.0 - 1e-9
    assert deinflate_boxes(np.zeros((0, 4))).shape == (0, 4)
    with pytest.raises(ValueError, match="max_rotation_deg"):
        inflation_coefficients(60.0)
