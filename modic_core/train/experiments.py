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
* ``seed_ensemble_flip_tta``: both;
* ``multitask``: a model with one extra linear head per auxiliary grading of the cohort (upper and
  lower endplate changes, Pfirrmann grade, disc narrowing, bulging, herniation, spondylolisthesis;
  :data:`modic_core.datasets.cohort.AUX_GRADINGS`) on the shared trunk, trained with the first model's
  seed on the same discs; loss = Modic cross-entropy + ``AUX_WEIGHT`` (0.3, fixed before any result)
  x the mean of the heads' cross-entropies, ungraded discs masked out
  (:func:`modic_core.train.classifier.aux_loss`); scored by its Modic head only;
* ``multitask_flip_tta``: the same with the flip.

``--variants`` runs a subset (the models each needs: ``seed_ensemble*`` the ``--seeds`` models,
``multitask*`` the multi-task one, every variant the first model, which ``single`` is). With
``--merge`` the variants run are written into the existing JSON beside the stored ones, only if this
run's ``single`` reproduces the stored ``single`` exactly (same folds, seeds and data); the command is
recorded in ``merged_commands``.

Reported per variant: MC0-vs-MC2 balanced accuracy with patient-bootstrap CI, its paired
difference to ``single`` (patients resampled), the share of real MC0/MC2 discs called MC1, and the
top-label expected calibration error before any temperature (15 bins). A variant is adopted only if
its paired CI excludes zero (the rule of the default normalization method).
Writes a :class:`modic_core.schema.GradingExperiments`.

Learning curve (``--learning-curve 0.25,0.5,0.75``, default ``--json weights/learning_curve.json``): on the same
folds, each fold's first model (seed ``seed + k``, same config) is also trained on nested random subsets of the
fold's training patients (:func:`modic_core.train.learning_curve.nested_subsets`: stratified by scanner maker and
"any MC1/MC2 disc", drawn with ``default_rng([seed, fold])``); the held-out discs do not change. Fraction 1.0 is
the ``single`` model and is checked against the stored ``weights/grading_experiments.json``. ``--draws N`` repeats
the subset draw N times per fold (draw d > 0: ``default_rng([seed, fold, d])``, same model seed) to show how much
the curve moves with the choice of patients. Writes a
:class:`modic_core.schema.LearningCurve`: balanced accuracy with patient-bootstrap CI and training discs per
fraction, the paired difference 1.0 minus 0.5, and the slope per doubling of the training set.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from modic_core.schema import CurvePoint, Estimate, GradingExperiments, LearningCurve, PairedDiff, VariantScore
from modic_core.train.classifier import (
    NormCache,
    _tensors,
    add_config_args,
    build_crops,
    config_from_args,
    crop_spec,
    default_folds,
    fit_landmarks,
    prepare_cohort,
    scanner_group,
    train_model,
)
from modic_core.train.common import set_threads
from modic_core.train.learning_curve import (SUBSET_RULE, draw_spread, extrapolation_text, nested_subsets, parse_fractions,
                                             score_curve)
from modic_core.train.variant_scores import score_variants  # also re-exported (__all__)

__all__ = ["AUX_WEIGHT", "VARIANTS", "merge_results", "score_variants", "run_learning_curve", "main"]

VARIANTS = ("single", "flip_tta", "seed_ensemble", "seed_ensemble_flip_tta", "multitask", "multitask_flip_tta")

#: Weight of the auxiliary-grading loss of the ``multitask`` variant, fixed before it was first run.
AUX_WEIGHT = 0.3

MULTITASK_NOT_RUN = ("multi-task heads for the auxiliary gradings (endplate, Pfirrmann, narrowing, bulging, herniation): "
                     "not run in this session")


@torch.inference_mode()
def _probs(model, x: torch.Tensor, *, flip: bool) -> np.ndarray:
    logits = model(x)
    if flip:
        logits = (logits + model(x.flip(-1))) / 2
    return torch.softmax(logits, 1).numpy()


def _variants(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in names if v not in VARIANTS]
    if bad or not names:
        raise SystemExit(f"--variants: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(VARIANTS)}")
    return ["single"] + [v for v in VARIANTS if v in names and v != "single"]  # always with the reference


