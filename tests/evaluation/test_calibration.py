"""Temperature scaling, ECE/reliability, the nested fit and the uncertainty threshold on synthetic predictions."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.classification.calibration import Calibration, apply_temperature
from modic_core.evaluation.calibration import (
    MAX_FLAGGED,
    TARGET_ACCURACY,
    calibration_record,
    fit_temperature,
    nested_calibrated,
    reliability,
    softmax,
    uncertainty_threshold,
)
from modic_core.schema import CalibrationRecord


def _synthetic(n=900, scale=3.0, seed=0):
    """Logits whose softmax is over-confident by ``scale`` (true temperature = scale)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    z = rng.normal(0, 1, (n, 3))
    z[np.arange(n), y] += 1.2
    # labels drawn from softmax(z): z is calibrated, z * scale is over-confident by ``scale``
    p = softmax(z)
    y = np.array([rng.choice(3, p=row) for row in p])
    return z * scale, y, rng.integers(0, 5, n)


class TestTemperature:
    def test_recovers_the_true_temperature(self):
        z, y, _ = _synthetic(n=4000, scale=2.5)
        assert fit_temperature(z, y) == pytest.approx(2.5, rel=0.12)

    def test_calibrated_logits_keep_temperature_near_one(self):
        z, y, _ = _synthetic(n=4000, scale=1.0)
        assert fit_temperature(z, y) == pytest.approx(1.0, rel=0.12)

    def test_bad_input(self):
        with pytest.raises(ValueError):
            fit_temperature(np.zeros((3, 3)), [0, 1])
        with pytest.raises(ValueError):
            fit_temperature(np.zeros((0, 3)), [])

    def test_apply_temperature_equals_scaled_logits_and_keeps_argmax(self):
        z, _, _ = _synthetic(n=50)
        p = softmax(z)
        q = apply_temperature(p, 2.0)
        np.testing.assert_allclose(q, softmax(z / 2.0), atol=1e-5)
        assert (q.argmax(1) == p.argmax(1)).all()
        np.testing.assert_allclose(apply_temperature(p, 1.0), p, atol=1e-6)

    def test_calibration_checks_values(self):
        with pytest.raises(ValueError):
            Calibration(temperature=0.0)
        with pytest.raises(ValueError):
            Calibration(temperature=1.0, uncertain_below=1.5)


class TestReliability:
    def test_perfectly_calibrated_bins_give_zero_ece(self):
        # 10 discs at 0.8 confidence, 8 right; 10 at 0.6, 6 right
        p = np.array([[0.8, 0.1, 0.1]] * 10 + [[0.6, 0.3, 0.1]] * 10)
        y = np.array([0] * 8 + [1] * 2 + [0] * 6 + [1] * 4)
        ece, bins = reliability(p, y)
        assert ece == pytest.approx(0.0, abs=1e-9)
        assert len(bins) == 15 and sum(b.n for b in bins) == 20

    def test_overconfidence_is_measured(self):
        p = np.array([[0.95, 0.03, 0.02]] * 10)
        y = np.array([0] * 5 + [2] * 5)
        ece, _ = reliability(p, y)
        assert ece == pytest.approx(0.45)

    def test_confidence_one_falls_in_the_last_bin(self):
        _, bins = reliability(np.array([[1.0, 0.0, 0.0]]), np.array([0]))
        assert bins[-1].n == 1


class TestNested:
    def test_each_fold_uses_the_other_folds_temperature(self):
        z, y, f = _synthetic(n=600, scale=3.0)
        probs, temps = nested_calibrated(z, y, f)
        assert len(temps) == 5
        for k, t in enumerate(temps):
            assert t == pytest.approx(fit_temperature(z[f != k], y[f != k]))
            np.testing.assert_allclose(probs[f == k], softmax(z[f == k] / t))

    def test_record_reduces_ece_and_is_a_valid_document_part(self):
        z, y, f = _synthetic(n=900, scale=3.0)
        rec = calibration_record(z, y, f, patient_ids=np.arange(len(y)) // 3, n_boot=50)
        assert rec.temperature > 1.5
        assert rec.ece_after < rec.ece_before
        assert len(rec.reliability_before) == len(rec.reliability_after) == 15
        u = rec.uncertainty
        assert 0 <= u.rate.value <= 1 and u.n_levels == len(y)
        assert u.accuracy_rest.ci_low <= u.accuracy_rest.value <= u.accuracy_rest.ci_high
        again = CalibrationRecord.from_dict(rec.to_dict())
        assert again.temperature == rec.temperature and again.uncertainty.n_flagged == u.n_flagged


class TestThreshold:
    def test_lowest_threshold_reaching_the_target(self):
        # confident discs are right, the unsure half is a coin flip
        p = np.array([[0.9, 0.05, 0.05]] * 60 + [[0.5, 0.1, 0.4]] * 40)
        y = np.array([0] * 60 + [0] * 20 + [2] * 20)
        t, reached = uncertainty_threshold(p, y)
        assert reached and 0.5 < t <= 0.9
        keep = p.max(1) >= t
        assert (p.argmax(1)[keep] == y[keep]).mean() >= TARGET_ACCURACY

    def test_unreachable_target_flags_half(self):
        rng = np.random.default_rng(0)
        p = softmax(rng.normal(0, 1, (200, 3)))
        y = rng.integers(0, 3, 200)
        t, reached = uncertainty_threshold(p, y)
        assert not reached
        assert np.mean(p.max(1) < t) == pytest.approx(MAX_FLAGGED, abs=0.02)
