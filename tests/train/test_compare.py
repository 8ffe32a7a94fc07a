"""The comparison document from synthetic CV predictions: calibration, default rule, per-scanner rows;
the cohort's t2_aligned exclusion; calibration stored with the weights and read back at inference."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from modic_core.evaluation.calibration import softmax
from modic_core.schema import ClassifierCard, NormalizationComparison
from modic_core.train.classifier import (
    LOGIT_COLUMNS,
    T2_NOT_ALIGNED,
    cv_logits,
    prepare_cohort,
    scanner_group,
)
from modic_core.train.compare import comparison_table, summarize

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures"


def _cv(seed: int, *, skill: float, scale: float = 3.0) -> pd.DataFrame:
    """Out-of-fold predictions of 60 studies x 5 levels: MC0/MC2 mostly, over-confident logits."""
    rng = np.random.default_rng(0)
    n_st = 60
    modic = rng.choice([0, 2], size=(n_st, 5), p=[0.65, 0.35]).ravel()
    modic[7] = 1
    r = np.random.default_rng(seed)
    z = r.normal(0, 1, (len(modic), 3))
    z[np.arange(len(modic)), modic] += skill
    z *= scale
    p = softmax(z)
    studies = np.repeat([f"s{i}" for i in range(n_st)], 5)
    return pd.DataFrame({
        "study_id": studies, "level": np.tile(["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"], n_st), "modic": modic,
        "box_source": "ground truth", "fold": np.repeat(np.arange(n_st) % 5, 5),
        "manufacturer": np.repeat(["Philips Healthcare" if i % 3 else "SIEMENS" for i in range(n_st)], 5),
        "field_strength_t": np.repeat([1.5 if i % 2 else 3.0 for i in range(n_st)], 5),
        "p_mc0": p[:, 0], "p_mc1": p[:, 1], "p_mc2": p[:, 2], "prediction": p.argmax(1),
        **{c: z[:, j] for j, c in enumerate(LOGIT_COLUMNS)},
    })


@pytest.fixture(scope="module")
def doc():
    return summarize({"zscore": _cv(1, skill=1.5), "nyul": _cv(2, skill=1.6)}, n_boot=100)


def test_calibration_per_method_is_nested_and_lowers_ece(doc):
    for entry in doc.methods.values():
        cal = entry.calibration
        assert cal.temperature > 1.5  # the logits were over-confident by 3
        assert cal.ece_after < cal.ece_before
        assert len(cal.fold_temperatures) == 5 and len(cal.reliability_after) == 15
        assert cal.uncertainty.rate.value is not None and cal.uncertain_below is not None


def test_default_follows_the_rule_not_the_point_estimate(doc):
    again = NormalizationComparison.from_dict(doc.to_dict())
    assert again.default_method == again.best_method
    p = again.methods["nyul"].paired["mc0_vs_mc2_balanced_accuracy"]
    differs = p.ci_low is not None and p.ci_low > 0
    assert again.methods_differ is differs
    assert again.default_method == ("nyul" if differs else "zscore")
    assert again.default_rule and "CI" in again.default_rule


def test_a_clearly_better_method_becomes_default():
    doc = summarize({"zscore": _cv(1, skill=0.6), "nyul": _cv(1, skill=3.0)}, n_boot=200)
    assert doc.default_method == "nyul" and doc.methods_differ


def test_table_has_per_scanner_rows_with_flags(doc):
    t = comparison_table(doc)
    groups = set(t["group"])
    assert {"all", "manufacturer: Philips", "manufacturer: Siemens", "field strength: 1.5 T", "field strength: 3 T"} <= groups
    assert {"mc0_vs_mc2_ci", "mc0_vs_mc2_too_few", "ece_before", "ece_after", "uncertain_rate"} <= set(t.columns)
    assert t.loc[t.group == "all", "default"].sum() == 1
    assert set(doc.methods["zscore"].by_manufacturer) == {"Philips", "Siemens"}


def test_scanner_group_names():
    assert scanner_group("Philips Medical Systems") == scanner_group("Philips Healthcare") == "Philips"
    assert scanner_group("SIEMENS") == "Siemens"
    assert scanner_group("") == scanner_group(None) == "unknown"
    assert scanner_group("Acme MR") == "Acme MR"


def test_logits_fall_back_to_log_probabilities():
    cv = _cv(1, skill=1.5)
    old = cv.drop(columns=LOGIT_COLUMNS)
    np.testing.assert_allclose(softmax(cv_logits(old)), softmax(cv_logits(cv)), atol=1e-6)


def test_studies_with_misaligned_t2_are_left_out():
    studies, excluded = prepare_cohort(FIXTURES / "spider_misaligned", use_detector=False)
    assert studies == []
    assert {e["study_id"] for e in excluded} <= {"9", "55"}
    assert all(e["reason"] == T2_NOT_ALIGNED for e in excluded)


def test_calibration_in_weights_or_card_is_used_at_inference(tmp_path):
    from modic_core.classification.infer import load_classifier
    from modic_core.classification.model import ClassifierConfig, build_classifier
    from modic_core.schema import CalibrationRecord, sha256_file
    from modic_core.train.classifier import export_classifier
    from modic_core.train.common import crop_spec
    from modic_core.schema import ClassifierTrainingConfig

    spec = crop_spec(ClassifierTrainingConfig())
    model = build_classifier(config=ClassifierConfig(widths=(4, 4), pools=1, depth_kernel=1))
    cal = CalibrationRecord(temperature=2.0, uncertain_below=0.6, threshold_rule="r", fitted_on="f")
    d1, d2 = tmp_path / "a", tmp_path / "b"
    d1.mkdir()
    d2.mkdir()
    export_classifier(model, method="zscore", spec=spec, landmarks=None, path=d1 / "classifier_zscore.pt", calibration=cal)
    clf = load_classifier("zscore", weights_dir=str(d1), device="cpu")
    assert clf.calibration.temperature == 2.0 and clf.calibration.uncertain_below == 0.6
    x = torch.randn(3, 2, spec.depth, spec.height, spec.width)
    raw, _ = clf._predict_raw(x, gradcam=False)
    scaled, _ = clf.predict(x, gradcam=False)
    np.testing.assert_allclose(scaled, softmax(np.log(raw) / 2.0), atol=1e-5)
    # weights without a stored calibration: the card's, only when its sha256 names these weights
    pt = d2 / "classifier_zscore.pt"
    export_classifier(model, method="zscore", spec=spec, landmarks=None, path=pt)
    card = {**ClassifierCard.header(), "command": "c", "normalization": "zscore",
            "data": {"cohort": "x", "n_studies": 1, "n_discs": 1, "box_source_counts": {}, "excluded": []},
            "config": {}, "weights": pt.name, "sha256": "0" * 64, "size_bytes": 1, "cross_validation": None,
            "calibration": cal.to_dict()}
    ClassifierCard.from_dict(card).save(d2 / "classifier_zscore.json")
    assert load_classifier("zscore", weights_dir=str(d2), device="cpu").calibration.temperature == 1.0
    load_classifier.cache_clear()
    ClassifierCard.from_dict({**card, "sha256": sha256_file(pt)}).save(d2 / "classifier_zscore.json")
    assert load_classifier("zscore", weights_dir=str(d2), device="cpu").calibration.temperature == 2.0
    load_classifier.cache_clear()
