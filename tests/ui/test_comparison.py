"""The comparison and model cards as typed records: tables, charts, model-card rows, unknown versions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic_core import to_jsonable_python

from modic_core.evaluation.metrics import classification_by_group, classification_report, paired_bootstrap
from modic_core.schema import (
    ClassificationReport,
    ClassifierCard,
    DetectorCard,
    Estimate,
    NormalizationComparison,
    PairedDiff,
    SchemaError,
)
from modic_core.ui.comparison import (
    best_method,
    calibration_table,
    comparison_methods,
    group_table,
    reliability_chart,
    starred_method,
    confusion_matrix_figure,
    fmt_estimate,
    fmt_paired,
    group_chart,
    load_comparison,
    metric_chart,
    sensitivity_chart,
    shipped_best_method,
    summary_table,
)
from modic_core.ui.modelinfo import classification_rows, metrics_rows, model_records, provenance_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def raw():
    rng = np.random.default_rng(1)
    y = np.array([0] * 50 + [1] * 4 + [2] * 30)
    pids = [f"p{i // 4}" for i in range(len(y))]
    a = np.where(rng.random(len(y)) < 0.2, rng.integers(0, 3, len(y)), y)
    b = np.where(rng.random(len(y)) < 0.3, rng.integers(0, 3, len(y)), y)
    groups = ["1.5" if i % 3 else "3" for i in range(len(y))]
    return {
        "zscore": (classification_report(y, a, patient_ids=pids, n_boot=100), None,
                   classification_by_group(y, a, groups, patient_ids=pids, n_boot=50)),
        "none": (classification_report(y, b, patient_ids=pids, n_boot=100),
                 {"balanced_accuracy": paired_bootstrap(y, b, a, pids, n_boot=50)},
                 classification_by_group(y, b, groups, patient_ids=pids, n_boot=50)),
    }


def comparison_doc(raw, **changes) -> dict:
    methods = {m: {"metrics": r, **({"paired": p} if p else {}), "by_field_strength": g} for m, (r, p, g) in raw.items()}
    doc = {**NormalizationComparison.header(), "methods": methods, "best_method": "zscore", "best_by": "mc0_vs_mc2",
           "reference": "zscore", "n_discs": 84, "n_patients": 21, "class_counts": {"MC0": 50, "MC1": 4, "MC2": 30},
           "box_source_counts": {"ground truth": 84}, "notes": ["made up"]}
    doc.update(changes)
    return doc


@pytest.fixture(scope="module")
def comp(raw):
    return NormalizationComparison.from_dict(comparison_doc(raw))


def test_comparison_methods_in_registry_order(comp):
    methods = comparison_methods(comp)
    assert [m.name for m in methods] == ["none", "zscore"]
    assert isinstance(methods[0].report, ClassificationReport)
    assert methods[0].paired["balanced_accuracy"].diff is not None and methods[1].paired == {}
    assert set(methods[0].groups["field_strength_t"]) == {"1.5", "3"}
    assert best_method(comp) == "zscore"


def test_best_method_falls_back(raw):
    assert best_method(None) == "zscore"
    # a stored best_method picked by point estimate is not followed: the rule keeps z-score
    picked = NormalizationComparison.from_dict(comparison_doc(raw, best_method="none"))
    assert best_method(picked) == "zscore" and starred_method(picked) is None
    # the rule's winner is not a registered method: the default given
    doc = comparison_doc(raw)
    doc["methods"]["magic"] = {**doc["methods"]["none"], "paired": {"mc0_vs_mc2_balanced_accuracy": {
        "metric": "mc0_vs_mc2_balanced_accuracy", "value_a": 0.9, "value_b": 0.7, "diff": 0.2, "ci_low": 0.1, "ci_high": 0.3}}}
    magic = NormalizationComparison.from_dict(doc)
    assert best_method(magic, default="none") == "none"
    assert starred_method(magic) == "magic"
    assert comparison_methods(None) == []


def test_per_scanner_and_calibration_tables(raw):
    from modic_core.evaluation.calibration import calibration_record, softmax

    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (120, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(z / 2)])
    cal = calibration_record(z, y, np.arange(120) % 5, n_boot=20).to_dict()
    doc = comparison_doc(raw)
    doc["methods"]["zscore"]["calibration"] = cal
    methods = comparison_methods(NormalizationComparison.from_dict(doc))
    groups = group_table(methods)
    assert set(groups["group"]) == {"1.5", "3"} and set(groups["grouped by"]) == {"field strength"}
    assert groups["MC0-vs-MC2 balanced accuracy"].str.contains("95% CI|too few cases").all()
    assert not groups["too few cases"].any()  # both groups have >= 10 MC0 and MC2 discs
    # a group with 5 MC2 discs: its MC0-vs-MC2 score is flagged, not shown as a number
    y = np.array([0] * 30 + [2] * 5)
    small = {"small": classification_report(y, y, patient_ids=list(range(35)), n_boot=20)}
    methods[0].groups = {"manufacturer": small}
    row = group_table(methods[:1]).iloc[0]
    assert row["too few cases"] and row["MC0-vs-MC2 balanced accuracy"] == "too few cases (MC0 n=30, MC2 n=5)"
    table = calibration_table(methods)
    assert list(table["method"]) == [m.label for m in methods if m.name == "zscore"]
    assert table["ECE after (nested)"].item() < table["ECE before"].item()
    fig = reliability_chart(methods[1].calibration)
    assert len(fig.data) == 3 and "ECE" in fig.data[1].name


def test_too_few_cases_shown_instead_of_numbers(comp):
    methods = comparison_methods(comp)
    table = summary_table(methods, best="zscore")
    assert (table["Sensitivity MC1"] == "too few cases (n=4)").all()
    assert table["Sensitivity MC0"].str.contains("95% CI").all()
    assert table.loc[table.key == "zscore", "method"].item().endswith("★")
    assert table.loc[table.key == "none", "Δ vs z-score"].str.contains(r"\[balanced accuracy\]").all()
    fig = sensitivity_chart(methods)
    assert [tr.y[1] for tr in fig.data] == [None, None]  # no bar for MC1
    assert any(a.text == "too few cases (n=4)" for a in fig.layout.annotations)


def test_metric_chart_values_come_from_reports(comp, raw):
    fig = metric_chart(comparison_methods(comp), best="zscore")
    assert len(fig.data) == 2
    z = fig.data[1]
    assert z.y[0] == pytest.approx(raw["zscore"][0].balanced_accuracy.value)
    lo = raw["zscore"][0].balanced_accuracy.ci_low
    assert z.error_y.arrayminus[0] == pytest.approx(z.y[0] - lo)


def test_confusion_matrix_and_groups(comp):
    methods = comparison_methods(comp)
    fig = confusion_matrix_figure(methods[0].report, title="x")
    assert np.asarray(fig.data[0].z).shape == (3, 3)
    assert str(methods[0].report.confusion_matrix[0][0]) in fig.data[0].text[0][0]
    g = group_chart(methods, "field_strength_t")
    assert all(x.startswith(("1.5 (n=", "3 (n=")) for x in g.data[0].x)


def test_formatters():
    assert fmt_estimate(None) == "—"
    assert fmt_estimate(Estimate(value=0.5, too_few=True, n=3)) == "too few cases (n=3)"
    assert fmt_estimate(Estimate(value=0.5, ci_low=0.4, ci_high=0.6)) == "0.500 (95% CI 0.400-0.600)"
    assert fmt_estimate(Estimate(value=None)) == "undefined"
    assert fmt_paired(PairedDiff(metric="m", value_a=0.6, value_b=0.55, diff=0.05, ci_low=-0.01, ci_high=0.1)) == "+0.050 (95% CI -0.010 to +0.100)"
    assert fmt_paired(None) == "—"


def test_load_comparison_absent_and_unknown_version(tmp_path, raw, monkeypatch):
    assert load_comparison(tmp_path) is None
    (tmp_path / "normalization_comparison.json").write_text(json.dumps(to_jsonable_python(comparison_doc(raw, schema_version=7))))
    with pytest.raises(SchemaError, match=r"normalization_comparison\.json.*version 7.*reads version 1"):
        load_comparison(tmp_path)
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path))
    assert shipped_best_method(default="none") == "none"  # the sidebar falls back instead of failing


def test_model_records_pending_unknown_and_present(tmp_path):
    recs = model_records(tmp_path)
    assert recs[0].name == "detector" and not any(r.present or r.error for r in recs)
    card = DetectorCard.load(ROOT / "weights" / "detector.json")
    card.cross_validation, card.cross_validation_status = None, "pending"
    card.save(tmp_path / "detector.json")
    doc = ClassifierCard.load(ROOT / "weights" / "classifier_zscore.json").to_dict()
    (tmp_path / "classifier_zscore.json").write_text(json.dumps({**doc, "schema_version": 2}))
    recs = {r.name: r for r in model_records(tmp_path)}
    det, clf = recs["detector"], recs["classifier (zscore)"]
    assert det.present and metrics_rows(det.card) == []
    prov = dict(provenance_rows(det.card))
    assert prov["data"].startswith(f"cohort=../shared/data/spider2d, n_studies={card.data.n_studies}")
    assert prov["cross_validation_status"] == "pending"
    assert f"epochs={card.config.epochs}" in prov["training config"] and "lr=0.002" in prov["training config"]
    assert not clf.present and "classifier_zscore.json" in clf.error and "version 2" in clf.error


def test_classification_rows(raw):
    rows = dict(classification_rows(raw["zscore"][0]))
    assert rows["sensitivity MC1 (n=4)"] == "too few cases (n=4)"
    assert "95% CI" in rows["balanced accuracy"] and "MC0-vs-MC2 balanced accuracy" in rows
    assert rows["number of discs"] == "84"


def test_model_card_rows_for_the_shipped_cards():
    card = DetectorCard.load(ROOT / "weights" / "detector.json")
    rows = dict(metrics_rows(card))
    by_seq = card.cross_validation.by_sequence
    assert rows["T1 slice, threshold 0.5: mean IoU"] == by_seq["T1"]["0.5"].mean_iou.display
    assert rows["T2 slice, threshold 0.5: level names right"] == by_seq["T2"]["0.5"].level_accuracy.display
    assert any(k.startswith("false positives: above") for k in rows)
    clf = ClassifierCard.load(ROOT / "weights" / "classifier_zscore.json")
    assert dict(metrics_rows(clf))["MC0-vs-MC2 balanced accuracy"] == clf.cross_validation.mc0_vs_mc2.display


def test_too_few_rows_grey_paired_column_visible_and_bar_labels_apart(raw):
    import math

    comp = NormalizationComparison.from_dict(comparison_doc(raw))
    methods = comparison_methods(comp)
    # MC1 (n=4) is flagged too few: its confusion-matrix row is grey (NaN on the colour scale) and labelled
    fig = confusion_matrix_figure(methods[0].report)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert all(math.isnan(v) for v in z[1]) and not np.isnan(z[0]).any() and not np.isnan(z[2]).any()
    assert "too few (n=4)" in fig.data[0].y[1] and fig.layout.plot_bgcolor == "#D9D9D9"
    # the paired difference is the third column (visible without scrolling) and has its own chart
    table = summary_table(methods, best="zscore").drop(columns=["key"])
    assert list(table.columns[:3]) == ["method", "discs", "Δ vs z-score"]
    assert table.loc[table["method"].str.startswith("Z-score"), "Δ vs z-score"].item() == "reference"
    from modic_core.ui.comparison import paired_chart

    forest = paired_chart(methods)
    assert len(forest.data[0].x) == 1 and forest.data[0].y[0].endswith("[balanced accuracy]")
    assert paired_chart([m for m in methods if m.name == "zscore"]) is None
    # bar values are written upward inside their bars, hidden when they do not fit: no "0.610.61"
    for chart in (metric_chart(methods), sensitivity_chart(methods)):
        assert all(tr.textangle == -90 and tr.textposition == "inside" for tr in chart.data)
        assert chart.layout.uniformtext.mode == "hide"
