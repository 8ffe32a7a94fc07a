"""Grading experiments decided by the same patient-level CV as the shipped models.

    python -m modic_core.train.experiments --cohort PATH/TO/spider2d --method zscore --intensity-aug 0.5 \\
        --json weights/grading_experiments.json

For one normalization method, on the folds and with the training config of
``python -m modic_core.train.compare`` (``runs/classifier/folds.json`` is recomputed the same way),
each fold trains ``--seeds`` models (seeds ``seed + k``, ``seed + 100 + k``, ...; the first is the
CV model of the comparison) and scores the held-out discs four ways:

* ``single``: the first model (what the comparison reports);
* ``flip_tta``: the first model, logits averaged over the crop and its anterior-posterior flip
  (the flip the training augmentation uses);
* ``seed_ensemble``: mean probabilities of the ``--seeds`` models;
* ``seed_ensemble_flip_tta``: both.

Reported per variant: MC0-vs-MC2 balanced accuracy with patient-bootstrap CI, its paired
difference to ``single`` (patients resampled), the share of real MC0/MC2 discs called MC1, and the
top-label expected calibration error before any temperature (15 bins). A variant is adopted only if
its paired CI excludes zero (the rule of the default normalization method).
Writes a :class:`modic_core.schema.GradingExperiments`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from modic_core.schema import GradingExperiments
from modic_core.train.classifier import (
    _NormCache,
    _tensors,
    add_config_args,
    build_crops,
    config_from_args,
    crop_spec,
    default_folds,
    fit_landmarks,
    prepare_cohort,
    train_model,
)
from modic_core.train.common import set_threads

__all__ = ["VARIANTS", "score_variants", "main"]

VARIANTS = ("single", "flip_tta", "seed_ensemble", "seed_ensemble_flip_tta")


@torch.inference_mode()
def _probs(model, x: torch.Tensor, *, flip: bool) -> np.ndarray:
    logits = model(x)
    if flip:
        logits = (logits + model(x.flip(-1))) / 2
    return torch.softmax(logits, 1).numpy()


def score_variants(y: np.ndarray, patients: list[str], probs: dict[str, np.ndarray], *, n_boot: int = 1000) -> dict:
    """Metrics of each variant's probabilities (N, 3) against the true labels ``y`` (0/1/2)."""
    from modic_core.evaluation.calibration import reliability
    from modic_core.evaluation.metrics import bootstrap_ci, mc0_vs_mc2_balanced_accuracy, paired_bootstrap

    out = {}
    keep = (y == 0) | (y == 2)
    for name, p in probs.items():
        pred = p.argmax(1)
        ba = mc0_vs_mc2_balanced_accuracy(y, proba=p)["value"]
        ci = bootstrap_ci(lambda idx, p=p: mc0_vs_mc2_balanced_accuracy(y[idx], proba=p[idx])["value"], len(y), patients,
                          n_boot=n_boot, seed=0) if n_boot else {}
        ece, _ = reliability(p, y)
        row = {"mc0_vs_mc2_balanced_accuracy": ba, "ci_low": ci.get("ci_low"), "ci_high": ci.get("ci_high"),
               "mc0_mc2_called_mc1": float(np.mean(pred[keep] == 1)), "ece_uncalibrated": ece}
        if name != "single":
            d = paired_bootstrap(y, pred, probs["single"].argmax(1), patients, metric="mc0_vs_mc2_balanced_accuracy",
                                 proba_a=p, proba_b=probs["single"], n_boot=n_boot, seed=0)
            row.update({"diff_to_single": d["diff"], "diff_ci_low": d["ci_low"], "diff_ci_high": d["ci_high"]})
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--method", default="zscore")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=Path("weights/grading_experiments.json"))
    args = ap.parse_args(argv)
    set_threads()
    t0 = time.time()
    cfg = config_from_args(args)
    spec = crop_spec(cfg)
    studies, _ = prepare_cohort(args.cohort, cache_path=Path(args.runs) / "detector_boxes.json")
    folds = default_folds(studies, n_folds=cfg.n_folds, seed=cfg.seed)
    cache = _NormCache()
    ys, pats, acc = [], [], {v: [] for v in VARIANTS}
    for k, test_ids in enumerate(folds):
        test = set(test_ids)
        train_s = [s for s in studies if s.study_id not in test]
        test_s = [s for s in studies if s.study_id in test]
        lm = fit_landmarks(train_s) if args.method == "nyul" else None
        tr = build_crops(train_s, args.method, lm, spec, cache)
        te = build_crops(test_s, args.method, lm, spec, cache)
        x, y = _tensors(te, spec, None)
        ys.append(y.numpy())
        pats += [d.study_id for sd, _, _ in te for d in sd.discs]
        plain, flipped = [], []
        for j in range(args.seeds):
            model = train_model(tr, cfg=cfg, seed=cfg.seed + 100 * j + k, desc=f"{args.method} fold {k} seed {j}",
                                method=args.method, landmarks=lm)
            plain.append(_probs(model, x, flip=False))
            flipped.append(_probs(model, x, flip=True))
        acc["single"].append(plain[0])
        acc["flip_tta"].append(flipped[0])
        acc["seed_ensemble"].append(np.mean(plain, axis=0))
        acc["seed_ensemble_flip_tta"].append(np.mean(flipped, axis=0))
    y = np.concatenate(ys)
    probs = {v: np.concatenate(acc[v]) for v in VARIANTS}
    results = score_variants(y, pats, probs, n_boot=args.n_boot)
    adopted = [v for v, r in results.items() if v != "single" and r.get("diff_ci_low") is not None and r["diff_ci_low"] > 0]
    doc = GradingExperiments(
        command="python -m modic_core.train.experiments " + " ".join(argv if argv is not None else sys.argv[1:]),
        method=args.method, seeds=args.seeds, n_discs=int(len(y)), n_patients=len(set(pats)), results=results,
        adopted=adopted, rule="adopt a variant only if its paired patient-bootstrap 95 % CI of the MC0-vs-MC2 "
                             "balanced-accuracy difference to the single model excludes zero",
        not_tried=["multi-task heads for the auxiliary gradings (endplate, Pfirrmann, narrowing, bulging, herniation): "
                   "not run in this session"],
        minutes=round((time.time() - t0) / 60, 1),
    )
    doc.save(args.json)
    for v, r in results.items():
        print(v, {k: (round(x, 4) if isinstance(x, float) else x) for k, x in r.items()}, flush=True)
    print("adopted:", adopted or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
