"""The default normalization by the rule fixed in advance, on synthetic comparison documents (both branches)."""
from __future__ import annotations

from modic_core.evaluation.method_choice import choose_default
from modic_core.schema import NormalizationComparison


def _doc(diffs: dict[str, tuple[float, float, float]]) -> NormalizationComparison:
    est = {"value": 0.7, "ci_low": 0.65, "ci_high": 0.75}
    report = {"n_discs": 100, "n_patients": 20, "labels": ["MC0", "MC1", "MC2"], "confusion_matrix": [[1, 0, 0]] * 3,
              "per_class": {}, "mc0_vs_mc2": est}
    methods = {"zscore": {"metrics": report}}
    for name, (d, lo, hi) in diffs.items():
        methods[name] = {"metrics": report, "paired": {"mc0_vs_mc2_balanced_accuracy": {
            "metric": "mc0_vs_mc2_balanced_accuracy", "value_a": 0.7 + d, "value_b": 0.7, "diff": d, "ci_low": lo, "ci_high": hi}}}
    return NormalizationComparison.from_dict({
        **NormalizationComparison.header(), "methods": methods, "best_method": "nyul", "best_by": "point estimate",
        "reference": "zscore", "n_discs": 100, "n_patients": 20, "class_counts": {}, "box_source_counts": {}, "notes": []})


def test_point_estimate_alone_keeps_zscore():
    choice = choose_default(_doc({"nyul": (0.009, -0.02, 0.038), "histeq": (-0.01, -0.035, 0.015)}))
    assert choice.method == "zscore" and not choice.differs
    assert "do not differ" in choice.reason


def test_a_ci_excluding_zero_changes_the_default():
    choice = choose_default(_doc({"nyul": (0.05, 0.01, 0.09), "histeq": (0.03, 0.002, 0.06), "none": (0.08, -0.01, 0.17)}))
    assert choice.method == "nyul" and choice.differs  # largest difference among those with CI > 0 ("none" is not)
    assert "+0.050" in choice.reason


def test_worse_with_ci_below_zero_is_not_better():
    choice = choose_default(_doc({"percentile": (-0.05, -0.09, -0.01)}))
    assert choice.method == "zscore" and not choice.differs
