"""Conformal prediction sets (modic_core.classification.conformal): p-values, sets, the coverage guarantee."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.classification.conformal import (
    ConformalCalibration,
    is_uncertain_set,
    nonconformity,
    p_values,
    prediction_sets,
    set_label,
)
from modic_core.evaluation.conformal import calibration_from

CLASSES = ("MC0", "MC1", "MC2")


def _brute_p(score: float, cal: np.ndarray) -> float:
    return (np.sum(cal >= score) + 1) / (len(cal) + 1)


def test_scores_lac_and_aps_by_hand():
    p = np.array([[0.5, 0.2, 0.3]])
    assert np.allclose(nonconformity(p, "lac"), [[0.5, 0.8, 0.7]])
    # APS: mass of the grades at least as probable as the candidate
    assert np.allclose(nonconformity(p, "aps"), [[0.5, 1.0, 0.8]])
    with pytest.raises(ValueError):
        nonconformity(p, "raps")


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_p_values_match_the_definition(score):
    rng = np.random.default_rng(3)
    cal = ConformalCalibration(score=score, classes=CLASSES,
                               calibration_scores={c: tuple(rng.random(n)) for c, n in zip(CLASSES, (40, 7, 25))})
    probs = rng.dirichlet([1, 1, 1], size=12)
    pv = p_values(probs, cal)
    a = nonconformity(probs, score)
    for i in range(len(probs)):
        for j, c in enumerate(CLASSES):
            assert pv[i, j] == pytest.approx(_brute_p(a[i, j], np.asarray(cal.calibration_scores[c])))


def test_sets_never_empty_and_not_graded_rows_are_empty():
    cal = ConformalCalibration(score="lac", classes=CLASSES, calibration_scores={"MC0": (0.1,) * 30, "MC1": (0.1,) * 30, "MC2": (0.1,) * 30})
    probs = np.array([[0.34, 0.33, 0.33], [np.nan, np.nan, np.nan]])
    pv = p_values(probs, cal)
    assert np.isnan(pv[1]).all()
    sets = prediction_sets(pv, CLASSES, 0.9)
    assert len(sets[0]) == 1  # every p-value is 1/31 < 0.1: the largest p-value's grade is kept
    assert sets[1] == ()


def test_set_label_and_uncertain():
    assert set_label(("MC2",)) == "MC2"
    assert set_label(("MC0", "MC2")) == "MC0 or MC2"
    assert set_label(("MC0", "MC1", "MC2")) == "MC0, MC1 or MC2"
    assert set_label(()) == ""
    assert is_uncertain_set(("MC0", "MC2")) and not is_uncertain_set(("MC0",))


def test_calibration_refuses_a_grade_without_scores_and_bad_coverage():
    with pytest.raises(ValueError, match="no calibration scores"):
        ConformalCalibration(score="lac", classes=CLASSES, calibration_scores={"MC0": (0.1,), "MC2": (0.2,)})
    with pytest.raises(ValueError):
        prediction_sets(np.ones((1, 3)), CLASSES, 1.0)


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_class_conditional_coverage_holds_on_exchangeable_data(score):
    """Seeded simulation of the guarantee: calibrate on half, test on the other half; every grade's
    coverage is at least the target up to sampling error (and LAC is not trivially the full set)."""
    rng = np.random.default_rng(0)
    n = 6000
    logits = rng.normal(size=(n, 3)) * 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=p) for p in probs])
    cal = calibration_from(probs[: n // 2], y[: n // 2], score=score)
    sets = prediction_sets(p_values(probs[n // 2:], cal), CLASSES, 0.9)
    yt = y[n // 2:]
    for j, c in enumerate(CLASSES):
        cov = np.mean([c in s for s, t in zip(sets, yt) if t == j])
        assert cov >= 0.88, (c, cov)
    assert np.mean([len(s) for s in sets]) < 2.9


def test_the_models_grade_is_always_in_its_set():
    """Class-conditional sets can drop the top grade (an MC1 call less confident than MC1's calibration);
    ``top`` puts it back, and only adds."""
    cal = ConformalCalibration(score="lac", classes=CLASSES,
                               calibration_scores={"MC0": tuple(np.linspace(0.0, 0.6, 50)), "MC1": (0.0,) * 50,
                                                   "MC2": tuple(np.linspace(0.0, 0.9, 50))})
    probs = np.array([[0.0, 0.81, 0.19]])
    pv = p_values(probs, cal)
    assert prediction_sets(pv, CLASSES, 0.9) == [("MC2",)]  # MC1 left out without ``top``
    assert prediction_sets(pv, CLASSES, 0.9, top=probs.argmax(1)) == [("MC1", "MC2")]


def test_quantile_is_where_the_p_value_crosses_one_minus_coverage():
    from modic_core.classification.conformal import quantile

    rng = np.random.default_rng(5)
    scores = rng.random(57)
    q = quantile(scores, 0.9)
    assert _brute_p(q - 1e-9, scores) > 0.1 and _brute_p(q + 1e-9, scores) <= 0.1
    assert quantile(scores[:5], 0.9) == float("inf")  # 5 scores cannot support 90 %: every grade stays in
