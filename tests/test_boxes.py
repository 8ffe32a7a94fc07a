"""The one box IoU (modic_core.boxes.box_iou, on torchvision's box_iou) and its callers."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from torchvision.ops import box_iou as torchvision_box_iou

from modic_core.boxes import box_iou
from modic_core.datasets import demo
from modic_core.detection import infer, levels
from modic_core.evaluation import metrics
from modic_core.ui import teaching


def test_iou_by_hand_and_as_torchvision():
    a = [[0, 0, 10, 10]]
    b = [[5, 0, 15, 10], [0, 1, 10, 11], [20, 20, 30, 30], [0, 0, 10, 10]]
    np.testing.assert_allclose(box_iou(a, b)[0], [50 / 150, 90 / 110, 0.0, 1.0])
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (7, 2))
    boxes = np.hstack([xy, xy + rng.uniform(1, 20, (7, 2))])
    np.testing.assert_array_equal(box_iou(boxes, boxes), torchvision_box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy())


def test_degenerate_boxes_overlap_nothing():
    inverted = [[10, 10, 0, 0]]
    point = [[3, 3, 3, 3]]
    assert box_iou(inverted, [[0, 0, 10, 10]])[0, 0] == 0.0
    assert box_iou(point, point)[0, 0] == 0.0  # torchvision: 0 / 0
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_every_caller_uses_it():
    """No copy of the IoU arithmetic is left: the metrics' name is this function, and the demo and
    teaching matchers, the class merging and the slice fusion call it."""
    assert metrics.iou_matrix is box_iou
    for module in (demo, teaching, levels, infer):
        assert module.box_iou is box_iou
    assert not hasattr(demo, "_iou")


def test_demo_and_teaching_matchers_pick_the_best_overlap():
    lv = [SimpleNamespace(level="L4-L5", box=(0, 0, 10, 10)), SimpleNamespace(level="L5-S1", box=(0, 20, 10, 30))]
    truth = [SimpleNamespace(level="x", box=(0, 21, 10, 31), grade="MC1")]
    assert demo.match_truth(lv, truth) == {"L5-S1": truth[0]}
    assert teaching.match_level(lv, (0, 1, 10, 11)).level == "L4-L5"
    assert teaching.match_level(lv, (50, 50, 60, 60)) is None
