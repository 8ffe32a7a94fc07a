"""The versions page's tables (modic_core.ui.versions): before/after rows from a version's registered metrics."""
from __future__ import annotations

from modic_core.ui.versions import before_after_rows


def test_before_after_rows_locked_part_first_estimates_with_cis_counts_as_counts():
    metrics = {
        "cv_folds": {"current": {"accuracy": 0.7}, "new": {"accuracy": 0.72}},
        "locked": {"current": {"mc0_vs_mc2": {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8},
                               "balanced_accuracy": {"value": 0.61, "display": "0.610 (95% CI 0.5-0.7)"},
                               "n_discs": 40, "confusion_matrix": [[1, 2], [3, 4]], "per_class": {"MC0": {}}},
                   "new": {"mc0_vs_mc2": {"value": None}, "balanced_accuracy": {"value": 0.66}, "n_discs": 40}},
        "n_train_levels": 120,
    }
    rows = before_after_rows(metrics)
    assert [(r["part"], r["metric"]) for r in rows] == [
        ("locked", "balanced accuracy"), ("locked", "mc0 vs mc2"), ("locked", "n discs"), ("cv_folds", "accuracy")]
    assert rows[0] == {"part": "locked", "metric": "balanced accuracy", "current": "0.610 (95% CI 0.5-0.7)", "new": "0.660"}
    assert rows[1]["current"] == "0.700 (95% CI 0.600-0.800)" and rows[1]["new"] == "n/a"
    assert rows[2]["current"] == rows[2]["new"] == "40"
    assert before_after_rows({}) == [] and before_after_rows({"locked": {"n": 3}}) == []
