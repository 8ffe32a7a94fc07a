"""Reading the comparison JSON defensively and building its charts; model records."""
from __future__ import annotations

import json

import numpy as np
import pytest

from modic_core.evaluation.metrics import classification_by_group, classification_report, paired_bootstrap
from modic_core.ui.comparison import (
    best_method,
    confusion_matrix_figure,
    extract_methods,
    fmt_estimate,
    fmt_paired,
    group_chart,
    load_json,
    metric_chart,
    sensitivity_chart,
    summary_table,
)
from modic_core.ui.modelinfo import flatten_metrics, model_records, provenance_rows, record_metrics


@pytest.fixture(scope="module")
def reports():
    rng = np.random.default_rng(1)
    y = np.array([0] * 50 + [1] * 4 + [2] * 30)
    pids = [f"p{i // 4}" for i in range(len(y))]
    a = np.where(rng.random(len(y)) < 0.2, rng.integers(0, 3, len(y)), y)
    b = np.where(rng.random(len(y)) < 0.3, rng.integers(0, 3, len(y)), y)
    groups = ["1.5" if i % 3 else "3" for i in range(len(y))]
    return {
        "zscore": (classification_report(y, a, patient_ids=pids, n_boot=100), paired_bootstrap(y, a, a, pids, n_boot=50),
                   classification_by_group(y, a, groups, patient_ids=pids, n_boot=50)),
        "none": (classification_report(y, b, patient_ids=pids, n_boot=100), paired_bootstrap(y, b, a, pids, n_boot=50),
                 classification_by_group(y, b, groups, patient_ids=pids, n_boot=50)),
    }


LAYOUTS = ["methods", "results", "top"]


def build(reports, layout):
    entries = {m: {"report": r, "paired_vs_zscore": p, "by_field_strength": g} for m, (r, p, g) in reports.items()}
    if layout == "top":
        return {"best_method": "zscore", "n_discs": 84, **entries}
    return {"best_method": {"name": "zscore"}, layout: entries}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_extract_methods_in_several_layouts(reports, layout):
    comp = build(reports, layout)
    methods = extract_methods(comp)
    assert [m.name for m in methods] == ["none", "zscore"]  # registry order
    assert all(m.report and "per_class" in m.report for m in methods)
    assert methods[0].paired["balanced_accuracy"]["diff"] is not None
    assert set(methods[0].groups["field_strength_t"]) == {"1.5", "3"}
    assert best_method(comp) == "zscore"


def test_best_method_falls_back():
    assert best_method(None) == "zscore"
    assert best_method({"best_method": "magic"}, default="none") == "none"
    assert extract_methods(None) == [] and extract_methods({}) == []


def test_too_few_cases_shown_instead_of_numbers(reports):
    methods = extract_methods(build(reports, "methods"))
    table = summary_table(methods, best="zscore")
    assert (table["Sensitivity MC1"] == "too few cases (n=4)").all()
    assert table["Sensitivity MC0"].str.contains("95% CI").all()
    assert table.loc[table.key == "zscore", "method"].item().endswith("★")
    assert table["Δ vs z-score"].str.contains(r"\[balanced accuracy\]").all()
    fig = sensitivity_chart(methods)
    mc1 = [tr.y[1] for tr in fig.data]
    assert mc1 == [None, None]  # no bar for MC1
    assert any(a.text == "too few cases (n=4)" for a in fig.layout.annotations)


def test_metric_chart_values_come_from_reports(reports):
    methods = extract_methods(build(reports, "methods"))
    fig = metric_chart(methods, best="zscore")
    assert len(fig.data) == 2
    z = fig.data[1]
    assert z.y[0] == pytest.approx(reports["zscore"][0]["balanced_accuracy"]["value"])
    lo = reports["zscore"][0]["balanced_accuracy"]["ci_low"]
    assert z.error_y.arrayminus[0] == pytest.approx(z.y[0] - lo)


