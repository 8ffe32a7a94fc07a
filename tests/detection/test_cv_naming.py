"""The naming rules on real detector outputs: the held-out predictions of the shipped detector's
patient-level CV on SPIDER (``weights/detector_cv_predictions.json``, raw regions of each fold's
checkpoint on its unseen studies), re-named by today's :mod:`modic_core.detection.levels`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
PREDICTIONS = WEIGHTS / "detector_cv_predictions.json"

pytestmark = pytest.mark.skipif(not PREDICTIONS.exists(), reason="needs weights/detector_cv_predictions.json")


def _preds() -> list[dict]:
    return json.loads(PREDICTIONS.read_text())


def _named_matches(pred: dict):
    from modic_core.evaluation.metrics import match_boxes
    from modic_core.train.detection_cv import named_regions

    boxes, _, names = named_regions(pred, 0.5)
    gt = np.asarray(pred["gt_boxes"], float).reshape(-1, 4)
    return [(pred["gt_levels"][g], names[q]) for g, q, iou in match_boxes(gt, boxes) if iou >= 0.5], boxes


def test_vertebral_bodies_of_a_thin_disc_spine_do_not_shift_the_names():
    """SPIDER study 58 (T1): thin discs far apart, vertebral bodies boxed at 0.55-0.93 between them."""
    pred = next(p for p in _preds() if p["study_id"] == "58" and p["sequence"] == "T1")
    pairs, boxes = _named_matches(pred)
    assert len(pairs) >= 6
    assert all(truth == name for truth, name in pairs), pairs
    assert len(boxes) <= len(pred["gt_boxes"]) + 1  # at most one ungraded disc above the column


def test_cv_naming_and_false_positives_match_the_card():
    from modic_core.train.detection_cv import false_positive_locations

    preds = _preds()
    card = json.loads((WEIGHTS / "detector.json").read_text())["cross_validation"]
    assert false_positive_locations(preds) == card["false_positive_locations_at_default_threshold"]
    for seq in ("T1", "T2"):
        ps = [p for p in preds if p["sequence"] == seq]
        pairs = [pair for p in ps for pair in _named_matches(p)[0]]
        right = sum(a == b for a, b in pairs) / len(pairs)
        assert right >= 0.97, (seq, right)  # issue #13 target
        assert right == pytest.approx(card["by_sequence"][seq]["0.5"]["level_accuracy"]["value"])
        in_column = false_positive_locations(ps)["within_graded_column"] / len(ps)
        assert in_column <= 0.2, (seq, in_column)  # issue #13 target