def merge_results(old: GradingExperiments, new: GradingExperiments, *, tol: float = 1e-12) -> GradingExperiments:
    """``old`` with ``new``'s variants written in (``new``'s ``single`` must equal ``old``'s: same CV reproduced)."""
    a, b = old.results.get("single"), new.results["single"]
    if a is None or not _same_scores(a, b, tol=tol):
        raise SystemExit(f"--merge: this run's single model ({b.mc0_vs_mc2_balanced_accuracy:.6f}) does not reproduce the stored "
                         f"one ({a and a.mc0_vs_mc2_balanced_accuracy}); write a separate --json instead")
    if (old.method, old.n_discs, old.n_patients) != (new.method, new.n_discs, new.n_patients):
        raise SystemExit("--merge: a different method or cohort than the stored results")
    results = {**old.results, **{k: v for k, v in new.results.items() if k != "single"}}
    adopted = [v for v in results if v != "single" and results[v].diff_ci_low is not None and results[v].diff_ci_low > 0]
    not_tried = [t for t in old.not_tried if not (t == MULTITASK_NOT_RUN and "multitask" in new.results)]
    return old.replace(results=results, adopted=adopted, not_tried=not_tried, merged_commands=[*old.merged_commands, new.command],
                   aux_weight=new.aux_weight if new.aux_weight is not None else old.aux_weight,
                   minutes=round(old.minutes + new.minutes, 1))


def _strata(sd) -> str:
    """Stratum of a study for the learning-curve subsets: scanner maker and whether it has any MC1/MC2 disc."""
    return f"{scanner_group(sd.manufacturer)}|{int(any(d.modic in (1, 2) for d in sd.discs))}"


def _same_scores(a: VariantScore, b: VariantScore, *, tol: float = 1e-12) -> bool:
    """Whether two variants' balanced accuracy, its CI and the ECE agree within ``tol``."""
    keys = ("mc0_vs_mc2_balanced_accuracy", "ci_low", "ci_high", "ece_uncalibrated")
    return all(abs(getattr(a, k) - getattr(b, k)) <= tol for k in keys)


def _reference(json_path: Path, row: VariantScore) -> str:
    """Whether ``row`` (the 1.0 point) reproduces the stored ``single`` of ``weights/grading_experiments.json``."""
    ref_path = json_path.parent / "grading_experiments.json"
    if not ref_path.is_file():
        return f"{ref_path}: not found, the 1.0 point was not checked"
    ref = GradingExperiments.load(ref_path).results.get("single")
    if ref is not None and _same_scores(ref, row):
        return f"the 1.0 point reproduces the single model of {ref_path.name} exactly ({row.mc0_vs_mc2_balanced_accuracy:.4f})"
    return (f"the 1.0 point ({row.mc0_vs_mc2_balanced_accuracy:.4f}) differs from the single model of {ref_path.name} "
            f"({ref and ref.mc0_vs_mc2_balanced_accuracy})")


