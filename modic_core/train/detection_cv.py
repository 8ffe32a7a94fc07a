"""Scoring detector predictions of the cross-validation folds with :func:`modic_core.evaluation.metrics.detection_report`.

Re-run the held-out inference of every fold checkpoint with today's inference path (box
de-inflation, class merging: :meth:`modic_core.detection.infer.Detector.detect_grid`) and re-score
it with today's region filter and naming, without retraining::

    python -m modic_core.train.detection_cv --runs runs/detector --cohort PATH/TO/spider2d --weights weights

writes ``weights/detector_cv_predictions.json`` and the ``cross_validation`` of
``weights/detector.json`` (folds from that card); then rerun
``python -m modic_core.train.naming_audit --cohort PATH/TO/spider2d``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from modic_core.detection.infer import Detection, StudyDetections
from modic_core.detection.levels import merge_classes
from modic_core.datasets.cohort import iter_cohort
from modic_core.detection.infer import Detector
from modic_core.detection.model import DetectorConfig, build_detector
from modic_core.evaluation.metrics import match_boxes, detection_report
from modic_core.schema import DetectionCV, DetectorCard, write_json_atomic
from modic_core.train.common import set_threads
from modic_core.train.detector_samples import load_detector_samples

__all__ = ["DEFAULT_THRESHOLD", "false_positive_locations", "main", "out_of_fold_predictions", "named_regions", "prediction_regions", "summarize_detector_cv"]

DEFAULT_THRESHOLD = 0.5


def prediction_regions(pred: dict) -> StudyDetections:
    """The candidate regions of one saved raw prediction, as the app builds them: one region per
    location (:func:`~modic_core.detection.levels.merge_classes`; ``labels`` present for weights
    with the L5-S1 anchor class; or ``anchor`` scores for regions already merged)."""
    if "anchor" in pred:  # already one region per location, with anchor scores
        boxes, scores, anchor = (np.asarray(pred["boxes"], float).reshape(-1, 4), np.asarray(pred["scores"], float),
                                 np.asarray(pred["anchor"], float))
    else:
        boxes, scores, anchor = merge_classes(pred["boxes"], pred["scores"], pred.get("labels"))
    cands = [Detection(tuple(b), float(s), (0, 0), anchor=float(a)) for b, s, a in zip(boxes, scores, anchor)]
    return StudyDetections(cands, [0], (1, 1, 1), anchored="anchor" in pred or "labels" in pred)


def named_regions(pred: dict, threshold: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Boxes, scores and level names of one saved prediction as the app shows them at ``threshold``
    (:meth:`modic_core.detection.infer.StudyDetections.kept`: on the column, no duplicates, names
    fixed for all thresholds)."""
    dets = prediction_regions(pred)
    boxes = np.array([d.box for d in dets.candidates], float).reshape(-1, 4)
    scores = np.array([d.score for d in dets.candidates], float)
    kept = dets.kept(threshold)
    idx = [i for i, _ in kept]
    return boxes[idx].reshape(-1, 4), scores[idx], [n for _, n in kept]


