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
    assert r == {"found": True, "named_l5s1": True, "lowest_is_l5s1": True, "uncertain": False,
                 "uncertain_without_low_anchor_flag": False, "anchor_score": 0.9}


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
    assert out["T1"]["right_l5s1_with_anchor"] == 1 and out["T1"]["right_l5s1_anchor_at_least_sure"] == 1
    assert out["T2"]["lowest_region_is_l5s1"] == 1 and out["T2"]["fp_in_column_per_image"] == 0


def test_a_weak_anchor_on_the_right_disc_is_counted_as_flagged_only_by_the_low_anchor_flag():
    p = _pred(anchor_at=5)
    p["anchor"] = [0.6 if a else 0.0 for a in p["anchor"]]
    r = lowest_disc_named(p)
    assert r["named_l5s1"] and r["uncertain"] and not r["uncertain_without_low_anchor_flag"]
    assert score_group([p], n_boot=10)["T1"]["l5s1_right_flagged_only_by_low_anchor"] == 1


def test_shipped_transfer_predictions_reproduce_the_json_counts():
    """The counts of ``weights/detector_transfer.json`` follow from the shipped held-out predictions
    and today's naming rules (``--rescore`` would rewrite the same)."""
    import json
    from pathlib import Path

    import pytest

    from modic_core.schema import DetectorTransfer

    weights = Path(__file__).resolve().parents[2] / "weights"
    if not (weights / "detector_transfer_predictions.json").exists():
        pytest.skip("no shipped leave-one-maker-out predictions")
    doc = DetectorTransfer.load(weights / "detector_transfer.json")
    preds = json.loads((weights / "detector_transfer_predictions.json").read_text())
    for maker, fold in zip(doc.makers, doc.folds):
        got = score_group([p for p in preds if p["study_id"] in set(fold)], n_boot=10)
        for seq in ("T1", "T2"):
            want = doc.groups[maker]["left_out"][seq]
            counts = {k: v for k, v in want.items() if isinstance(v, (int, list))}
            assert {k: got[seq][k] for k in counts} == counts, (maker, seq)
