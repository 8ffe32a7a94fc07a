"""Site recalibration of the prediction sets (python -m modic_core.train.site_calibration)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modic_core.classification.conformal import nonconformity
from modic_core.classification.infer import read_conformal
from modic_core.errors import InputError
from modic_core.schema import ClassifierCard
from modic_core.train.site_calibration import main, site_scores, write_site_weights
from tests.shipped import models_ready

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "demo" / "cohort"  # three real SPIDER studies, MC0 and MC2 levels


def test_site_scores_replace_mc0_mc2_and_keep_mc1(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([2, 0.3, 2], size=40)
    y = np.array([0, 2] * 20)
    card = write_site_weights(probs, y, [str(i // 4) for i in range(40)], weights=ROOT / "weights", out=tmp_path / "w",
                              normalization="zscore", source="site", min_per_grade=20)
    shipped = ClassifierCard.load(ROOT / "weights" / "classifier_zscore.json").conformal
    got = ClassifierCard.load(tmp_path / "w" / "classifier_zscore.json")
    assert got.conformal == card.conformal
    expect = nonconformity(probs, shipped.score)[np.arange(40), y]
    assert np.allclose(sorted(got.conformal.calibration_scores["MC0"]), sorted(np.round(expect[y == 0], 6)))
    assert got.conformal.calibration_scores["MC1"] == shipped.calibration_scores["MC1"]
    assert "site calibration" in got.conformal.fitted_on
    assert got.conformal.quantiles["MC1"] == shipped.quantiles["MC1"] and got.conformal.quantiles["MC0"] != shipped.quantiles["MC0"]
    # the copy's classifier reads the new calibration (its sha256 still names the same weights)
    cal = read_conformal(tmp_path / "w" / "classifier_zscore.pt", got.sha256)
    assert cal is not None and cal.n("MC0") == 20 and cal.n("MC1") == len(shipped.calibration_scores["MC1"])
    assert (ROOT / "weights" / "classifier_zscore.json").read_bytes() != (tmp_path / "w" / "classifier_zscore.json").read_bytes()


def test_refuses_too_few_levels_an_existing_folder_and_the_shipped_folder(tmp_path):
    probs, y = np.full((6, 3), 1 / 3), np.array([0, 0, 0, 2, 2, 2])
    with pytest.raises(InputError, match="Too few labelled levels"):
        write_site_weights(probs, y, ["a"] * 6, weights=ROOT / "weights", out=tmp_path / "w", normalization="zscore", source="s")
    with pytest.raises(InputError, match="new folder"):
        write_site_weights(probs, y, ["a"] * 6, weights=ROOT / "weights", out=ROOT / "weights", normalization="zscore", source="s")
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="exists"):
        write_site_weights(probs, y, ["a"] * 6, weights=ROOT / "weights", out=tmp_path / "x", normalization="zscore", source="s",
                           min_per_grade=1)


def test_end_to_end_on_a_small_labelled_cohort(tmp_path, capsys):
    if not models_ready():
        pytest.skip("shipped weights absent")
    probs, y, ids = site_scores(MINI, normalization="zscore", threshold=0.5)
    assert len(y) >= 4 and set(y.tolist()) <= {0, 2} and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert main(["--cohort", str(MINI), "--out", str(tmp_path / "w"), "--min-per-grade", "1"]) == 0
    assert "MC0/MC2 prediction-set calibration from" in capsys.readouterr().out
    assert main(["--cohort", str(MINI), "--out", str(tmp_path / "w2"), "--min-per-grade", "500"]) == 2
    assert "Too few labelled levels" in capsys.readouterr().err