def kept_regions(pred: dict, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and scores of one saved prediction as the app shows them at ``threshold``."""
    kb, ks, _ = named_regions(pred, threshold)
    return kb, ks


def _records(preds: Sequence[dict], threshold: float, sequence: str | None):
    gt, pr = [], []
    for p in preds:
        if sequence and p["sequence"] != sequence:
            continue
        image_id = f"{p['study_id']}"
        for b, lv in zip(p["gt_boxes"], p["gt_levels"]):
            gt.append({"image_id": image_id, "box": b, "level": lv})
        kb, ks, names = named_regions(p, threshold)
        for b, s, n in zip(kb, ks, names):
            pr.append({"image_id": image_id, "box": b.tolist(), "level": n, "score": float(s)})
    return gt, pr


def false_positive_locations(preds: Sequence[dict], *, threshold: float = DEFAULT_THRESHOLD) -> dict[str, int]:
    """Where the false positives (no ground-truth box at IoU >= 0.5) lie, per image: above the
    topmost graded disc (often a real disc that was not graded), below the lowest one, or within
    the graded column (duplicates and poorly placed boxes)."""
    out = {"above_top_graded_disc": 0, "below_lowest_graded_disc": 0, "within_graded_column": 0, "images": 0}
    for p in preds:
        kb, _ = kept_regions(p, threshold)
        gt = np.asarray(p["gt_boxes"], float).reshape(-1, 4)
        good = {q for _, q, iou in match_boxes(gt, kb) if iou >= 0.5}
        out["images"] += 1
        for q in range(len(kb)):
            if q in good:
                continue
            cy = (kb[q, 1] + kb[q, 3]) / 2
            key = "above_top_graded_disc" if cy < gt[:, 1].min() else "below_lowest_graded_disc" if cy > gt[:, 3].max() else "within_graded_column"
            out[key] += 1
    return out


def summarize_detector_cv(preds: Sequence[dict], *, thresholds: Sequence[float] = (0.3, 0.5, 0.7), n_boot: int = 1000) -> dict[str, Any]:
    """Detection report per sequence (T1, T2) and threshold; images are bootstrapped per patient
    (each patient contributes one image per sequence)."""
    out: dict[str, Any] = {"default_threshold": DEFAULT_THRESHOLD, "by_sequence": {}}
    for seq in ("T1", "T2"):
        out["by_sequence"][seq] = {}
        for t in thresholds:
            gt, pr = _records(preds, t, seq)
            rep = detection_report(gt, pr, n_boot=n_boot)
            rep.per_gt = None  # per box: not kept in the card
            out["by_sequence"][seq][f"{t:g}"] = rep
    out["false_positive_locations_at_default_threshold"] = false_positive_locations(preds)
    return out


def out_of_fold_predictions(*, runs: Path, cohort: Path, folds: Sequence[Sequence[str]]) -> list[dict]:
    """Each fold's checkpoint (``runs/fold{k}/ckpt.pt``) run on its held-out training images (mid
    slice of T1 and T2, :func:`modic_core.train.detector_samples.load_detector_samples`) through the app's
    per-slice path; one dict per image with merged regions (``boxes`` in T1 pixels, ``scores``,
    ``anchor``) and the ground truth (``gt_boxes``, ``gt_levels``)."""
    wanted = {str(i) for f in folds for i in f}
    studies = [s for s in iter_cohort(cohort) if s.has_boxes and s.study_id in wanted]
    missing = wanted - {s.study_id for s in studies}
    if missing:
        raise ValueError(f"{len(missing)} study ids of the folds are not boxed studies of {cohort}")
    samples = load_detector_samples(studies)
    out = []
    for k, fold in enumerate(folds):
        ckpt = Path(runs) / f"fold{k}" / "ckpt.pt"
        if not ckpt.exists():
            raise FileNotFoundError(f"no checkpoint for fold {k}: {ckpt}")
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        cfg = DetectorConfig.from_dict(state["config"])
        model = build_detector(config=cfg)
        model.load_state_dict(state["model"])
        det = Detector(model.eval(), config=cfg, device="cpu", source=ckpt.name)
        test = [s for s in samples if s.study_id in set(map(str, fold))]
        for s, (b, sc, a) in zip(test, det.detect_grid([s.image for s in test], [s.scale for s in test])):
            gt = s.boxes.numpy().astype(float).copy()
            gt[:, [0, 2]] /= s.scale[1]
            gt[:, [1, 3]] /= s.scale[0]
            out.append({"study_id": s.study_id, "sequence": s.sequence, "fold": k,
                        "boxes": np.round(b, 2).tolist(), "scores": np.round(sc, 4).tolist(), "anchor": np.round(a, 4).tolist(),
                        "gt_boxes": gt.round(2).tolist(), "gt_levels": list(s.levels)})
    return out


def main(argv: list[str] | None = None) -> int:

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", required=True, type=Path, help="folder with fold{k}/ckpt.pt (k = 0 .. n_folds-1)")
    ap.add_argument("--cohort", required=True, type=Path)
    ap.add_argument("--weights", type=Path, default=Path("weights"), help="folder with detector.json (updated)")
    args = ap.parse_args(argv)
    set_threads()
    card = DetectorCard.load(args.weights / "detector.json")
    preds = out_of_fold_predictions(runs=args.runs, cohort=args.cohort, folds=card.folds)
    write_json_atomic(preds, args.weights / "detector_cv_predictions.json")
    command = "python -m modic_core.train.detection_cv " + " ".join(argv if argv is not None else sys.argv[1:])
    card = card.replace(cross_validation=DetectionCV.from_dict(summarize_detector_cv(preds)), rescored_by=command)
    card.save(args.weights / "detector.json")
    print(json.dumps(card.cross_validation.to_dict()["false_positive_locations_at_default_threshold"]), flush=True)
    print(f"re-ran {len(preds)} held-out images of {len(card.folds)} folds into {args.weights / 'detector.json'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
