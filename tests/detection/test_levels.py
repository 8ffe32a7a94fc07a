from __future__ import annotations

import numpy as np
import pytest

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


def test_threshold_filters_without_rerun_and_keeps_names():
    cands = [Detection(tuple(b), s, (0, 0)) for b, s in zip(_stack(6), [0.9, 0.95, 0.3, 0.99, 0.97, 0.96])]
    det = StudyDetections(cands, [0], (1, 300, 300))
    hi = det.filter(0.5)
    # the unconfident third disc leaves a gap at 0.5: the names above it do not shift
    assert [d.level for d in hi] == ["T12-L1", "L1-L2", "L3-L4", "L4-L5", "L5-S1"]
    assert all(hi[i].box[1] < hi[i + 1].box[1] for i in range(len(hi) - 1))
    lo = det.filter(0.1)
    assert [d.level for d in lo] == ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]


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


# --------------------------------------------------------------------------- name_regions


def _column(n=7, spacing=38.0, width=70.0, x0=200.0, top=20.0):
    """(n, 4) disc boxes from the top down along a gently curved column (lordosis), T1 pixels."""
    out = []
    for k in range(n):
        cy = top + k * spacing
        cx = x0 + 12.0 * ((k - n / 2) / n) ** 2 * 4
        out.append([cx - width / 2, cy - 12, cx + width / 2, cy + 12])
    return np.array(out)


