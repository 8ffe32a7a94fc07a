"""Leave-one-scanner-maker-out check of the detector and its level naming: trained on the boxed
studies of every other maker, scored on the studies of one maker it never saw.

A proxy for issue #13's "another scanner" target (on real studies from another scanner the lowest
disc is still named L5-S1) with the data we have: SPIDER's boxed studies come from Philips and
Siemens scanners, so each model meets a vendor's images, sequences and field strengths for the
first time. The recipe is the shipped detector's (:mod:`modic_core.train.detector`, same epochs,
augmentation and seed rule); the held-out images go through the app's inference path
(:func:`modic_core.train.detection_cv.out_of_fold_predictions`) and naming.

    python -m modic_core.train.detector_transfer --cohort PATH/TO/spider2d --epochs 40

writes ``weights/detector_transfer.json`` (:class:`modic_core.schema.DetectorTransfer`) and the
held-out raw predictions ``weights/detector_transfer_predictions.json``; runs checkpoint each
epoch under ``runs/detector_transfer/fold{k}`` (fold k = test maker k in the JSON's order) and
resume from there. ``--rescore`` re-scores the shipped predictions with today's naming rules
(no training, no cohort images needed). Fewer training studies than the 5-fold CV (all of one maker
are left out), so part of any drop is the smaller training set: the JSON gives the 5-fold CV
figures of the same test studies next to it.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from modic_core.datasets.cohort import iter_cohort
from modic_core.detection.levels import name_regions, ANCHOR_SURE
from modic_core.evaluation.metrics import match_boxes
from modic_core.schema import DetectorCard, DetectorTrainingConfig, DetectorTransfer, write_json_atomic
from modic_core.train.common import detector_arch, set_threads
from modic_core.train.detection_cv import named_regions, prediction_regions, false_positive_locations, summarize_detector_cv, out_of_fold_predictions
from modic_core.train.detector import load_detector_samples, train_detector

__all__ = ["maker_of", "lowest_disc_named", "score_group", "main"]


def maker_of(manufacturer: str) -> str:
    """Vendor of a DICOM Manufacturer string: "Philips Healthcare" and "Philips Medical Systems" are
    one maker ("Philips"); "SIEMENS" is "Siemens"; otherwise the first word, capitalised."""
    word = (manufacturer or "unknown").strip().split()[0] if (manufacturer or "").strip() else "unknown"
    return word.capitalize()


def lowest_disc_named(pred: dict, threshold: float = 0.5) -> dict[str, Any]:
    """For one image whose graded discs include L5-S1: whether that disc was found (a kept region at
    IoU >= 0.5), whether it was named L5-S1, and whether the lowest kept region is named L5-S1 and
    is that disc; whether the naming was flagged uncertain, and whether it would be without the
    low-anchor flag (``anchor_sure=0``); the L5-S1-class score of the anchor (None: none found)."""
    boxes, _, names = named_regions(pred, threshold)
    gt = np.asarray(pred["gt_boxes"], float).reshape(-1, 4)
    g = list(pred["gt_levels"]).index("L5-S1")
    hit = [q for gg, q, iou in match_boxes(gt, boxes) if gg == g and iou >= 0.5]
    lowest = int(np.argmax((boxes[:, 1] + boxes[:, 3]) / 2)) if len(boxes) else None
    dets = prediction_regions(pred)
    naming = dets.naming()
    anchor = np.array([c.anchor or 0.0 for c in dets.candidates]) if dets.anchored else None
    plain = name_regions(np.array([c.box for c in dets.candidates], float).reshape(-1, 4),
                         np.array([c.score for c in dets.candidates], float), anchor=anchor, anchor_sure=0.0)
    return {
        "found": bool(hit),
        "named_l5s1": bool(hit) and names[hit[0]] == "L5-S1",
        "lowest_is_l5s1": lowest is not None and bool(hit) and lowest == hit[0] and names[lowest] == "L5-S1",
        "uncertain": naming.uncertain,
        "uncertain_without_low_anchor_flag": plain.uncertain,
        "anchor_score": naming.anchor_score,
    }


def score_group(preds: Sequence[dict], *, n_boot: int = 1000) -> dict[str, Any]:
    """Per sequence: detection (share of discs at IoU >= 0.7, names right; threshold 0.5), false
    positives in the graded column per image, and the L5-S1 measures of :func:`lowest_disc_named`
    over the images whose graded discs include L5-S1, with the silent failures: L5-S1 not named
    right (missed, or another region named L5-S1) while the naming is not flagged uncertain, with
    and without the low-anchor flag (:data:`~modic_core.detection.levels.ANCHOR_SURE`)."""
    rep = summarize_detector_cv(preds, thresholds=(0.5,), n_boot=n_boot)
    out: dict[str, Any] = {}
    for seq in ("T1", "T2"):
        ps = [p for p in preds if p["sequence"] == seq]
        det = rep["by_sequence"][seq]["0.5"]
        l5 = [lowest_disc_named(p) for p in ps if "L5-S1" in p["gt_levels"]]
        fp = false_positive_locations(ps)
        out[seq] = {
            "images": len(ps),
            "iou_ge_0.7": det.share_gt_iou_ge_07.display,
            "names_right": det.level_accuracy.display,
            "fp_in_column_per_image": round(fp["within_graded_column"] / max(len(ps), 1), 3),
            "images_with_l5s1": len(l5),
            "l5s1_found": sum(x["found"] for x in l5),
            "l5s1_named_right": sum(x["named_l5s1"] for x in l5),
            "lowest_region_is_l5s1": sum(x["lowest_is_l5s1"] for x in l5),
            "naming_flagged_uncertain": sum(x["uncertain"] for x in l5),
            "l5s1_wrong_not_flagged": sum(not x["named_l5s1"] and not x["uncertain"] for x in l5),
            "l5s1_wrong_not_flagged_without_low_anchor_flag": sum(not x["named_l5s1"] and not x["uncertain_without_low_anchor_flag"] for x in l5),
            "l5s1_right_flagged_only_by_low_anchor": sum(x["named_l5s1"] and x["uncertain"] and not x["uncertain_without_low_anchor_flag"] for x in l5),
            "anchor_scores_of_wrong_l5s1": sorted(round(x["anchor_score"], 2) for x in l5 if not x["named_l5s1"] and x["anchor_score"] is not None),
            "right_l5s1_with_anchor": sum(x["named_l5s1"] and x["anchor_score"] is not None for x in l5),
            "right_l5s1_anchor_at_least_sure": sum(x["named_l5s1"] and (x["anchor_score"] or 0.0) >= ANCHOR_SURE for x in l5),
        }
    return out


def _groups(makers: Sequence[str], folds: Sequence[Sequence[str]], preds: list[dict], cv_preds: list[dict], *,
            n_studies: int, n_boot: int) -> dict[str, Any]:
    groups = {}
    for m, fold in zip(makers, folds):
        test = set(fold)
        groups[m] = {
            "test_studies": len(test),
            "train_studies": n_studies - len(test),
            "left_out": score_group([p for p in preds if p["study_id"] in test], n_boot=n_boot),
            "five_fold_cv": score_group([p for p in cv_preds if p["study_id"] in test], n_boot=n_boot),
        }
    return groups


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cohort", type=Path, help="cohort folder with boxed studies (not needed with --rescore)")
    ap.add_argument("--runs", type=Path, default=Path("runs/detector_transfer"))
    ap.add_argument("--weights", type=Path, default=Path("weights"), help="folder with detector.json and detector_cv_predictions.json")
    ap.add_argument("--out", type=Path, default=Path("weights/detector_transfer.json"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--rescore", action="store_true", help="only re-score WEIGHTS/detector_transfer_predictions.json (no training)")
    args = ap.parse_args(argv)
    set_threads()
    shipped = args.weights / "detector_transfer_predictions.json"
    if args.rescore:
        old = DetectorTransfer.load(args.out)
        preds = json.loads(shipped.read_text())
        cv_preds = json.loads((args.weights / "detector_cv_predictions.json").read_text())
        doc = old.replace(groups=_groups(old.makers, old.folds, preds, cv_preds, n_studies=sum(map(len, old.folds)), n_boot=args.n_boot),
                      rescored_by="python -m modic_core.train.detector_transfer " + " ".join(argv if argv is not None else sys.argv[1:]))
        doc.save(args.out)
        print(json.dumps(doc.to_dict()["groups"], indent=1), flush=True)
        return 0
    if args.cohort is None:
        ap.error("--cohort is required unless --rescore")
    studies = [s for s in iter_cohort(args.cohort) if s.has_boxes]
    by_maker: dict[str, list[str]] = defaultdict(list)
    for s in studies:
        by_maker[maker_of(s.manufacturer)].append(s.study_id)
    makers = sorted(by_maker)
    if len(makers) < 2:
        raise SystemExit(f"the boxed studies of {args.cohort} come from one maker ({makers}): nothing to leave out")
    folds = [sorted(by_maker[m]) for m in makers]
    cfg = DetectorTrainingConfig().replace(epochs=args.epochs, seed=args.seed, n_folds=len(folds))
    samples = load_detector_samples(studies)
    for k, test in enumerate(folds):
        run = args.runs / f"fold{k}"
        if (run / "done").exists():
            continue
        train = [s for s in samples if s.study_id not in set(test)]
        train_detector(train, cfg=cfg, run_dir=run, seed=cfg.seed + 1 + k, desc=f"without {makers[k]}")
        (run / "done").write_text("ok")
    preds = out_of_fold_predictions(runs=args.runs, cohort=args.cohort, folds=folds)
    write_json_atomic(preds, shipped)
    cv_preds = json.loads((args.weights / "detector_cv_predictions.json").read_text())
    card = DetectorCard.load(args.weights / "detector.json")
    groups = _groups(makers, folds, preds, cv_preds, n_studies=len(studies), n_boot=args.n_boot)
    doc = DetectorTransfer(
        command="python -m modic_core.train.detector_transfer " + " ".join(argv if argv is not None else sys.argv[1:]),
        config=cfg.replace(model=detector_arch(cfg).to_dict()),
        five_fold_cv_train_studies=len(studies) - int(np.mean([len(f) for f in card.folds])),
        makers=makers, folds=folds, groups=groups,
    )
    doc.save(args.out)
    print(json.dumps(doc.to_dict()["groups"], indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
