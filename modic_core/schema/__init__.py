"""Typed records (pydantic v2) of every JSON file the project writes and reads: cards, reports, batch, audits.

Each document carries ``schema`` (its kind) and ``schema_version``; readers refuse another kind or version,
or a missing or mistyped field, with a :class:`SchemaError` naming the file, the kind and the version found
vs supported -- instead of guessing its shape. ``<Document>.load(path)`` / ``.save(path)`` (atomic, NaN
refused); :func:`load_document` reads any of them by its kind.

Split by document family (import from here; the modules are the layout, not the API):

- :mod:`.base` -- :class:`Record`, :class:`Document`, :class:`SchemaError`, :func:`write_json_atomic`, :func:`sha256_file`
- :mod:`.metrics` -- the parts :mod:`modic_core.evaluation.metrics` produces (:class:`Estimate`, :class:`ClassificationReport`...)
- :mod:`.cards` -- ``weights/detector.json``, ``weights/classifier_<method>.json``, ``weights/nyul_landmarks.json``
- :mod:`.reports` -- one study's report (``StudyReport.to_dict``)
- :mod:`.batch` -- the batch mode's ``*.metrics.json`` and ``*.progress.json``
- :mod:`.benchmarks` -- ``benchmarks/latest.json``, ``browser.json``, ``batch_scaling.json``
- :mod:`.audits` -- the evaluations beside the cards (normalization comparison, conformal, robustness, ...)
- :mod:`.finetune` -- a fine-tune's ``finetune.json`` and registered metrics, ``weights/simulated_site.json``
"""
from __future__ import annotations

from modic_core.schema.audits import (
    CamScale,
    CamShareRow,
    ConformalEvaluation,
    CurvePoint,
    DetectorTransfer,
    GradcamAudit,
    GradingExperiments,
    LearningCurve,
    MethodComparison,
    NamingAudit,
    NormalizationComparison,
    PairingAudit,
    RiskCoveragePoint,
    RobustnessCheck,
    RobustnessRow,
    VariantScore,
)
from modic_core.schema.base import (
    Document,
    Record,
    SchemaError,
    load_document,
    null_if_set,
    nullable,
    sha256_file,
    write_json_atomic,
)
from modic_core.schema.batch import BatchProgress, CohortMetrics, CohortSetMetrics
from modic_core.schema.benchmarks import (
    BatchScaling,
    Benchmark,
    BrowserBenchmark,
    CohortThroughput,
    DeviceBenchmark,
    InteractionTiming,
    Machine,
    Timing,
)
from modic_core.schema.cards import (
    CalibrationRecord,
    ClassifierCard,
    ClassifierData,
    ClassifierTrainingConfig,
    ConformalRecord,
    DetectorCard,
    DetectorData,
    DetectorTrainingConfig,
    NyulLandmarks,
    ReliabilityBin,
    UncertaintySummary,
)
from modic_core.schema.finetune import (
    FinetuneBase,
    FinetuneData,
    FinetuneMetrics,
    FinetuneRecord,
    LevelCounts,
    LockedMetrics,
    ModelScores,
    NoScores,
    OtherStudies,
    SimulatedSite,
    SiteArm,
    SiteChoices,
    VersionMetrics,
)
from modic_core.schema.metrics import (
    Agreement,
    BootstrapSettings,
    ClassificationReport,
    ClassStats,
    DetectionCV,
    DetectionReport,
    Estimate,
    GtMatch,
    Mc0VsMc2Estimate,
    PairedDiff,
    SetMetrics,
    SyntheticMC1,
)
from modic_core.schema.reports import AlignmentRecord, LevelRecord, LevelSignalRecord, StudyReportRecord

__all__ = [
    # base
    "SchemaError", "sha256_file", "write_json_atomic", "nullable", "null_if_set", "Record", "Document", "load_document",
    # metric parts
    "Estimate", "Mc0VsMc2Estimate", "BootstrapSettings", "ClassStats", "SyntheticMC1", "ClassificationReport",
    "PairedDiff", "GtMatch", "DetectionReport", "DetectionCV", "SetMetrics", "Agreement",
    # cards
    "ClassifierTrainingConfig", "DetectorTrainingConfig", "ClassifierData", "DetectorData", "ReliabilityBin",
    "UncertaintySummary", "CalibrationRecord", "ConformalRecord", "ClassifierCard", "DetectorCard", "NyulLandmarks",
    # study report
    "LevelRecord", "LevelSignalRecord", "AlignmentRecord", "StudyReportRecord",
    # batch
    "CohortSetMetrics", "CohortMetrics", "BatchProgress",
    # benchmarks
    "Timing", "Machine", "DeviceBenchmark", "CohortThroughput", "Benchmark", "InteractionTiming", "BrowserBenchmark",
    "BatchScaling",
    # audits
    "MethodComparison", "NormalizationComparison", "RobustnessRow", "RobustnessCheck", "CamShareRow", "CamScale",
    "GradcamAudit", "VariantScore", "GradingExperiments", "CurvePoint", "LearningCurve", "RiskCoveragePoint", "ConformalEvaluation",
    "PairingAudit", "NamingAudit", "DetectorTransfer",
    # fine-tune
    "LevelCounts", "FinetuneData", "ModelScores", "NoScores", "LockedMetrics", "FinetuneBase", "FinetuneMetrics",
    "FinetuneRecord", "VersionMetrics", "SiteChoices", "OtherStudies", "SiteArm", "SimulatedSite",
]
