"""Audit of level naming rules on detector outputs: ``count_up`` (count up from the lowest box),
``name_regions`` (disc column + confident reference discs, the lowest one is L5-S1) and, for a
detector with the L5-S1 class, ``anchor`` (the same column rule counted up from the region the
detector scores as L5-S1: what the app does; :func:`modic_core.detection.levels.name_regions`).

    python -m modic_core.train.naming_audit --cohort PATH/TO/spider2d --out weights/naming_audit.json

Two sets of detector outputs are scored against the SPIDER level labels of the boxed discs:

* ``cross_validation``: the held-out predictions of the detector's patient-level CV
  (``weights/detector_cv_predictions.json``, boxed studies x T1/T2). The column rule was designed
  while looking at an earlier detector's CV predictions; the anchor rule and its threshold were
  fixed before these predictions existed.
* ``held_out``: boxed studies of the cohort that the shipped detector never saw in training
  (not in ``weights/detector.json`` ``data.study_ids``), run through the shipped detector now.
  Neither the detector nor the naming rule was tuned on them. Empty when the detector was trained
  on every boxed study.

Per sequence and threshold: share of matched discs (IoU >= 0.5) named right, false positives
inside the graded column per image, and the share of discs kept at two thresholds (0.3-0.9) whose
name is the same at both.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from modic_core.detection.infer import StudyDetections
from modic_core.detection.levels import anatomical_filter, assign_level_names
from modic_core.evaluation.metrics import match_boxes
from modic_core.schema import NamingAudit
from modic_core.train.detection_cv import prediction_regions
from modic_core.datasets.cohort import iter_cohort
from modic_core.detection.infer import load_detector

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _named(rule: str, dets: StudyDetections, t: float) -> tuple[list[int], list[str]]:
    """Indices (into the candidates) kept at threshold ``t`` and their names, by ``rule``."""
    if rule == "count_up":
        boxes, scores = _arrays(dets)
        idx = np.where(scores >= t)[0]
        if len(idx) == 0:
            return [], []
        idx = idx[anatomical_filter(boxes[idx], scores[idx])]
        return idx.tolist(), assign_level_names(boxes[idx])
    if rule == "name_regions" and dets.anchored:  # the column rule without the L5-S1 anchor class
        dets = replace(dets, anchored=False)
    kept = dets.kept(t)  # what the app shows: on the column, no duplicates, names fixed for all thresholds
    return [i for i, _ in kept], [n for _, n in kept]


def _arrays(dets: StudyDetections) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([d.box for d in dets.candidates], float).reshape(-1, 4),
            np.array([d.score for d in dets.candidates], float))


def score(preds: Sequence[dict], rule: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for seq in ("T1", "T2"):
        items = [p for p in preds if p["sequence"] == seq]
        per_t: dict[str, Any] = {}
        stable = [0, 0]
        for p in items:
            dets = prediction_regions(p)
            named = {t: dict(zip(*_named(rule, dets, t))) for t in THRESHOLDS}
            for t1, t2 in combinations(THRESHOLDS, 2):
                common = set(named[t1]) & set(named[t2])
                stable[0] += sum(named[t1][i] == named[t2][i] for i in common)
                stable[1] += len(common)
        for t in (0.3, 0.5, 0.7, 0.9):
            right = total = fp_in = 0
            for p in items:
                dets = prediction_regions(p)
                b, _ = _arrays(dets)
                idx, names = _named(rule, dets, t)
                kb = b[idx]
                gt = np.asarray(p["gt_boxes"], float).reshape(-1, 4)
                good = set()
                for g, q, iou in (match_boxes(gt, kb) if len(kb) else []):
                    if iou >= 0.5:
                        total += 1
                        right += names[q] == p["gt_levels"][g]
                        good.add(q)
                for q in range(len(kb)):
                    cy = (kb[q, 1] + kb[q, 3]) / 2
                    if q not in good and gt[:, 1].min() <= cy <= gt[:, 3].max():
                        fp_in += 1
            per_t[f"{t:g}"] = {"names_right": round(right / max(total, 1), 4), "discs_matched": total,
                               "fp_in_column_per_image": round(fp_in / max(len(items), 1), 3)}
        out[seq] = {"images": len(items), "by_threshold": per_t,
                    "names_same_across_thresholds": round(stable[0] / max(stable[1], 1), 4)}
    return out


def held_out_predictions(cohort: Path, trained_ids: set[str]) -> list[dict]:
    """The shipped detector's raw candidates on the boxed studies it was not trained on."""
    det = load_detector()
    out = []
    for cs in iter_cohort(cohort):
        if not cs.has_boxes or cs.study_id in trained_ids:
            continue
        study = cs.load()
        for seq, vol in (("T1", study.t1), ("T2", study.t2)):
            raw = det.detect(vol)
            cands = raw.candidates
            out.append({"study_id": cs.study_id, "sequence": seq,
                        "boxes": [list(c.box) for c in cands], "scores": [c.score for c in cands],
                        **({"anchor": [c.anchor for c in cands]} if raw.anchored else {}),
                        "gt_boxes": [list(lv.box) for lv in cs.levels if lv.box is not None],
                        "gt_levels": [lv.level for lv in cs.levels if lv.box is not None]})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cohort", required=True, type=Path)
    ap.add_argument("--weights", type=Path, default=Path("weights"))
    ap.add_argument("--out", type=Path, default=Path("weights/naming_audit.json"))
    args = ap.parse_args(argv)
    cv = json.loads((args.weights / "detector_cv_predictions.json").read_text())
    trained = set(json.loads((args.weights / "detector.json").read_text())["data"]["study_ids"])
    held = held_out_predictions(args.cohort, trained)
    anchored = any("labels" in p or "anchor" in p for p in cv)
    rules = ("count_up", "name_regions") + (("anchor",) if anchored else ())
    doc = NamingAudit(
        command=f"python -m modic_core.train.naming_audit --cohort {args.cohort}",
        thresholds=list(THRESHOLDS),
        cross_validation={r: score(cv, r) for r in rules},
        held_out={r: score(held, r) for r in rules} if held else {},
        held_out_studies=sorted({p["study_id"] for p in held}),
    )
    doc.save(args.out)
    print(json.dumps({k: v for k, v in doc.to_dict().items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
