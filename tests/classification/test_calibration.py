"""The one softmax (scipy's, over the class axis) and temperature scaling built on it."""
from __future__ import annotations

import numpy as np
import torch

from modic_core.classification import calibration
from modic_core.classification.calibration import apply_temperature, softmax
from modic_core.evaluation import calibration as evaluation_calibration


def test_one_softmax_for_evaluation_and_inference():
    assert evaluation_calibration.softmax is softmax is calibration.softmax


def test_softmax_matches_torch_and_survives_large_logits():
    z = np.random.default_rng(0).normal(0, 5, (50, 3))
    p = softmax(z)
    assert p.dtype == np.float64 and p.shape == (50, 3)
    np.testing.assert_allclose(p, torch.softmax(torch.from_numpy(z), dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(softmax(np.array([[1000.0, 0.0, -1000.0]])), [[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(softmax(z[0]), p[0])  # one row: the last axis is the class axis


def test_apply_temperature_is_softmax_of_scaled_log_probabilities():
    p = softmax(np.random.default_rng(1).normal(0, 2, (20, 3)))
    out = apply_temperature(p, 1.7)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, softmax(np.log(p) / 1.7), rtol=1e-6)
    np.testing.assert_allclose(apply_temperature(p, 1.0), p, rtol=1e-6)
