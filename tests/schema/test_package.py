"""modic_core.schema as a package: every name the single module exported is still importable from it, and
``__all__`` lists each public record exactly once."""
from __future__ import annotations

import inspect

import modic_core.schema as schema
from modic_core.schema import base

# every public name of modic_core/schema.py before the split (its __all__ listed 8 twice and missed 7)
BEFORE_SPLIT = [
    "AlignmentRecord", "BatchProgress", "BatchScaling", "Benchmark", "BrowserBenchmark", "CalibrationRecord", "CamScale",
    "CamShareRow", "ClassStats", "ClassificationReport", "ClassifierCard", "ClassifierData", "ClassifierTrainingConfig",
    "CohortMetrics", "CohortThroughput", "ConformalEvaluation", "ConformalRecord", "CurvePoint", "DetectionCV",
    "DetectionReport", "DetectorCard", "DetectorData", "DetectorTrainingConfig", "DetectorTransfer", "DeviceBenchmark",
    "Document", "Estimate", "GradcamAudit", "GradingExperiments", "InteractionTiming", "LearningCurve", "LevelRecord",
    "Machine", "MethodComparison", "NamingAudit", "NormalizationComparison", "NyulLandmarks", "PairedDiff", "PairingAudit",
    "Record", "ReliabilityBin", "RiskCoveragePoint", "RobustnessCheck", "RobustnessRow", "SchemaError", "SetMetrics",
    "StudyReportRecord", "SyntheticMC1", "Timing", "UncertaintySummary", "sha256_file", "write_json_atomic",
]


def test_every_name_of_the_single_module_is_still_exported():
    assert [n for n in BEFORE_SPLIT if n not in schema.__all__] == []
    for n in BEFORE_SPLIT:
        assert hasattr(schema, n), n


def test_all_has_no_duplicates_and_no_misses():
    assert len(schema.__all__) == len(set(schema.__all__))
    defined = {name for mod in (m for m in vars(schema).values() if inspect.ismodule(m) and m.__name__.startswith("modic_core.schema."))
               for name in mod.__all__}
    assert set(schema.__all__) == defined
    public = {n for n, v in vars(schema).items()
              if not n.startswith("_") and not inspect.ismodule(v) and getattr(v, "__module__", "").startswith("modic_core.schema")}
    assert public == set(schema.__all__)


def test_every_document_kind_is_registered_once():
    docs = [getattr(schema, n) for n in schema.__all__
            if inspect.isclass(getattr(schema, n)) and issubclass(getattr(schema, n), base.Document) and getattr(schema, n).KIND]
    assert {d.KIND: d for d in docs} == base.Document.registry
    assert len({d.KIND for d in docs}) == len(docs)
