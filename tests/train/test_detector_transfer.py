from __future__ import annotations

import numpy as np

from modic_core.anatomy import level_name
from modic_core.train.detector_transfer import lowest_disc_named, maker_of, score_group


def _pred(*, n=6, drop=(), anchor_at=None, seq="T1", sid="1"):
    """A regular 6-disc column (T12-L1 .. L5-S1, top first) and detector regions on it; ``drop``:
    indices of discs the detector misses; ``anchor_at``: index with the L5-S1-class score."""
    gt = np.array([[100, 30 + 50 * k, 170, 55 + 50 * k] for k in range(n)], float)
    keep = [k for k in range(n) if k not in drop]
    anchor = [0.9 if k == anchor_at else 0.0 for k in keep]
    return {"study_id": sid, "sequence": seq, "boxes": (gt[keep] + 1).tolist(), "scores": [0.99] * len(keep), "anchor": anchor,
            "gt_boxes": gt.tolist(), "gt_levels": [level_name(n - k) for k in range(n)]}


def test_maker_names_group_a_vendors_dicom_manufacturer_strings():
    assert maker_of("Philips Healthcare") == maker_of("Philips Medical Systems") == "Philips"
    assert maker_of("SIEMENS") == "Siemens"
    assert maker_of("") == "Unknown"


def test_lowest_disc_is_l5s1_when_the_anchor_is_found():
    r = lowest_disc_named(_pred(anchor_at=5))
    assert r == {"found": True, "named_l5s1": True, "lowest_is_l5s1": True, "uncertain": False}


def test_a_missed_l5s1_without_anchor_names_the_next_disc_l5s1_and_is_flagged():
    r = lowest_disc_named(_pred(drop=(5,)))
    assert not r["found"] and not r["named_l5s1"] and not r["lowest_is_l5s1"]
    assert r["uncertain"]


def test_score_group_counts_per_sequence():
    preds = [_pred(anchor_at=5, sid="1"), _pred(drop=(5,), sid="2"), _pred(anchor_at=5, seq="T2", sid="1")]
    out = score_group(preds, n_boot=20)
    assert out["T1"]["images"] == 2 and out["T2"]["images"] == 1
    assert (out["T1"]["l5s1_found"], out["T1"]["l5s1_named_right"], out["T1"]["images_with_l5s1"]) == (1, 1, 2)
    assert out["T1"]["naming_flagged_uncertain"] == 1 and out["T1"]["l5s1_wrong_not_flagged"] == 0
    assert out["T2"]["lowest_region_is_l5s1"] == 1 and out["T2"]["fp_in_column_per_image"] == 0
