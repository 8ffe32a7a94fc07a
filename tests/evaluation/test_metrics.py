"""Hand-checked cases for modic_core.evaluation.metrics."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic_core import to_jsonable_python
from sklearn import metrics as skm

from modic_core.evaluation.metrics import (
    bootstrap_ci,
    by_group,
    classification_by_group,
    classification_report,
    detection_report,
    iou_matrix,
    match_boxes,
    mc0_vs_mc2_balanced_accuracy,
    paired_bootstrap,
    parse_class,
    patient_bootstrap_weights,
    sensitivity_entry,
)
from modic_core.schema import ClassificationReport, DetectionReport, Estimate, Mc0VsMc2Estimate, PairedDiff


def _dumps(obj) -> str:
    """Plain JSON of a record (or a dict of records); NaN refused."""
    return json.dumps(to_jsonable_python(obj), allow_nan=False)


# ----------------------------------------------------------------------------- classification, hand-checked


@pytest.fixture(scope="module")
def small_report():
    # true: MC0 MC0 MC2 MC2, predicted: MC0 MC2 MC2 MC2 (MC1 absent everywhere)
    return classification_report([0, 0, 2, 2], ["MC0", "MC2", 2, "2"], n_boot=0)


def test_confusion_matrix_keeps_absent_class(small_report):
    r = small_report
    assert r.labels == ["MC0", "MC1", "MC2"]
    assert r.confusion_matrix == [[1, 0, 1], [0, 0, 0], [0, 0, 2]]
    assert r.per_class["MC1"].n_true == 0 and r.per_class["MC1"].n_pred == 0


def test_per_class_scores_by_hand(small_report):
    pc = small_report.per_class
    assert pc["MC0"].sensitivity.value == pytest.approx(0.5)
    assert pc["MC2"].sensitivity.value == pytest.approx(1.0)
    assert pc["MC1"].sensitivity.value is None  # no true MC1: undefined, not 0
    assert pc["MC0"].specificity.value == pytest.approx(1.0)
    assert pc["MC2"].specificity.value == pytest.approx(0.5)
    assert pc["MC1"].specificity.value == pytest.approx(1.0)
    assert pc["MC0"].precision.value == pytest.approx(1.0)
    assert pc["MC2"].precision.value == pytest.approx(2 / 3)
    assert pc["MC1"].precision.value is None  # never predicted


def test_summary_scores_by_hand(small_report):
    r = small_report
    assert r.accuracy.value == pytest.approx(0.75)
    assert r.balanced_accuracy.value == pytest.approx(0.75)  # mean(0.5, 1.0); MC1 absent
    # F1_MC0 = 2/(2+1) = 2/3, F1_MC2 = 4/(4+1) = 0.8
    assert r.macro_f1.value == pytest.approx((2 / 3 + 0.8) / 2)
    assert r.weighted_f1.value == pytest.approx((2 / 3 * 2 + 0.8 * 2) / 4)
    # p_o = 0.75, p_e = (2*1 + 2*3) / 16 = 0.5
    assert r.cohen_kappa.value == pytest.approx(0.5)
    assert r.n_discs == 4 and r.n_patients == 4
    _dumps(r)


def test_too_few_cases_flag():
    e = sensitivity_entry(0.5, 4)
    assert (e.value, e.n, e.too_few, e.display) == (0.5, 4, True, "too few cases (n=4)")
    ok = sensitivity_entry(0.5, 10)
    assert ok.too_few is False and ok.display == "0.500"
    y_true = [0] * 20 + [1] * 4 + [2] * 12
    r = classification_report(y_true, y_true, n_boot=50)
    assert r.per_class["MC1"].sensitivity.too_few is True
    assert r.per_class["MC1"].sensitivity.display == "too few cases (n=4)"
    assert r.per_class["MC2"].sensitivity.too_few is False
    assert any("MC1" in n for n in r.notes)


def test_mc0_vs_mc2_balanced_accuracy_by_hand():
    y_true = [0, 0, 2, 2, 1]
    proba = [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.45, 0.1, 0.45], [0.0, 1.0, 0.0]]
    # MC0: disc 0 right, disc 1 -> MC2 (0.2 < 0.3); MC2: disc 2 right, disc 3 tie -> MC0; MC1 disc ignored
    r = mc0_vs_mc2_balanced_accuracy(y_true, proba=proba)
    assert r.value == pytest.approx(0.5) and r.n_mc0 == 2 and r.n_mc2 == 2
    assert r.source == "probabilities"
    # hard labels: an MC1 prediction of a true MC0 counts as wrong
    r2 = mc0_vs_mc2_balanced_accuracy(y_true, [0, 1, 2, 2, 1])
    assert r2.value == pytest.approx((0.5 + 1.0) / 2) and r2.source == "labels"
    rep = classification_report(y_true, [0, 1, 2, 0, 1], proba=proba, n_boot=0)
    assert rep.mc0_vs_mc2.value == pytest.approx(0.5)


def test_parse_class():
    assert [parse_class(v) for v in ("MC0", "mc1", " MC2 ", "2", 1, 0.0, np.int64(2))] == [0, 1, 2, 2, 1, 0, 2]
    for bad in ("MC3", 3, "x", 1.5, float("nan"), ""):
        with pytest.raises(ValueError):
            parse_class(bad)


def _sklearn_scores(y_true, y_pred):
    """The reference scores, straight from scikit-learn (MC0/MC1/MC2 order; NaN where undefined)."""
    labels = [0, 1, 2]
    per_class = dict(labels=labels, average=None, zero_division=np.nan)
    return {
        "sensitivity": skm.recall_score(y_true, y_pred, **per_class),
        "precision": skm.precision_score(y_true, y_pred, **per_class),
        "f1": skm.f1_score(y_true, y_pred, **per_class),
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "macro_f1": skm.f1_score(y_true, y_pred, average="macro", zero_division=0.0),
        "weighted_f1": skm.f1_score(y_true, y_pred, average="weighted", zero_division=0.0),
        "cohen_kappa": skm.cohen_kappa_score(y_true, y_pred, labels=labels),
    }


def _same(estimate, expected):
    """An estimate's value and both CI bounds equal ``expected`` (None where it is NaN)."""
    want = None if not np.isfinite(expected) else pytest.approx(float(expected), abs=1e-12)
    return estimate.value == want and estimate.ci_low == want and estimate.ci_high == want


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.filterwarnings("ignore")
def test_point_scores_and_confusion_matrix_bootstrap_agree_with_sklearn(seed):
    """Two patients with identical discs: every bootstrap resample has the sample's confusion matrix
    up to a factor, so the CI bounds (scores of resampled confusion matrices) must equal the point
    values, and both must equal scikit-learn's."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    classes = [0, 2] if seed % 3 == 0 else [0, 1, 2]  # sometimes a class is absent
    y_true = rng.choice(classes, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice([0, 1, 2], n))
    twice_true, twice_pred = np.tile(y_true, 2), np.tile(y_pred, 2)
    report = classification_report(twice_true, twice_pred, patient_ids=["a"] * n + ["b"] * n, n_boot=20, min_cases=0)
    sk = _sklearn_scores(y_true, y_pred)
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "cohen_kappa"):
        assert _same(getattr(report, key), sk[key]), (key, getattr(report, key), sk[key])
    for c, name in enumerate(("MC0", "MC1", "MC2")):
        for key in ("sensitivity", "precision", "f1"):
            estimate = getattr(report.per_class[name], key)
            assert _same(estimate, sk[key][c]), (name, key, estimate)


# ----------------------------------------------------------------------------- bootstrap


def _clustered(n_patients=12, discs=15, seed=0):
    """Every patient's discs are all right or all wrong (strong clustering)."""
    rng = np.random.default_rng(seed)
    right = rng.random(n_patients) < 0.7
    pid = np.repeat(np.arange(n_patients), discs)
    y_true = np.tile(np.array([0, 2, 0, 2, 0] * (discs // 5 + 1))[:discs], n_patients)
    y_pred = np.where(np.repeat(right, discs), y_true, 2 - y_true)
    return y_true, y_pred, pid


def test_bootstrap_ci_contains_point_and_is_seeded():
    y_true, y_pred, pid = _clustered()
    a = classification_report(y_true, y_pred, patient_ids=pid, n_boot=300, seed=3)
    b = classification_report(y_true, y_pred, patient_ids=pid, n_boot=300, seed=3)
    c = classification_report(y_true, y_pred, patient_ids=pid, n_boot=300, seed=4)
    assert _dumps(a) == _dumps(b)
    assert _dumps(a) != _dumps(c)  # another seed, other resamples
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "cohen_kappa"):
        e = getattr(a, key)
        assert e.ci_low <= e.value <= e.ci_high, key
    e = a.per_class["MC0"].sensitivity
    assert e.ci_low <= e.value <= e.ci_high
    assert a.n_patients == 12 and a.bootstrap.n_boot == 300 and a.bootstrap.unit == "patient"


def test_bootstrap_resamples_patients_not_discs():
    y_true, y_pred, pid = _clustered()
    by_patient = classification_report(y_true, y_pred, patient_ids=pid, n_boot=400).accuracy
    by_disc = classification_report(y_true, y_pred, patient_ids=None, n_boot=400).accuracy
    width = lambda e: e.ci_high - e.ci_low  # noqa: E731
    assert width(by_patient) > 2 * width(by_disc)
    inverse, w = patient_bootstrap_weights(pid, len(pid), n_boot=50, seed=1)
    assert w.shape == (50, 12) and np.all(w.sum(1) == 12)
    assert np.all(inverse[pid == 5] == inverse[pid == 5][0])


def test_generic_bootstrap_matches_the_vectorised_one():
    y_true, y_pred, pid = _clustered(seed=2)
    fast = classification_report(y_true, y_pred, patient_ids=pid, n_boot=200, seed=7).accuracy
    slow = bootstrap_ci(lambda idx: float(np.mean(y_true[idx] == y_pred[idx])), len(y_true), pid, n_boot=200, seed=7)
    assert slow.value == pytest.approx(fast.value)
    assert slow.ci_low == pytest.approx(fast.ci_low) and slow.ci_high == pytest.approx(fast.ci_high)


def test_paired_bootstrap():
    y_true, y_pred, pid = _clustered(seed=1)
    same = paired_bootstrap(y_true, y_pred, y_pred, pid, n_boot=200)
    assert same.diff == 0 and same.ci_low == 0 and same.ci_high == 0 and same.p_two_sided == 1.0
    better = paired_bootstrap(y_true, y_true, y_pred, pid, n_boot=200, seed=5)
    # only resamples drawing no "wrong" patient tie (diff 0): rare with 12 patients, 3-4 of them wrong
    assert better.diff > 0 and better.ci_low > 0 and better.frac_diff_le_0 < 0.05
    assert better.ci_low <= better.mean_diff <= better.ci_high
    worse = paired_bootstrap(y_true, y_pred, y_true, pid, n_boot=200, seed=5)
    assert worse.diff == pytest.approx(-better.diff)
    assert worse.ci_low == pytest.approx(-better.ci_high) and worse.ci_high == pytest.approx(-better.ci_low)
    again = paired_bootstrap(y_true, y_true, y_pred, pid, n_boot=200, seed=5)
    assert again == better
    proba = np.eye(3)[y_pred]
    mc = paired_bootstrap(y_true, y_true, y_pred, pid, metric="mc0_vs_mc2_balanced_accuracy", proba_b=proba, n_boot=100)
    assert mc.value_a == 1.0 and mc.value_b < 1.0
    _dumps(better)
    with pytest.raises(ValueError):
        paired_bootstrap(y_true, y_true, y_pred, pid, metric="auc")


def test_by_group():
    groups = ["Philips", "SIEMENS", None, "Philips", float("nan"), "SIEMENS"]
    seen = by_group(groups, lambda idx: {"idx": idx.tolist()})
    assert list(seen) == ["Philips", "SIEMENS", "unknown"]
    assert seen["Philips"]["idx"] == [0, 3] and seen["unknown"]["idx"] == [2, 4]
    assert seen["SIEMENS"]["n_discs"] == 2
    y_true = [0, 2, 0, 2, 0, 2]
    rep = classification_by_group(y_true, [0, 2, 0, 0, 0, 2], ["1.5", "1.5", "3", "3", "3", "1.5"], n_boot=20)
    assert rep["1.5"].balanced_accuracy.value == pytest.approx(1.0)
    assert rep["3"].confusion_matrix == [[2, 0, 0], [0, 0, 0], [1, 0, 0]]
    _dumps(rep)


# ----------------------------------------------------------------------------- detection


def test_iou_by_hand():
    m = iou_matrix([[0, 0, 10, 10]], [[5, 0, 15, 10], [0, 1, 10, 11], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(m[0], [50 / 150, 90 / 110, 0.0, 1.0])


def test_matching_is_one_to_one_and_maximises_total_iou():
    gt = np.array([[0, 0, 10, 10], [0, 20, 10, 30]])
    pred = np.array([[0, 21, 10, 31], [0, 1, 10, 11], [0, 2, 10, 12]])
    pairs = match_boxes(gt, pred)
    assert sorted((g, p) for g, p, _ in pairs) == [(0, 1), (1, 0)]
    # greedy by IoU would give GT0 <- P0 (IoU .6) and leave GT1 with P1 (IoU .33): total .93 < 1.2
    gt2 = np.array([[0, 0, 10, 10], [6, 0, 16, 10]])
    pred2 = np.array([[2, 0, 12, 10], [0, 0, 6, 10]])
    pairs2 = {g: p for g, p, _ in match_boxes(gt2, pred2)}
    assert pairs2 == {0: 1, 1: 0}


def test_detection_report_by_hand():
    gt = [
        {"image_id": "a", "box": (0, 0, 10, 10), "level": "L1-L2"},
        {"image_id": "a", "box": (0, 20, 10, 30), "level": "L2-L3"},
        {"image_id": "b", "box": (0, 0, 10, 10), "level": "L4-L5"},
    ]
    pred = [
        {"image_id": "a", "box": (0, 1, 10, 11), "level": "L1-L2", "score": 0.9},  # IoU 90/110
        {"image_id": "a", "box": (0, 24, 10, 34), "level": "L3-L4"},  # IoU 60/140: a miss at 0.5 and a FP
        {"image_id": "a", "box": (50, 50, 60, 60), "level": "L5-S1"},  # FP
        {"image_id": "b", "box": (0, 0, 10, 10), "level": "L4-L5"},  # IoU 1
        {"image_id": "c", "box": (0, 0, 10, 10), "level": "L4-L5"},  # image without GT: ignored
    ]
    r = detection_report(gt, pred, n_boot=200, seed=1)
    ious = [90 / 110, 60 / 140, 1.0]
    assert [g.iou for g in r.per_gt] == pytest.approx(ious)
    assert r.n_images == 2 and r.n_gt == 3 and r.n_pred == 4 and r.n_pred_ignored == 1
    assert r.mean_iou.value == pytest.approx(np.mean(ious))
    assert r.median_iou == pytest.approx(90 / 110)
    assert r.recall["0.5"].value == pytest.approx(2 / 3)
    assert r.recall["0.7"].value == pytest.approx(2 / 3)
    assert r.share_gt_iou_ge_07.value == pytest.approx(2 / 3)
    assert r.fp_per_image.value == pytest.approx(1.0)  # 2 FP on a, 0 on b
    assert r.level_accuracy.value == pytest.approx(1.0)
    assert r.per_gt[1].matched_level == "L3-L4"
    for e in (r.mean_iou, r.fp_per_image):
        assert e.ci_low <= e.value <= e.ci_high
    _dumps(r)
    pred[3] = {**pred[3], "level": "L3-L4"}
    assert detection_report(gt, pred, n_boot=0).level_accuracy.value == pytest.approx(0.5)


def test_detection_report_unmatched_gt_counts_zero():
    gt = [{"image_id": "a", "box": (0, 0, 10, 10), "level": "L1-L2"}]
    r = detection_report(gt, [{"image_id": "a", "box": (30, 30, 40, 40), "level": "L1-L2"}], n_boot=0)
    assert r.mean_iou.value == 0.0 and r.recall["0.5"].value == 0.0
    assert r.fp_per_image.value == 1.0 and r.level_accuracy.value is None
    assert r.per_gt[0].matched_level is None
    _dumps(r)


# ----------------------------------------------------------------------------- typed returns


def test_reports_are_the_typed_records_the_cards_store():
    y_true, y_pred, pid = _clustered(seed=3)
    rep = classification_report(y_true, y_pred, patient_ids=pid, n_boot=30)
    assert isinstance(rep, ClassificationReport) and isinstance(rep.mc0_vs_mc2, Mc0VsMc2Estimate)
    assert rep.mc0_vs_mc2.source == "labels" and rep.mc0_vs_mc2.n == rep.mc0_vs_mc2.n_mc0 + rep.mc0_vs_mc2.n_mc2
    assert rep.bootstrap.unit == "patient" and rep.bootstrap.n_boot == 30
    d = rep.to_dict()
    assert ClassificationReport.from_dict(json.loads(json.dumps(d))) == rep
    assert {"confusion_matrix_axes", "bootstrap", "per_class", "mc0_vs_mc2"} <= set(d) and "model_extra" not in d
    assert set(d["mc0_vs_mc2"]) >= {"value", "ci_low", "ci_high", "display", "n_mc0", "n_mc2", "source", "n", "too_few"}
    pd_ = paired_bootstrap(y_true, y_true, y_pred, pid, n_boot=30)
    assert isinstance(pd_, PairedDiff) and pd_.unit == "patient" and pd_.n_boot == 30
    assert PairedDiff.from_dict(pd_.to_dict()) == pd_
    assert isinstance(bootstrap_ci(lambda idx: 1.0, 4, n_boot=20), Estimate)
    det = detection_report([{"image_id": "a", "box": (0, 0, 10, 10), "level": "L1-L2"}],
                           [{"image_id": "a", "box": (0, 0, 10, 10), "level": "L1-L2"}], n_boot=0)
    assert isinstance(det, DetectionReport) and det.per_gt[0].iou == 1.0
    assert det.to_dict()["share_gt_iou_ge_0.7"]["value"] == 1.0 and det.to_dict()["median_iou"] == 1.0
    assert DetectionReport.from_dict(det.to_dict()) == det
