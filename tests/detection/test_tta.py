from __future__ import annotations

import numpy as np
import pytest

from modic_core.detection.tta import unflip_boxes, weighted_box_fusion


def test_unflip_maps_a_flipped_box_back():
    b = np.array([[10.0, 5.0, 30.0, 15.0]])
    flipped = unflip_boxes(b, 100)  # as found on the flipped image
    assert np.allclose(flipped, [[70.0, 5.0, 90.0, 15.0]])
    assert np.allclose(unflip_boxes(flipped, 100), b)


def test_fusion_averages_matched_boxes_by_score_and_halves_a_lone_box():
    a = (np.array([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]]), np.array([0.9, 0.6]), np.array([1, 1]))
    b = (np.array([[1.0, 0.0, 11.0, 10.0]]), np.array([0.3]), np.array([1]))
    boxes, scores, labels = weighted_box_fusion([a, b])
    assert len(boxes) == 2 and list(labels) == [1, 1]
    assert boxes[0, 0] == pytest.approx((0.9 * 0 + 0.3 * 1) / 1.2)
    assert scores[0] == pytest.approx((0.9 + 0.3) / 2) and scores[1] == pytest.approx(0.3)


def test_fusion_keeps_classes_and_passes_apart():
    same = np.array([[0.0, 0.0, 10.0, 10.0]])
    a = (np.vstack([same, same]), np.array([0.9, 0.8]), np.array([1, 2]))  # two classes, same place
    boxes, scores, labels = weighted_box_fusion([a])
    assert sorted(labels.tolist()) == [1, 2]  # not fused across classes
    twice = (np.vstack([same, same + 1]), np.array([0.9, 0.8]), None)  # two boxes of one pass
    boxes, _, labels = weighted_box_fusion([twice])
    assert len(boxes) == 2 and labels is None  # never fused within a pass
    with pytest.raises(ValueError):
        weighted_box_fusion([])
