"""Measuring prediction sets (modic_core.evaluation.conformal): nesting, metrics, risk-coverage."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.classification.conformal import p_values
from modic_core.evaluation.conformal import calibration_from, nested_p_values, risk_coverage, set_metrics


def test_nested_p_values_never_calibrate_a_fold_on_itself():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([2, 1, 2], size=60)
    y = rng.choice([0, 1, 2], size=60, p=[0.5, 0.1, 0.4])
    folds = np.repeat([0, 1, 2], 20)
    pv = nested_p_values(probs, y, folds, score="lac")
    for k in range(3):
        other = folds != k
        expect = p_values(probs[folds == k], calibration_from(probs[other], y[other], score="lac"))
        assert np.allclose(pv[folds == k], expect)
    # with the fold included, the p-values would differ (the test can fail)
    assert not np.allclose(pv[folds == 0], p_values(probs[folds == 0], calibration_from(probs, y, score="lac")))


def test_set_metrics_by_hand():
    sets = [("MC0",), ("MC0", "MC2"), ("MC2",), ("MC0",), ("MC1", "MC2"), ("MC1",)]
    y = [0, 0, 2, 2, 2, 1]
    m = set_metrics(sets, y, n_boot=0)
    assert m.n == 5  # real MC0/MC2 only
    assert m.coverage.value == pytest.approx(4 / 5)
    assert m.singleton_share.value == pytest.approx(3 / 5)
    assert m.singleton_accuracy.value == pytest.approx(2 / 3)
    assert m.mc1_in_set.value == pytest.approx(1 / 5)
    assert m.coverage_by_grade["MC0"].value == 1.0 and m.coverage_by_grade["MC2"].value == pytest.approx(2 / 3)
    assert (m.n_real_mc1, m.real_mc1_covered) == (1, 1)


def test_risk_coverage_moves_with_the_target():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet([1, 0.2, 1], size=400)
    y = np.array([rng.choice(3, p=p) for p in probs])
    cal = calibration_from(probs[:200], y[:200], score="lac")
    pts = risk_coverage(p_values(probs[200:], cal), y[200:], [0.6, 0.9])
    assert pts[0].singleton_share >= pts[1].singleton_share
    assert pts[1].coverage >= pts[0].coverage


def test_set_metrics_without_discs_of_a_grade_are_undefined_not_an_error():
    m = set_metrics([("MC0",), ("MC0", "MC2")], [0, 0], patient_ids=["a", "b"], n_boot=20)
    assert m.coverage_by_grade["MC2"].value is None and m.coverage_by_grade["MC2"].n == 0
    m = set_metrics([("MC1",)], [1], n_boot=20)  # only a real MC1 disc: no MC0/MC2 rate is defined
    assert m.n == 0 and m.coverage.value is None and m.real_mc1_covered == 1
