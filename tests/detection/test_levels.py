from __future__ import annotations

import numpy as np

from modic_core.detection.infer import Detection, StudyDetections, central_slices, fuse_slices
from modic_core.detection.levels import assign_level_names, order_top_to_bottom


def _stack(n, top=20.0, step=40.0):
    return np.array([[100, top + i * step, 160, top + i * step + 25] for i in range(n)], float)


def test_names_count_up_from_lowest_box_in_any_input_order():
    boxes = _stack(7)
    rng = np.random.default_rng(0)
    perm = rng.permutation(7)
    names = assign_level_names(boxes[perm])
    expected = ["T11-T12", "T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert [names[list(perm).index(i)] for i in range(7)] == expected
    assert list(order_top_to_bottom(boxes[perm])) == [list(perm).index(i) for i in range(7)]


def test_threshold_filters_without_rerun_and_renames():
    cands = [Detection(tuple(b), s, (0, 0)) for b, s in zip(_stack(6), [0.9, 0.95, 0.3, 0.99, 0.97, 0.96])]
    det = StudyDetections(cands, [0], (1, 300, 300))
    hi = det.filter(0.5)
    assert [d.level for d in hi] == ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert len(hi) == 5 and [d.level for d in hi][-1] == "L5-S1"
    assert all(hi[i].box[1] < hi[i + 1].box[1] for i in range(len(hi) - 1))
    lo = det.filter(0.1)
    assert len(lo) == 6 and lo[0].level == "T12-L1"


def test_fusion_merges_the_same_region_across_slices():
    b = _stack(3)
    per = {
        4: (b, np.array([0.9, 0.9, 0.9])),
        5: (b + 2, np.array([0.95, 0.95, 0.95])),
        6: (b[:2] - 1, np.array([0.8, 0.8])),
    }
    fused = fuse_slices(per)
    assert len(fused) == 3
    full = [d for d in fused if d.z_range == (4, 6)]
    assert len(full) == 2
    partial = [d for d in fused if d.z_range == (4, 5)][0]
    assert abs(partial.score - (0.9 + 0.95) / 3) < 1e-6


def test_central_slices_cover_the_slab():
    assert central_slices(1, 3.0) == [0]
    assert central_slices(15, 4.0, slab_mm=12.0) == [6, 7, 8]
    assert len(central_slices(40, 1.0, slab_mm=12.0)) == 7


def test_anatomical_filter_drops_duplicates_and_a_far_bottom_region():
    from modic_core.detection.levels import anatomical_filter

    boxes = _stack(6)
    dup = boxes[2] + [3, 8, 3, 8]  # a second box on disc 2, its centre inside it
    far = boxes[-1] + [0, 130, 0, 130]  # far below the column (e.g. an S1-S2 remnant)
    allb = np.vstack([boxes, dup, far])
    scores = np.array([0.9] * 6 + [0.6, 0.95])
    keep = anatomical_filter(allb, scores)
    assert keep[:6].all() and not keep[6] and not keep[7]
    names = assign_level_names(allb[keep])
    assert names[-1] == "L5-S1" and names[0] == "T12-L1"
    # a regular column is left alone
    assert anatomical_filter(boxes, np.full(6, 0.9)).all()
