"""The shipped prediction sets reproduce from the shipped out-of-fold predictions (python -m modic_core.train.conformal --rescore)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from modic_core.classification.infer import load_classifier
from modic_core.schema import ClassifierCard, ConformalEvaluation
from modic_core.train.conformal import choose_score, main

ROOT = Path(__file__).resolve().parents[2]
W = ROOT / "weights"
FILES = ["classifier_zscore.json", "classifier_zscore.pt", "conformal_oof_zscore.csv", "conformal_shift_predictions.csv",
         "conformal_variants_oof.csv", "conformal_variants_commands.json"]


def test_rescore_reproduces_the_shipped_sets(tmp_path):
    for f in FILES:
        if (W / f).is_file():
            shutil.copy(W / f, tmp_path / f)
    shipped = ConformalEvaluation.load(W / "conformal.json")
    argv = shipped.command.split("python -m modic_core.train.conformal ", 1)[1].split()
    keep, skip = [], False
    for a in argv:  # the run folders (--cv, --variant) are not shipped: their OOF tables are
        if skip or a in ("--cv", "--variant", "--rescore"):
            skip = a in ("--cv", "--variant")
            continue
        keep.append(a)
    assert main(["--rescore", "--weights", str(tmp_path), *keep]) == 0
    again = json.loads((tmp_path / "conformal.json").read_text())
    ref = json.loads((W / "conformal.json").read_text())
    for key in ("scores", "chosen_score", "by_manufacturer", "by_field_strength", "risk_coverage", "shift", "variants"):
        assert again[key] == ref[key], key
    assert ClassifierCard.load(tmp_path / "classifier_zscore.json").conformal == ClassifierCard.load(W / "classifier_zscore.json").conformal


def test_shipped_classifier_carries_the_chosen_calibration():
    doc = ConformalEvaluation.load(W / "conformal.json")
    card = ClassifierCard.load(W / "classifier_zscore.json")
    assert card.conformal is not None and card.conformal.score == doc.chosen_score
    assert card.conformal.temperature == card.calibration.temperature
    oof = pd.read_csv(W / "conformal_oof_zscore.csv", dtype={"study_id": str}, keep_default_na=False)
    n_syn = int((oof["role"] == "synthetic_mc1").sum())
    assert card.conformal.n_synthetic_mc1 == n_syn
    sizes = {k: len(v) for k, v in card.conformal.calibration_scores.items()}
    assert sizes["MC0"] + sizes["MC2"] == int(((oof["role"] == "cv") & oof["modic"].isin([0, 2])).sum())
    assert sizes["MC1"] == n_syn + int(((oof["role"] == "cv") & (oof["modic"] == 1)).sum())
    from modic_core.classification.conformal import quantile

    for grade, scores in card.conformal.calibration_scores.items():  # the card's readable quantiles match its scores
        assert card.conformal.quantiles[grade] == round(quantile(scores, card.conformal.coverage), 6)
    clf = load_classifier("zscore")
    assert clf.conformal is not None and clf.conformal.score == doc.chosen_score


def test_score_rule_picks_by_singletons_only_among_covering_scores():
    doc = ConformalEvaluation.load(W / "conformal.json")
    assert choose_score(doc.scores, {s: doc.by_manufacturer for s in doc.scores}) in doc.scores
    # a score that misses the coverage floor never wins on singletons
    lac, aps = doc.scores["lac"], doc.scores["aps"]
    if aps.coverage.value < 0.89:
        assert choose_score({"lac": lac, "aps": aps}, {"lac": {}, "aps": {}}) == "lac" or lac.coverage.value < 0.89
    assert np.isfinite(doc.scores[doc.chosen_score].coverage.value)


def _oof(rng, *, n_pat=60, sharp=1.0, seed_noise=0) -> pd.DataFrame:
    """A synthetic OOF table: 5 discs per patient, 5 folds, logits that separate MC0/MC2 by ``sharp``."""
    rows = []
    noise = np.random.default_rng(seed_noise)
    for p in range(n_pat):
        for lv in range(5):
            y = int(rng.choice([0, 2], p=[0.65, 0.35])) if (p, lv) != (0, 0) else 1
            z = noise.normal(size=3)
            z[y] += sharp * 2.0
            rows.append({"study_id": str(p), "level": f"L{lv}", "modic": y, "fold": p % 5, "manufacturer": "Philips" if p % 2 else "SIEMENS",
                         "field_strength_t": 1.5, "role": "cv", "logit_mc0": z[0], "logit_mc1": z[1] - 2, "logit_mc2": z[2]})
    for k in range(5):
        for _ in range(20):
            rows.append({"study_id": "", "level": "", "modic": 1, "fold": k, "manufacturer": "", "field_strength_t": np.nan,
                         "role": "synthetic_mc1", "logit_mc0": -2.0, "logit_mc1": 2.0 + noise.normal(), "logit_mc2": -2.0})
    return pd.DataFrame(rows)


def test_variant_comparison_is_paired_and_can_fail():
    from modic_core.train.conformal import compare_variant

    ref = _oof(np.random.default_rng(0), sharp=0.5)
    same = compare_variant(ref, ref.copy(), score="lac", coverage=0.9, n_boot=100)
    assert same["paired_to_shipped"]["singleton_share"]["diff"] == 0 and not same["passes_rule"]
    better = compare_variant(ref, _oof(np.random.default_rng(0), sharp=2.0), score="lac", coverage=0.9, n_boot=100)
    assert better["paired_to_shipped"]["singleton_share"]["ci_low"] > 0 and better["passes_rule"]


def test_evaluate_writes_a_record_the_classifier_can_use():
    from modic_core.classification.conformal import ConformalCalibration
    from modic_core.train.conformal import evaluate

    oof = _oof(np.random.default_rng(1), sharp=1.0)
    doc, rec = evaluate(oof, temperature=1.0, n_boot=50)
    cal = ConformalCalibration(score=rec.score, classes=tuple(rec.classes), calibration_scores=rec.calibration_scores)
    assert cal.n("MC1") == 100 + 1  # synthetic lesions + the one real MC1 disc
    m = doc.scores[doc.chosen_score]
    assert 0.8 <= m.coverage.value <= 1.0 and m.n == 299