def test_names_count_up_from_the_lowest_confident_disc():
    from modic_core.detection.levels import name_regions

    boxes = _column()
    nm = name_regions(boxes, np.full(len(boxes), 0.99))
    assert [nm.name(i) for i in range(7)] == ["T11-T12", "T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert not nm.uncertain


def test_a_missed_disc_leaves_a_gap_instead_of_shifting_the_names_above():
    from modic_core.detection.levels import name_regions

    boxes = np.delete(_column(), 4, axis=0)  # L3-L4 missed
    nm = name_regions(boxes, np.full(len(boxes), 0.99))
    assert [nm.name(i) for i in range(6)] == ["T11-T12", "T12-L1", "L1-L2", "L2-L3", "L4-L5", "L5-S1"]
    assert nm.uncertain and any("gap" in r for r in nm.reasons)


def test_off_column_boxes_and_duplicates_get_no_name():
    from modic_core.detection.levels import name_regions

    col = _column()
    posterior = [[330.0, 150.0, 380.0, 170.0]]  # posterior elements, far behind the column
    duplicate = [list(col[3] + [3, 4, 3, 4])]
    boxes = np.concatenate([col, posterior, duplicate])
    scores = np.array([0.99] * 7 + [0.9, 0.6])
    nm = name_regions(boxes, scores)
    assert nm.name(7) is None and nm.name(8) is None
    assert [nm.name(i) for i in range(7)][-1] == "L5-S1"


def test_names_do_not_depend_on_the_threshold():
    from modic_core.detection.infer import Detection, StudyDetections

    col = _column()
    scores = [0.99, 0.35, 0.97, 0.98, 0.62, 0.99, 0.95]  # two discs below 0.5 and 0.7 respectively
    dets = StudyDetections([Detection(tuple(b), s, (0, 0)) for b, s in zip(col, scores)], [0], (1, 400, 400))
    names = {t: dict(dets.kept(t)) for t in (0.3, 0.5, 0.7, 0.9)}
    for a in names:
        for b in names:
            common = set(names[a]) & set(names[b])
            assert all(names[a][i] == names[b][i] for i in common)
    assert names[0.3][1] == "T12-L1" and names[0.3][6] == "L5-S1"
    assert 1 not in names[0.5] and 4 not in names[0.7]


# --------------------------------------------------------------------------- L5-S1 anchor


def test_merge_classes_gives_one_region_per_location_with_its_anchor_score():
    from modic_core.detection.levels import merge_classes

    col = _column(3)
    # the lowest disc appears twice: as a disc (0.3) and as the L5-S1 class (0.6)
    boxes = np.concatenate([col, col[2:3] + 1.0])
    scores = np.array([0.9, 0.8, 0.3, 0.6])
    labels = np.array([1, 1, 1, 2])
    b, s, a = merge_classes(boxes, scores, labels)
    assert len(b) == 3
    low = int(np.argmax(b[:, 1]))
    assert s[low] == pytest.approx(0.9) and a[low] == 0.6  # region score = disc + anchor class (capped at 1)
    assert sorted(a.tolist()) == [0.0, 0.0, 0.6]
    # single-class outputs pass through
    b1, s1, a1 = merge_classes(col, np.array([0.9, 0.8, 0.7]), None)
    assert np.array_equal(b1, col) and not a1.any()


def test_names_count_from_the_anchor_not_from_the_lowest_box():
    from modic_core.detection.levels import name_regions

    col = _column(8)  # the lowest box is a sacral disc remnant (S1-S2), the one above is L5-S1
    scores = np.full(8, 0.95)
    anchor = np.zeros(8)
    anchor[6] = 0.9
    nm = name_regions(col, scores, anchor=anchor)
    assert nm.name(6) == "L5-S1" and nm.name(5) == "L4-L5" and nm.name(0) == "T11-T12"
    assert nm.name(7) is None  # below L5-S1: no name
    # without the anchor the same boxes are counted from the lowest one: every name shifts
    plain = name_regions(col, scores)
    assert plain.name(7) == "L5-S1" and plain.name(6) == "L4-L5"


def test_a_missing_anchor_flags_the_naming_uncertain():
    from modic_core.detection.levels import name_regions

    col = _column(7)
    nm = name_regions(col, np.full(7, 0.95), anchor=np.zeros(7))
    assert nm.uncertain and any("L5-S1" in r for r in nm.reasons)
    assert nm.name(6) == "L5-S1"  # still the best guess, but flagged
    sure = name_regions(col, np.full(7, 0.95), anchor=np.eye(7)[6] * 0.95)
    assert not sure.uncertain and sure.name(6) == "L5-S1"


def test_a_weak_anchor_names_the_levels_but_flags_them():
    """A detector meeting an unfamiliar scanner can score a sacral segment as L5-S1 at 0.5-0.86: the
    names still count from the anchor, but the report says to check the lowest level."""
    from modic_core.detection.levels import ANCHOR_SURE, name_regions

    col = _column(7)
    weak = name_regions(col, np.full(7, 0.95), anchor=np.eye(7)[6] * (ANCHOR_SURE - 0.1))
    assert weak.name(6) == "L5-S1" and weak.name(0) == "T11-T12"
    assert weak.uncertain and any("low confidence" in r for r in weak.reasons)


def test_anchor_names_do_not_move_when_a_disc_above_is_missed_or_weak():
    from modic_core.detection.infer import Detection, StudyDetections

    col = np.delete(_column(8), 2, axis=0)  # one thoracolumbar disc missed
    scores = [0.99, 0.97, 0.4, 0.98, 0.97, 0.45, 0.96]  # two weak discs, the lowest is L5-S1
    anchor = [0, 0, 0, 0, 0, 0, 0.7]
    dets = StudyDetections([Detection(tuple(b), s, (0, 0), anchor=a) for b, s, a in zip(col, scores, anchor)],
                           [0], (1, 400, 400), anchored=True)
    names = {t: dict(dets.kept(t)) for t in (0.3, 0.5, 0.7, 0.9)}
    assert names[0.3][6] == "L5-S1" and names[0.3][5] == "L4-L5" and names[0.3][1] == "T11-T12"
    for a in names:
        for b in names:
            assert all(names[a][i] == names[b][i] for i in set(names[a]) & set(names[b]))


def test_an_anchor_with_several_confident_discs_below_is_not_taken():
    from modic_core.detection.levels import name_regions

    col = _column(7)
    anchor = np.zeros(7)
    anchor[3] = 0.6  # a mid-column disc scored as L5-S1: three confident discs lie below it
    nm = name_regions(col, np.full(7, 0.95), anchor=anchor)
    assert nm.name(6) == "L5-S1" and nm.name(3) == "L2-L3"  # counted from the lowest disc instead
    assert nm.uncertain and any("not identified" in r for r in nm.reasons)


def test_a_vertebral_body_between_two_discs_is_dropped_by_the_step_rule():
    from modic_core.detection.levels import anatomical_filter, name_regions

    col = _column(spacing=30.0)  # boxes 24 rows tall, 30 rows apart: regions nearly touch, as in SPIDER
    body = [list((col[3] + col[4]) / 2)]  # a box on the vertebral body between two discs
    boxes = np.concatenate([col, body])
    scores = np.array([0.99] * 7 + [0.9])
    keep = anatomical_filter(boxes, scores, drop_low_outliers=False)
    assert keep[:7].all() and not keep[7]
    nm = name_regions(boxes, scores)
    assert nm.name(7) is None
    assert [nm.name(i) for i in range(7)] == ["T11-T12", "T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]


def test_narrow_posterior_boxes_get_no_name_even_without_a_column_fit():
    from modic_core.detection.levels import name_regions, width_mask

    discs = _column(n=3, spacing=38.0)  # too few confident discs to fit the column
    posterior = np.array([[320.0, 95.0, 345.0, 115.0]])  # 25 wide against 70
    boxes = np.concatenate([discs, posterior])
    scores = np.array([0.99, 0.8, 0.7, 0.6])
    assert width_mask(boxes, scores).tolist() == [True, True, True, False]
    assert name_regions(boxes, scores).name(3) is None
    assert width_mask(np.zeros((0, 4)), np.zeros(0)).shape == (0,)


def test_vertebral_bodies_between_adjacent_sure_discs_are_dropped():
    """Thin discs far apart (18 px tall, 75 px steps; in SPIDER study 58 the predicted boxes are
    18-48 px tall, 75 px apart):
    a vertebral body boxed between two sure discs is further than the duplicate step from both, so
    only the spacing rule drops it."""
    from modic_core.detection.levels import between_mask, name_regions

    discs = _column(n=7, spacing=75.0)
    discs[:, 1] += 3
    discs[:, 3] -= 3  # 18 px tall
    bodies = (discs[:-1] + discs[1:]) / 2  # one box half-way between each pair
    bodies[:, 1] += 2
    bodies[:, 3] -= 2
    boxes = np.concatenate([discs, bodies[[1, 3, 5]]])
    scores = np.array([0.99] * 7 + [0.66, 0.93, 0.8])
    keep = between_mask(boxes, scores)
    assert keep[:7].all() and not keep[7:].any()
    nm = name_regions(boxes, scores)
    assert [nm.name(i) for i in range(7)] == ["T11-T12", "T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert all(nm.name(i) is None for i in range(7, 10))
    assert nm.uncertain and any("vertebral body" in r for r in nm.reasons)  # every drop is reported
    # without the rule the bodies would be counted as discs and shift every name above them
    from modic_core.detection.levels import anatomical_filter

    assert anatomical_filter(boxes, scores)[7:].all()


def test_a_region_in_the_gap_of_a_missed_disc_is_kept():
    from modic_core.detection.levels import between_mask

    col = _column(n=7, spacing=60.0)
    scores = np.array([0.99, 0.99, 0.99, 0.7, 0.99, 0.99, 0.99])  # disc 3 less sure: the gap around it is 2 steps
    assert between_mask(col, scores).all()
    # fewer than four sure discs: the spacing cannot be trusted, nothing is dropped
    assert between_mask(col[:3], np.array([0.99, 0.99, 0.99])).all()


def test_weak_discs_between_sure_ones_two_levels_apart_are_never_dropped_silently():
    """Every other disc below the sure score (0.9 vs 0.99): the sure steps are all two levels long,
    which looks like adjacent discs with vertebral bodies between them. The rule cannot tell; the
    naming must then be flagged (found by review: the names shifted with no flag)."""
    from modic_core.analysis.analyze import naming_warning
    from modic_core.detection.levels import name_regions

    col = _column(n=7, spacing=70.0)
    scores = np.array([0.99, 0.9, 0.99, 0.9, 0.99, 0.9, 0.99])
    anchor = np.eye(7)[6] * 0.99
    nm = name_regions(col, scores, anchor=anchor)
    right = ["T11-T12", "T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert [nm.name(i) for i in range(7)] != right  # the rule drops the weak discs here ...
    assert nm.uncertain and any("vertebral body" in r for r in nm.reasons)  # ... and says so
    assert "names count up from the region detected as L5-S1" in naming_warning(nm)
    # the same spine with every disc sure is named right and not flagged
    sure = name_regions(col, np.full(7, 0.99), anchor=anchor)
    assert [sure.name(i) for i in range(7)] == right and not sure.uncertain
    assert sure.anchor == 6 and sure.anchor_score == pytest.approx(0.99)
