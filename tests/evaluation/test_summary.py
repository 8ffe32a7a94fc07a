"""The README's result tables are exactly what `python -m modic_core.evaluation.summary` prints from the shipped JSONs."""
from __future__ import annotations

from pathlib import Path

import pytest

from modic_core.evaluation.summary import (bench_table, comparison_table_md, conformal_table, risk_coverage_table, shift_table, variants_table, detector_table, experiments_table, gradcam_table,
                                          learning_curve_table, naming_table, pairing_table, robustness_table, transfer_flag_table, transfer_table)
from modic_core.schema import (Benchmark, ConformalEvaluation, DetectorCard, DetectorTransfer, GradcamAudit, GradingExperiments, LearningCurve, NamingAudit, NormalizationComparison,
                               PairingAudit, RobustnessCheck)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cls,path,fn", [
    (DetectorCard, "weights/detector.json", detector_table),
    (NormalizationComparison, "weights/normalization_comparison.json", comparison_table_md),
    (PairingAudit, "weights/pairing_audit.json", pairing_table),
    (NamingAudit, "weights/naming_audit.json", naming_table),
    (DetectorTransfer, "weights/detector_transfer.json", transfer_table),
    (DetectorTransfer, "weights/detector_transfer.json", transfer_flag_table),
    (GradcamAudit, "weights/gradcam_audit.json", gradcam_table),
    (RobustnessCheck, "weights/robustness.json", robustness_table),
    (GradingExperiments, "weights/grading_experiments.json", experiments_table),
    (LearningCurve, "weights/learning_curve.json", learning_curve_table),
    (ConformalEvaluation, "weights/conformal.json", conformal_table),
    (ConformalEvaluation, "weights/conformal.json", shift_table),
    (ConformalEvaluation, "weights/conformal.json", risk_coverage_table),
    (ConformalEvaluation, "weights/conformal.json", variants_table),
])
def test_readme_quotes_the_shipped_results(cls, path, fn):
    doc = cls.load(ROOT / path)
    readme = (ROOT / "README.md").read_text()
    table = [line for line in fn(doc).splitlines() if line.startswith("|")]
    assert len(table) >= 4
    missing = [line for line in table if line not in readme]
    assert not missing, f"README is stale; rerun python -m modic_core.evaluation.summary: {missing[:2]}"


def test_readme_benchmark_rows_come_from_the_shipped_benchmark():
    rows = bench_table(Benchmark.load(ROOT / "benchmarks" / "latest.json")).splitlines()
    readme = [line for line in (ROOT / "README.md").read_text().splitlines() if line.endswith((" ms |", " GB | |"))]
    assert len(readme) >= 8
    assert not [line for line in readme if line not in rows]


@pytest.mark.parametrize("cls,path,fn", [
    ("BatchScaling", "benchmarks/batch_scaling.json", "batch_scaling_tables"),
    ("BrowserBenchmark", "benchmarks/browser.json", "browser_table"),
])
def test_readme_quotes_the_measured_benchmarks(cls, path, fn):
    import modic_core.evaluation.summary as summary
    import modic_core.schema as schema

    doc = getattr(schema, cls).load(ROOT / path)
    readme = (ROOT / "README.md").read_text()
    table = [line for line in getattr(summary, fn)(doc).splitlines() if line.startswith("|")]
    assert len(table) >= 4
    missing = [line for line in table if line not in readme]
    assert not missing, f"README is stale; rerun python -m modic_core.evaluation.summary: {missing[:2]}"


def test_shipped_gradcam_variant_is_the_audits_choice_by_its_rule():
    from modic_core import settings
    from modic_core.train.gradcam_audit import RULE, choose_variant

    doc = GradcamAudit.load(ROOT / "weights" / "gradcam_audit.json")
    assert doc.rule == RULE and doc.rule_method == settings.DEFAULT_NORMALIZATION
    assert choose_variant(doc.rows, doc.rule_method)[0] == doc.chosen == settings.DEFAULT_GRADCAM_VARIANT
    readme = (ROOT / "README.md").read_text()
    assert f"Shipped variant: **{doc.chosen}**" in readme


def test_readme_quotes_the_learning_curve_sentences_too():
    """The slope, the extrapolation and the reproduction check are numbers as well: quoted verbatim."""
    doc = LearningCurve.load(ROOT / "weights" / "learning_curve.json")
    readme = (ROOT / "README.md").read_text()
    missing = [line for line in learning_curve_table(doc).splitlines() if line and line not in readme]
    assert not missing, f"README is stale; rerun python -m modic_core.evaluation.summary: {missing[:2]}"
