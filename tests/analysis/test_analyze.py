"""End-to-end tests with the shipped weights: detector on real demo slices, analyze() reports, caching."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modic_core.analysis.analyze import MIN_THRESHOLD, StudyAnalysis, analyze, models_available
from modic_core.datasets.demo import demo_dir, list_demo_cases, load_demo
from modic_core.evaluation.metrics import match_boxes

pytestmark = pytest.mark.skipif(not models_available()["detector"], reason="shipped weights missing")


def _real_cases():
    return [c for c in list_demo_cases() if c.kind == "spider2d"]


@pytest.fixture(scope="module")
def demo_study():
    return load_demo(_real_cases()[0].name)


@pytest.mark.parametrize("case", _real_cases(), ids=lambda c: c.name)
def test_shipped_detector_finds_every_disc_of_real_demo_slices(case):
    from modic_core.detection import load_detector

    study = load_demo(case.name)
    labels = pd.read_csv(demo_dir() / "cohort" / "levels.csv", dtype={"study_id": str})
    gt = labels[labels.study_id == str(case.study_id)]
    dets = load_detector().detect(study.t1).filter(0.5)
    pb = np.array([d.box for d in dets])
    gb = gt[["x0", "y0", "x1", "y1"]].to_numpy(float)
    matches = {g: (p, iou) for g, p, iou in match_boxes(gb, pb)}
    for gi, row in enumerate(gt.itertuples()):
        assert gi in matches, f"{row.level} not found"
        p, iou = matches[gi]
        assert iou >= 0.5, (row.level, iou)
        assert dets[p].level == row.level


def test_report_shape_order_probabilities_heatmaps(demo_study):
    rep = analyze(demo_study, "zscore", 0.5)
    assert len(rep.levels) >= 5
    ys = [(lv.box[1] + lv.box[3]) / 2 for lv in rep.levels]
    assert ys == sorted(ys), "levels must be ordered top to bottom"
    assert rep.levels[-1].level == "L5-S1"
    for lv in rep.levels:
        assert set(lv.probabilities) == {"MC0", "MC1", "MC2"}
        assert abs(sum(lv.probabilities.values()) - 1) < 1e-4
        assert lv.prediction == max(lv.probabilities, key=lv.probabilities.get)
        assert lv.heatmap.shape == demo_study.t1.shape and lv.heatmap.dtype == np.float32
        assert 0.0 <= lv.heatmap.min() and lv.heatmap.max() <= 1.0
        x0, y0, x1, y1 = lv.box
        assert 0 <= x0 < x1 <= demo_study.t1.shape[2] and 0 <= y0 < y1 <= demo_study.t1.shape[1]
        assert lv.score >= 0.5
    d = rep.to_dict()
    assert d["normalization"] == "zscore" and "detection_s" in d["timings_s"]
    assert list(rep.table().columns) == ["level", "confidence", "P(MC0)", "P(MC1)", "P(MC2)", "grade set", "prediction",
                                       "uncertain"]


def test_threshold_change_runs_no_network_and_switch_reruns_classifier_only(demo_study, monkeypatch):
    from modic_core.classification.infer import Classifier
    from modic_core.detection.infer import Detector

    calls = {"det": 0, "cls": 0}
    orig_det, orig_cls = Detector.detect_slices, Classifier.predict

    def det(self, *a, **k):
        calls["det"] += 1
        return orig_det(self, *a, **k)

    def cls(self, *a, **k):
        calls["cls"] += 1
        return orig_cls(self, *a, **k)

    monkeypatch.setattr(Detector, "detect_slices", det)
    monkeypatch.setattr(Classifier, "predict", cls)
    sa = StudyAnalysis(demo_study)
    r1 = sa.report("zscore", 0.5)
    assert r1.alignment.ok and r1.alignment.method == "header"
    assert calls == {"det": 2, "cls": 1}  # T1, and T2 once for the alignment check
    r2 = sa.report("zscore", 0.9)
    r3 = sa.report("zscore", MIN_THRESHOLD)
    assert calls == {"det": 2, "cls": 1}
    assert len(r3.levels) >= len(r1.levels) >= len(r2.levels)
    other = next(m for m, ok in models_available().items() if ok and m not in ("detector", "zscore"))
    sa.report(other, 0.5)
    assert calls == {"det": 2, "cls": 2}


def test_phantom_lesion_level_is_graded(tmp_path):
    from modic_core import load_study

    root = demo_dir() / "phantom_dicom"
    study = load_study(root / "t1", root / "t2")
    truth = pd.read_csv(root / "levels.csv")
    rep = analyze(study, "zscore", 0.5)
    by_level = {lv.level: lv for lv in rep.levels}
    for row in truth.itertuples():
        assert row.level in by_level, f"{row.level} not detected on the phantom"
    assert rep.levels[0].heatmap.shape == study.t1.shape
    # The lesion levels are graded as Modic changes: the MC1 level as MC1 (the model learned MC1
    # from synthetic lesions only) and the MC2 level with P(MC2) above P(MC0). The phantom is out of
    # the training distribution: its MC2 level is called MC1 by the shipped z-score model (README).
    for row in truth[truth.modic.isin([1, 2])].itertuples():
        p = by_level[row.level].probabilities
        assert by_level[row.level].prediction != "MC0", (row.level, p)
        if row.modic == 1:
            assert by_level[row.level].prediction == "MC1", (row.level, p)
        else:
            assert p["MC2"] > p["MC0"], (row.level, p)


def test_nyul_landmarks_file_beside_the_weights_matches_them():
    from modic_core.classification import load_classifier
    from modic_core.settings import weights_dir
    from modic_core.normalization.methods import NYUL_PERCENTILES, load_landmarks

    if not models_available().get("nyul"):
        pytest.skip("nyul weights missing")
    lm = load_landmarks(weights_dir() / "nyul_landmarks.json")
    clf = load_classifier("nyul")
    assert set(lm) == {"T1", "T2"} == set(clf.landmarks)
    for k in lm:
        assert len(lm[k]) == len(NYUL_PERCENTILES) and np.allclose(lm[k], clf.landmarks[k])
