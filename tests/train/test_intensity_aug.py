"""The opt-in intensity augmentation of classifier training (ClassifierTrainingConfig.intensity_aug)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from modic_core.datasets.synthetic import make_phantom_2d
from modic_core.schema import ClassifierCard, ClassifierTrainingConfig
from modic_core.train.classifier import (
    DiscRecord,
    StudyData,
    intensity_augmented,
    NormCache,
    build_crops,
    fit_landmarks,
    train_model,
    training_config,
)


def _tiny_cohort(n: int = 4) -> list[StudyData]:
    """``n`` seeded single-slice phantom pairs (8-bit like spider2d) with their truth boxes."""
    out = []
    for k in range(n):
        ph = make_phantom_2d(seed=10 + k, shape=(128, 128), spacing=(1.5, 1.5), modic={"L4-L5": 2} if k % 2 else {})
        sd = StudyData(f"p{k}", ph.t1, ph.t2, "synthetic", 1.5)
        sd.discs = [DiscRecord(sd.study_id, lv.level, min(lv.modic, 2), lv.box, 0, "ground truth") for lv in ph.levels]
        out.append(sd)
    return out


@pytest.fixture(scope="module")
def cohort() -> list[StudyData]:
    return _tiny_cohort()


def test_shipped_cards_record_the_augmentation_their_command_used():
    from pathlib import Path

    card = ClassifierCard.load(Path(__file__).parents[2] / "weights" / "classifier_zscore.json")
    flag = card.command.split("--intensity-aug ")[1].split()[0] if "--intensity-aug" in card.command else None
    assert card.config.intensity_aug == (None if flag is None else float(flag))
    assert ClassifierTrainingConfig().intensity_aug is None  # off by default: older cards round-trip unchanged
    assert "intensity_aug" not in ClassifierTrainingConfig().to_dict()
    assert ClassifierTrainingConfig(intensity_aug=0.5).to_dict()["intensity_aug"] == 0.5


@pytest.mark.parametrize("method", ["zscore", "nyul"])
def test_augmented_items_are_renormalized_copies(cohort, method):
    lm = fit_landmarks(cohort) if method == "nyul" else None
    items = build_crops(cohort, method, lm, None, NormCache())
    same = intensity_augmented(items, method=method, landmarks=lm, share=0.0, rng=np.random.default_rng(0))
    assert all(a[1] is b[1] and a[2] is b[2] for a, b in zip(items, same))
    aug = intensity_augmented(items, method=method, landmarks=lm, share=1.0, rng=np.random.default_rng(0))
    for (sd, t1, t2), (sd2, a1, a2) in zip(items, aug):
        assert sd2 is sd and a1.shape == t1.shape and a2.shape == t2.shape and np.isfinite(a1).all()
        assert not np.array_equal(a1, t1) or not np.array_equal(a2, t2)
    assert np.array_equal(sd.t1.array, cohort[-1].t1.array)  # the raw arrays are not changed in place


def test_one_epoch_smoke_run_with_the_augmentation(cohort):
    cfg = training_config(epochs=1, batch_size=8, intensity_aug=1.0)
    items = build_crops(cohort, "zscore", None, None, NormCache())
    model = train_model(items, cfg=cfg, seed=0, desc="smoke", method="zscore")
    with torch.inference_mode():
        x = torch.zeros((2, 2, 1, 48, 56))
        p = torch.softmax(model(x), 1)
    assert p.shape == (2, 3) and torch.isfinite(p).all()
    with pytest.raises(ValueError, match="normalization method"):
        train_model(items, cfg=cfg, seed=0, desc="smoke")


def test_off_by_default_training_is_unchanged(cohort):
    """intensity_aug = 0 draws no random numbers: the run equals one that never heard of the option."""
    items = build_crops(cohort, "zscore", None, None, NormCache())
    cfg = training_config(epochs=1, batch_size=8)
    a = train_model(items, cfg=cfg, seed=1, desc="a", method="zscore")
    b = train_model(items, cfg=cfg, seed=1, desc="b")
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)


def test_cli_flag_sets_the_share():
    import argparse

    from modic_core.train.classifier import add_config_args, config_from_args

    ap = argparse.ArgumentParser()
    add_config_args(ap)
    assert config_from_args(ap.parse_args(["--cohort", "x", "--intensity-aug", "0.5"])).intensity_aug == 0.5
    assert config_from_args(ap.parse_args(["--cohort", "x"])).intensity_aug is None