def test_confusion_matrix_and_groups(reports):
    methods = extract_methods(build(reports, "methods"))
    fig = confusion_matrix_figure(methods[0].report, title="x")
    assert np.asarray(fig.data[0].z).shape == (3, 3)
    assert str(int(np.asarray(methods[0].report["confusion_matrix"])[0, 0])) in fig.data[0].text[0][0]
    g = group_chart(methods, "field_strength_t")
    assert all(x.startswith(("1.5 (n=", "3 (n=")) for x in g.data[0].x)


def test_formatters():
    assert fmt_estimate(None) == "—"
    assert fmt_estimate({"value": 0.5, "too_few": True, "n": 3}) == "too few cases (n=3)"
    assert fmt_estimate({"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}) == "0.500 (95% CI 0.400-0.600)"
    assert fmt_estimate({"value": None}) == "undefined"
    assert fmt_paired({"diff": 0.05, "ci_low": -0.01, "ci_high": 0.1}) == "+0.050 (95% CI -0.010 to +0.100)"
    assert fmt_paired(None) == "—"


def test_load_json_is_defensive(tmp_path):
    assert load_json(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert load_json(tmp_path / "bad.json") is None
    (tmp_path / "list.json").write_text("[1, 2]")
    assert load_json(tmp_path / "list.json") is None


def test_model_records_and_metrics(tmp_path):
    recs = model_records(tmp_path)
    assert recs[0]["_name"] == "detector" and not any(r.present for r in recs)
    (tmp_path / "detector.json").write_text(json.dumps({
        "command": "train", "data": {"cohort": "spider2d", "n_studies": 50, "study_ids": ["1", "2"]}, "seed": 0,
        "sha256": "ab", "cross_validation_status": "pending", "cross_validation": None}))
    (tmp_path / "classifier_zscore.json").write_text(json.dumps({
        "command": "train", "metrics": {"classification": {"balanced_accuracy": {"value": 0.7, "display": "0.700 (95% CI 0.6-0.8)"},
                                                           "per_gt": [1, 2], "n_discs": 10}}}))
    recs = {r["_name"]: r for r in model_records(tmp_path)}
    det, clf = recs["detector"], recs["classifier (zscore)"]
    assert det.present and record_metrics(det) is None
    prov = dict(provenance_rows(det))
    assert prov["data"] == "cohort=spider2d, n_studies=50" and prov["cross_validation_status"] == "pending"
    key, metrics = record_metrics(clf)
    rows = dict(flatten_metrics(metrics))
    assert key == "metrics"
    assert rows == {"classification.balanced_accuracy": "0.700 (95% CI 0.6-0.8)", "classification.n_discs": "10"}


def test_metrics_rows_of_a_classifier_record(reports):
    from modic_core.ui.modelinfo import metrics_rows

    rows = dict(metrics_rows(reports["zscore"][0]))
    assert rows["sensitivity MC1 (n=4)"] == "too few cases (n=4)"
    assert "95% CI" in rows["balanced accuracy"] and "MC0-vs-MC2 balanced accuracy" in rows
    assert rows["number of discs"] == "84"
    det = {"mean_iou": {"value": 0.8, "display": "0.800"}, "per_gt": [{"iou": 1}], "recall": {"0.5": {"display": "0.9"}}}
    assert metrics_rows(det) == [("mean_iou", "0.800"), ("recall.0.5", "0.9")]


def test_model_card_rows_for_the_shipped_detector_record():
    import json
    from pathlib import Path

    from modic_core.ui.modelinfo import metrics_rows

    doc = json.loads((Path(__file__).resolve().parents[2] / "weights" / "detector.json").read_text())
    rows = dict(metrics_rows(doc["cross_validation"]))
    r = doc["cross_validation"]["by_sequence"]["T1"]["0.5"]
    assert rows["T1 slice, threshold 0.5: mean IoU"] == r["mean_iou"]["display"]
    assert rows["T2 slice, threshold 0.5: level names right"] == doc["cross_validation"]["by_sequence"]["T2"]["0.5"]["level_accuracy"]["display"]
    assert any(k.startswith("false positives: above") for k in rows)