def run_learning_curve(args: argparse.Namespace, *, fractions: list[float], command: str, json_path: Path) -> int:
    """Train and score the learning curve (module docstring) and write a :class:`LearningCurve` to ``json_path``."""
    set_threads()
    t0 = time.time()
    cfg = config_from_args(args)
    spec = crop_spec(cfg)
    studies, _ = prepare_cohort(args.cohort, cache_path=Path(args.runs) / "detector_boxes.json")
    folds = default_folds(studies, n_folds=cfg.n_folds, seed=cfg.seed)
    cache = NormCache()
    ys, pats = [], []
    draws = max(1, args.draws)
    acc: dict[tuple[int, float], list[np.ndarray]] = {(d, f): [] for d in range(draws) for f in fractions}
    n_pat: dict[tuple[int, float], list[int]] = {key: [] for key in acc}
    n_disc: dict[tuple[int, float], list[int]] = {key: [] for key in acc}
    for k, test_ids in enumerate(folds):
        test = set(test_ids)
        train_s = [s for s in studies if s.study_id not in test]
        test_s = [s for s in studies if s.study_id in test]
        lm_te = fit_landmarks(train_s) if args.method == "nyul" else None
        for d in range(draws):  # draw 0: default_rng([seed, fold]); draw d > 0: default_rng([seed, fold, d])
            subsets = nested_subsets([s.study_id for s in train_s], [_strata(s) for s in train_s], fractions=fractions,
                                     seed=[cfg.seed, k] if d == 0 else [cfg.seed, k, d])
            for f in fractions:
                if d > 0 and f == 1.0:
                    continue  # the full training set is the same in every draw
                keep = set(subsets[f])
                sub = [s for s in train_s if s.study_id in keep]
                lm = (fit_landmarks(sub) if f < 1 else lm_te) if args.method == "nyul" else None
                tr = build_crops(sub, args.method, lm, spec, cache)
                te = build_crops(test_s, args.method, lm, spec, cache)
                x, y = _tensors(te, spec, None)
                if f == 1.0:
                    ys.append(y.numpy())
                    pats += [d_.study_id for sd, _, _ in te for d_ in sd.discs]
                model = train_model(tr, cfg=cfg, seed=cfg.seed + k, desc=f"{args.method} fold {k} draw {d} fraction {f:g}",
                                    method=args.method, landmarks=lm)
                acc[d, f].append(_probs(model, x, flip=False))
                n_pat[d, f].append(len(sub))
                n_disc[d, f].append(sum(len(s.discs) for s in sub))
    y = np.concatenate(ys)
    by_draw = [{f: np.concatenate(acc[d, f] if acc[d, f] else acc[0, f]) for f in fractions} for d in range(draws)]
    probs = by_draw[0]
    spread = draw_spread(y, by_draw, [{f: float(np.mean(n_disc[d, f] or n_disc[0, f])) for f in fractions} for d in range(draws)])
    n_pat = {f: n_pat[0, f] for f in fractions}
    n_disc = {f: n_disc[0, f] for f in fractions}
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    np.savez(Path(args.runs) / "learning_curve_probs.npz", y=y, patients=np.array(pats),
             **{f"p{f:g}": p for f, p in probs.items()})  # re-scoring without retraining
    sc = score_curve(y, pats, probs, {f: float(np.mean(n_disc[f])) for f in fractions}, n_boot=args.n_boot)
    points = []
    for f in fractions:
        r = sc["rows"][f]
        diff = None
        if f != 1.0:
            diff = PairedDiff(metric="mc0_vs_mc2_balanced_accuracy", value_a=r.mc0_vs_mc2_balanced_accuracy,
                              value_b=sc["rows"][1.0].mc0_vs_mc2_balanced_accuracy, diff=r.diff_to_single,
                              ci_low=r.diff_ci_low, ci_high=r.diff_ci_high)
        points.append(CurvePoint(fraction=f, n_train_patients=n_pat[f], n_train_discs=n_disc[f],
                                 mc0_vs_mc2=Estimate(value=r.mc0_vs_mc2_balanced_accuracy, ci_low=r.ci_low, ci_high=r.ci_high),
                                 mc0_mc2_called_mc1=r.mc0_mc2_called_mc1, diff_to_full=diff,
                                 ba_by_draw=spread["ba"][f] if draws > 1 else []))
    half = sc["full_vs_half"]
    full = sc["rows"][1.0]
    doc = LearningCurve(
        command=command, method=args.method, seed=cfg.seed, n_discs=int(len(y)), n_patients=len(set(pats)),
        subset_rule=SUBSET_RULE, points=points,
        full_vs_half=half,
        slope_per_doubling=sc["slope"],
        fit_at_full=sc["fit_at_full"],
        extrapolation=extrapolation_text(sc["slope"], ba_full=full.mc0_vs_mc2_balanced_accuracy, fit_at_full=sc["fit_at_full"]),
        reference=_reference(json_path, full), minutes=round((time.time() - t0) / 60, 1), draws=draws,
        slope_by_draw=spread["slope"] if draws > 1 else [], full_vs_half_by_draw=spread["full_vs_half"] if draws > 1 else [],
    )
    for p in points:
        print(f"fraction {p.fraction:g}: train discs/fold {np.mean(p.n_train_discs):.0f}, BA {p.mc0_vs_mc2.value:.4f} "
              f"({p.mc0_vs_mc2.ci_low:.4f}-{p.mc0_vs_mc2.ci_high:.4f})", flush=True)
    print(doc.reference)
    print(doc.extrapolation)
    if draws > 1:
        print("slope by draw", [round(v, 4) for v in doc.slope_by_draw], "1.0 - 0.5 by draw", [round(v, 4) for v in doc.full_vs_half_by_draw])
    doc.save(json_path)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--method", default="zscore")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {', '.join(VARIANTS)}")
    ap.add_argument("--merge", action="store_true", help="write the variants run into the existing --json (see above)")
    ap.add_argument("--learning-curve", metavar="FRACTIONS", default=None,
                    help="instead of the variants: train the first model of each fold on these shares of its training "
                         "patients too (e.g. 0.25,0.5,0.75; 1.0 is added) and write a learning curve (see above)")
    ap.add_argument("--draws", type=int, default=1,
                    help="with --learning-curve: independent nested subset draws per fold (draw 0 is the reported curve; "
                         "the others give the spread between draws)")
    ap.add_argument("--json", type=Path, default=None,
                    help="output (default weights/grading_experiments.json, with --learning-curve weights/learning_curve.json)")
    args = ap.parse_args(argv)
    command = "python -m modic_core.train.experiments " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.learning_curve is not None:
        if args.merge:
            raise SystemExit("--merge is for the variants, not --learning-curve")
        return run_learning_curve(args, fractions=parse_fractions(args.learning_curve), command=command,
                                  json_path=args.json or Path("weights/learning_curve.json"))
    args.json = args.json or Path("weights/grading_experiments.json")
    variants = _variants(args.variants)
    ensemble = any(v.startswith("seed_ensemble") for v in variants)
    multitask = any(v.startswith("multitask") for v in variants)
    old = GradingExperiments.load(args.json) if args.merge else None
    set_threads()
    t0 = time.time()
    cfg = config_from_args(args)
    cfg_mt = cfg.replace(aux_weight=AUX_WEIGHT)  # classifier_arch adds the aux heads
    spec = crop_spec(cfg)
    studies, _ = prepare_cohort(args.cohort, cache_path=Path(args.runs) / "detector_boxes.json")
    folds = default_folds(studies, n_folds=cfg.n_folds, seed=cfg.seed)
    cache = NormCache()
    ys, pats, acc = [], [], {v: [] for v in variants}
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
        for j in range(args.seeds if ensemble else 1):
            model = train_model(tr, cfg=cfg, seed=cfg.seed + 100 * j + k, desc=f"{args.method} fold {k} seed {j}",
                                method=args.method, landmarks=lm)
            plain.append(_probs(model, x, flip=False))
            flipped.append(_probs(model, x, flip=True))
        got = {"single": plain[0], "flip_tta": flipped[0]}
        if ensemble:
            got.update(seed_ensemble=np.mean(plain, axis=0), seed_ensemble_flip_tta=np.mean(flipped, axis=0))
        if multitask:
            model = train_model(tr, cfg=cfg_mt, seed=cfg.seed + k, desc=f"{args.method} fold {k} multitask",
                                method=args.method, landmarks=lm)
            got.update(multitask=_probs(model, x, flip=False), multitask_flip_tta=_probs(model, x, flip=True))
        for v in variants:
            acc[v].append(got[v])
    y = np.concatenate(ys)
    probs = {v: np.concatenate(acc[v]) for v in variants}
    results = score_variants(y, pats, probs, n_boot=args.n_boot)
    adopted = [v for v, r in results.items() if v != "single" and r.diff_ci_low is not None and r.diff_ci_low > 0]
    doc = GradingExperiments(
        command=command,
        method=args.method, seeds=args.seeds, n_discs=int(len(y)), n_patients=len(set(pats)), results=results,
        adopted=adopted, rule="adopt a variant only if its paired patient-bootstrap 95 % CI of the MC0-vs-MC2 "
                             "balanced-accuracy difference to the single model excludes zero",
        not_tried=[] if multitask else [MULTITASK_NOT_RUN],
        aux_weight=AUX_WEIGHT if multitask else None,
        minutes=round((time.time() - t0) / 60, 1),
    )
    for v, r in results.items():
        print(v, {k: (round(x, 4) if isinstance(x, float) else x) for k, x in r.items()}, flush=True)
    if old is not None:
        doc.save(Path(args.runs) / "grading_experiments_unmerged.json")  # kept if the merge is refused
        doc = merge_results(old, doc)
    doc.save(args.json)
    print("adopted:", doc.adopted or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
