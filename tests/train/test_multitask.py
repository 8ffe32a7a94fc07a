"""Multi-task training: the auxiliary gradings' masked loss, their labels, and the single-head path unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from modic_core.schema import ClassifierTrainingConfig, GradingExperiments
from modic_core.train.classifier import (
    DiscRecord,
    StudyData,
    NormCache,
    aux_labels,
    aux_loss,
    build_crops,
    train_model,
    training_config,
)
from modic_core.train.common import classifier_arch

HEADS = (("pfirrmann", 5), ("disc_herniation", 2))


def test_masked_aux_loss_ignores_ungraded_discs():
    torch.manual_seed(0)
    out = {"pfirrmann": torch.randn(4, 5), "disc_herniation": torch.randn(4, 2)}
    lab = torch.tensor([[2, 0], [4, -1], [-1, -1], [0, 1]])
    ref = (torch.nn.functional.cross_entropy(out["pfirrmann"][[0, 1, 3]], lab[[0, 1, 3], 0])
           + torch.nn.functional.cross_entropy(out["disc_herniation"][[0, 3]], lab[[0, 3], 1])) / 2
    assert torch.allclose(aux_loss(out, lab, HEADS), ref)
    changed = {k: v.clone() for k, v in out.items()}
    changed["pfirrmann"][2] += 100.0  # disc 2 has no grade: its outputs do not matter
    changed["disc_herniation"][1] -= 100.0
    assert torch.allclose(aux_loss(changed, lab, HEADS), ref)
    # a head with no graded disc in the batch adds nothing (and no NaN)
    only = torch.tensor([[1, -1], [3, -1]])
    two = {k: v[:2] for k, v in out.items()}
    assert torch.allclose(aux_loss(two, only, HEADS), torch.nn.functional.cross_entropy(two["pfirrmann"], only[:, 0]))
    assert float(aux_loss(two, torch.full((2, 2), -1), HEADS)) == 0.0


def _tiny_cohort(n: int = 4) -> list[StudyData]:
    from modic_core.datasets.synthetic import make_phantom_2d

    out, rng = [], np.random.default_rng(0)
    for k in range(n):
        ph = make_phantom_2d(seed=10 + k, shape=(128, 128), spacing=(1.5, 1.5), modic={"L4-L5": 2} if k % 2 else {})
        sd = StudyData(f"p{k}", ph.t1, ph.t2, "synthetic", 1.5)
        sd.discs = [DiscRecord(sd.study_id, lv.level, min(lv.modic, 2), lv.box, 0, "ground truth",
                               {} if i == 0 else {"pfirrmann": int(rng.integers(5)), "disc_herniation": int(rng.integers(2))})
                    for i, lv in enumerate(ph.levels)]
        out.append(sd)
    return out


@pytest.fixture(scope="module")
def items():
    return build_crops(_tiny_cohort(), "zscore", None, None, NormCache())


def test_aux_labels_follow_the_crop_order_with_missing_as_minus_one(items):
    lab = aux_labels(items, HEADS)
    assert lab.shape == (sum(len(sd.discs) for sd, _, _ in items), 2)
    first = [i for i, (sd, _, _) in enumerate(items)]
    starts = np.cumsum([0] + [len(sd.discs) for sd, _, _ in items])[:-1]
    assert (lab[starts] == -1).all()  # the first disc of every study is ungraded
    d = items[1][0].discs[2]
    assert lab[starts[1] + 2].tolist() == [d.aux["pfirrmann"], d.aux["disc_herniation"]] and first


def test_aux_weight_adds_the_cohort_heads_and_trains(items):
    cfg = training_config(epochs=1, batch_size=8, aux_weight=0.3)
    arch = classifier_arch(cfg)
    from modic_core.datasets.cohort import AUX_GRADINGS

    assert [n for n, _ in arch.aux_heads] == list(AUX_GRADINGS) and dict(arch.aux_heads)["pfirrmann"] == 5
    model = train_model(items, cfg=cfg, seed=0, desc="multitask smoke", method="zscore")
    logits, aux = model.forward_aux(torch.zeros(2, 2, 1, 48, 56))
    assert logits.shape == (2, 3) and aux["pfirrmann"].shape == (2, 5) and torch.isfinite(logits).all()


def test_without_aux_weight_training_is_the_single_head_run(items):
    assert ClassifierTrainingConfig().aux_weight is None and "aux_weight" not in ClassifierTrainingConfig().to_dict()
    a = train_model(items, cfg=training_config(epochs=1, batch_size=8), seed=1, desc="a", method="zscore")
    b = train_model(items, cfg=training_config(epochs=1, batch_size=8, aux_weight=0.0), seed=1, desc="b", method="zscore")
    assert a.aux is None and b.aux is None
    for k, v in a.state_dict().items():  # aux_weight 0 trains only the Modic head's loss: same trunk
        assert torch.equal(v, b.state_dict()[k]), k


def _doc(single: float, **extra) -> GradingExperiments:
    row = {"mc0_vs_mc2_balanced_accuracy": single, "ci_low": single - 0.04, "ci_high": single + 0.04,
           "mc0_mc2_called_mc1": 0.01, "ece_uncalibrated": 0.04}
    return GradingExperiments(command="c", method="zscore", seeds=1, n_discs=10, n_patients=3,
                              results={"single": row, **extra}, adopted=[], rule="r", **({} if extra else {"not_tried": ["x"]}))


def test_merge_keeps_stored_variants_and_refuses_a_single_that_does_not_reproduce():
    from modic_core.train.experiments import MULTITASK_NOT_RUN, merge_results

    old = _doc(0.70, flip_tta={"mc0_vs_mc2_balanced_accuracy": 0.69, "diff_ci_low": -0.02})
    old.not_tried = [MULTITASK_NOT_RUN]
    mt = {"mc0_vs_mc2_balanced_accuracy": 0.75, "diff_to_single": 0.05, "diff_ci_low": 0.01, "diff_ci_high": 0.09}
    new = _doc(0.70, multitask=mt)
    new.command, new.aux_weight = "new", 0.3
    merged = merge_results(old, new)
    assert set(merged.results) == {"single", "flip_tta", "multitask"} and merged.results["flip_tta"] == old.results["flip_tta"]
    assert merged.adopted == ["multitask"] and merged.merged_commands == ["new"] and merged.not_tried == []
    assert merged.aux_weight == 0.3 and merged.command == "c"
    assert GradingExperiments.from_dict(merged.to_dict()) == merged
    with pytest.raises(SystemExit, match="does not reproduce"):
        merge_results(old, _doc(0.71, multitask=mt))


def test_shipped_experiments_json_still_loads():
    from pathlib import Path

    doc = GradingExperiments.load(Path(__file__).parents[2] / "weights" / "grading_experiments.json")
    assert "single" in doc.results
