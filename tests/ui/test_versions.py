"""The versions page's tables (modic_core.ui.versions): before/after rows from a version's registered metrics."""
from __future__ import annotations

from modic_core.ui.versions import before_after_rows, locked_note


def est(value, lo=None, hi=None, **extra) -> dict:
    return {"value": value, "ci_low": lo, "ci_high": hi, **extra}


def test_before_after_rows_locked_part_first_estimates_with_cis_groups_flattened_paired_difference():
    # the shape modic_core.train.finetune registers
    metrics = {
        "cv_folds": {"current": {"accuracy": 0.7}, "new": {"accuracy": 0.72}},
        "locked": {"enough": True, "n_levels": 40,
                   "current": {"balanced_accuracy": est(0.61, 0.5, 0.7), "mc0_vs_mc2": est(0.7, 0.6, 0.8),
                               "sensitivity": {"MC0": est(0.9, 0.8, 0.95, n=6, too_few=True)}, "n_levels": 40,
                               "confusion_matrix": [[1, 2], [3, 4]]},
                   "new": {"balanced_accuracy": est(0.66), "mc0_vs_mc2": est(None), "n_levels": 40},
                   "paired_new_minus_current": {"mc0_vs_mc2_balanced_accuracy": {"diff": 0.04, "ci_low": -0.01,
                                                                                 "ci_high": 0.09}}},
        "data": {"train": {"studies": 3}},
    }
    rows = before_after_rows(metrics)
    assert [(r["part"], r["metric"]) for r in rows] == [
        ("locked", "mc0 vs mc2"), ("locked", "balanced accuracy"), ("locked", "n levels"), ("locked", "sensitivity MC0"),
        ("cv_folds", "accuracy")]
    assert rows[0] == {"part": "locked", "metric": "mc0 vs mc2", "current": "0.700 (95% CI 0.60-0.80)", "new": "n/a",
                       "new − current": "+0.040 (95% CI -0.010 to +0.090)"}
    assert rows[1]["new"] == "0.660" and rows[1]["new − current"] == "—"
    assert rows[2]["current"] == rows[2]["new"] == "40" and rows[3]["new"] == "—"
    assert rows[3]["current"] == "0.900 (95% CI 0.80-0.95), few cases (n=6)"
    assert locked_note(metrics) == ""


def test_too_small_locked_part_has_its_reason_and_no_rows():
    metrics = {"locked": {"enough": False, "reason": "not enough locked levels: 3 MC0/MC2 levels of 1 studies",
                          "current": {}, "new": {}}}
    assert before_after_rows(metrics) == [] and locked_note(metrics).startswith("not enough locked levels")
    assert before_after_rows({}) == [] and locked_note({}) == ""
