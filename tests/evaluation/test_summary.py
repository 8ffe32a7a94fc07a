"""The result tables in docs/ are exactly what `python -m modic_core.evaluation.summary` prints from the shipped JSONs."""
from __future__ import annotations

from pathlib import Path

import pytest

from modic_core.evaluation.summary import (bench_table, comparison_table_md, conformal_table, risk_coverage_table, shift_table, variants_table, detector_table, experiments_table, gradcam_table,
                                          learning_curve_table, naming_table, pairing_table, robustness_table, transfer_flag_table, transfer_table)
from modic_core.schema import (Benchmark, ConformalEvaluation, DetectorCard, DetectorTransfer, GradcamAudit, GradingExperiments, LearningCurve, NamingAudit, NormalizationComparison,
                               PairingAudit, RobustnessCheck)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.mark.parametrize("cls,path,fn,page", [
    (DetectorCard, "weights/detector.json", detector_table, "results.md"),
    (NormalizationComparison, "weights/normalization_comparison.json", comparison_table_md, "results.md"),
    (PairingAudit, "weights/pairing_audit.json", pairing_table, "pairing.md"),
    (NamingAudit, "weights/naming_audit.json", naming_table, "level_names.md"),
    (DetectorTransfer, "weights/detector_transfer.json", transfer_table, "level_names.md"),
    (DetectorTransfer, "weights/detector_transfer.json", transfer_flag_table, "level_names.md"),
    (GradcamAudit, "weights/gradcam_audit.json", gradcam_table, "explanations.md"),
    (RobustnessCheck, "weights/robustness.json", robustness_table, "experiments.md"),
    (GradingExperiments, "weights/grading_experiments.json", experiments_table, "experiments.md"),
    (LearningCurve, "weights/learning_curve.json", learning_curve_table, "experiments.md"),
    (ConformalEvaluation, "weights/conformal.json", conformal_table, "prediction_sets.md"),
    (ConformalEvaluation, "weights/conformal.json", shift_table, "prediction_sets.md"),
    (ConformalEvaluation, "weights/conformal.json", risk_coverage_table, "prediction_sets.md"),
    (ConformalEvaluation, "weights/conformal.json", variants_table, "prediction_sets.md"),
])
def test_docs_quote_the_shipped_results(cls, path, fn, page):
    doc = cls.load(ROOT / path)
    text = (DOCS / page).read_text()
    table = [line for line in fn(doc).splitlines() if line.startswith("|")]
    assert len(table) >= 4
    missing = [line for line in table if line not in text]
    assert not missing, f"docs/{page} is stale; rerun python -m modic_core.evaluation.summary: {missing[:2]}"


def test_docs_benchmark_rows_come_from_the_shipped_benchmark():
    rows = bench_table(Benchmark.load(ROOT / "benchmarks" / "latest.json")).splitlines()
    quoted = [line for line in (DOCS / "performance.md").read_text().splitlines() if line.endswith((" ms |", " GB | |"))]
    assert len(quoted) >= 8
    assert not [line for line in quoted if line not in rows]


@pytest.mark.parametrize("cls,path,fn,page", [
    ("BatchScaling", "benchmarks/batch_scaling.json", "batch_scaling_tables", "scaling.md"),
    ("BrowserBenchmark", "benchmarks/browser.json", "browser_table", "performance.md"),
])
def test_docs_quote_the_measured_benchmarks(cls, path, fn, page):
    import modic_core.evaluation.summary as summary
    import modic_core.schema as schema

    doc = getattr(schema, cls).load(ROOT / path)
    text = (DOCS / page).read_text()
    table = [line for line in getattr(summary, fn)(doc).splitlines() if line.startswith("|")]
    assert len(table) >= 4
    missing = [line for line in table if line not in text]
    assert not missing, f"docs/{page} is stale; rerun python -m modic_core.evaluation.summary: {missing[:2]}"


def test_shipped_gradcam_variant_is_the_audits_choice_by_its_rule():
    from modic_core import settings
    from modic_core.train.gradcam_audit import RULE, choose_variant

    doc = GradcamAudit.load(ROOT / "weights" / "gradcam_audit.json")
    assert doc.rule == RULE and doc.rule_method == settings.DEFAULT_NORMALIZATION
    assert choose_variant(doc.rows, doc.rule_method)[0] == doc.chosen == settings.DEFAULT_GRADCAM_VARIANT
    assert f"Shipped variant: **{doc.chosen}**" in (DOCS / "explanations.md").read_text()


def test_docs_quote_the_learning_curve_sentences_too():
    """The slope, the extrapolation and the reproduction check are numbers as well: quoted verbatim."""
    doc = LearningCurve.load(ROOT / "weights" / "learning_curve.json")
    text = (DOCS / "experiments.md").read_text()
    missing = [line for line in learning_curve_table(doc).splitlines() if line and line not in text]
    assert not missing, f"docs/experiments.md is stale; rerun python -m modic_core.evaluation.summary: {missing[:2]}"
