"""Typed records of every JSON file the project writes and reads (weights cards, comparison, reports).

Each document carries ``schema`` (its kind) and ``schema_version``; readers refuse another kind or
version, or a missing required field, with a :class:`SchemaError` naming the file, the kind and the
version found vs supported -- instead of guessing its shape.

Documents (``<Record>.load(path)`` / ``.save(path)``, atomic):

- :class:`NormalizationComparison` -- ``weights/normalization_comparison.json`` (train/compare.py)
- :class:`DetectorCard` -- ``weights/detector.json`` (train/detector.py)
- :class:`ClassifierCard` -- ``weights/classifier_<method>.json`` (train/classifier.py)
- :class:`NyulLandmarks` -- ``weights/nyul_landmarks.json`` (train/classifier.py)
- :class:`Benchmark` -- ``benchmarks/latest.json`` (bench/benchmark.py)
- :class:`CohortMetrics` -- the batch mode's ``*.metrics.json`` (batch/local.py)
- :class:`StudyReportRecord` -- one study's report (``StudyReport.to_dict``, analysis/report.py)
- :class:`LearningCurve` -- ``weights/learning_curve.json`` (train/experiments.py ``--learning-curve``)

The parts they share (:class:`Estimate`, :class:`ClassificationReport`, :class:`DetectionReport`...)
mirror what :mod:`modic_core.evaluation.metrics` produces; keys a part does not name are kept in
its ``extra`` so that a file reads back and writes out unchanged. The training hyperparameters
(:class:`ClassifierTrainingConfig`, :class:`DetectorTrainingConfig`) are saved in each card's
``config`` and are the training CLIs' defaults.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, TypeVar

import numpy as np

from modic_core.errors import InputError

__all__ = [
    "SchemaError", "sha256_file", "Record", "Document",
    "Estimate", "ClassStats", "SyntheticMC1", "ClassificationReport", "PairedDiff", "DetectionReport", "DetectionCV",
    "ConformalRecord", "SetMetrics", "RiskCoveragePoint", "ConformalEvaluation",
    "ClassifierTrainingConfig", "DetectorTrainingConfig", "ClassifierData", "DetectorData",
    "MethodComparison", "NormalizationComparison", "ClassifierCard", "DetectorCard", "NyulLandmarks",
    "RobustnessRow", "RobustnessCheck", "CamShareRow", "CamScale", "GradcamAudit", "GradingExperiments", "CurvePoint", "LearningCurve",
    "Timing", "Machine", "DeviceBenchmark", "CohortThroughput", "Benchmark", "InteractionTiming", "BrowserBenchmark",
    "CohortMetrics",
    "LevelRecord", "StudyReportRecord",

    "Timing", "Machine", "DeviceBenchmark", "CohortThroughput", "Benchmark", "CohortMetrics",
    "LevelRecord", "StudyReportRecord", "BatchProgress", "BatchScaling",
]

R = TypeVar("R", bound="Record")


class SchemaError(InputError):
    """A JSON file of this program has another kind or version, or lacks a required field.

    A ``ValueError`` (via :class:`~modic_core.errors.InputError`), so the dashboard shows its
    message instead of a traceback.
    """


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- machinery


class _FieldError(Exception):
    """A problem at one place inside a document (turned into a SchemaError by Document.from_dict)."""


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` of a record class, resolved once per class (it was most of a load's time)."""
    return typing.get_type_hints(cls)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) as the annotated type ``tp``; raises _FieldError on a mismatch."""
    if tp is Any:
        return value
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise _FieldError(f"'{where}' is null")
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp._from(value, where)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _FieldError(f"'{where}' should be an object, found {type(value).__name__}")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise _FieldError(f"'{where}' should be a list, found {type(value).__name__}")
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }.get(tp)
    if ok is not None and not ok(value):
        raise _FieldError(f"'{where}' should be {tp.__name__}, found {type(value).__name__}")
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    return value


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def write_json_atomic(obj: Any, path: str | Path, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON through a temporary file in the same folder, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # unique: parallel runs may write the same file
    try:
        tmp.write_text(json.dumps(obj, indent=indent, default=_json_default, allow_nan=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _nullable() -> Any:
    """An optional field that is written as null when None (e.g. a CI that could not be computed)."""
    return field(default=None, metadata={"write_null": True})


@dataclass
class Record:
    """A typed part of a JSON document.

    Fields without a default are required. Optional fields (default ``None``) are left out of
    :meth:`to_dict` when None, unless made with :func:`_nullable` (always written, null or not). ``field(metadata={"key": ...})`` names a JSON key that is not a
    Python name. A field called ``extra`` keeps every key the record does not name (round trip);
    a record without one refuses unknown keys.
    """

    @classmethod
    def _from(cls: type[R], d: Any, where: str = "") -> R:
        if not isinstance(d, Mapping):
            raise _FieldError(f"'{where or cls.__name__}' should be an object, found {type(d).__name__}")
        hints = _type_hints(cls)
        kwargs: dict[str, Any] = {}
        known = set()
        has_extra = False
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                has_extra = True
                continue
            key = f.metadata.get("key", f.name)
            known.add(key)
            here = f"{where}.{key}" if where else key
            if key in d:
                kwargs[f.name] = _convert(hints[f.name], d[key], here)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _FieldError(f"missing required field '{here}'")
        unknown = [k for k in d if k not in known and k not in ("schema", "schema_version")]
        if has_extra:
            kwargs["extra"] = {k: d[k] for k in unknown}
        elif unknown:
            raise _FieldError(f"unexpected field(s) {', '.join(repr(f'{where}.{k}' if where else k) for k in unknown)}")
        return cls(**kwargs)

    @classmethod
    def from_dict(cls: type[R], d: Mapping[str, Any]) -> R:
        try:
            return cls._from(d)
        except _FieldError as exc:
            raise SchemaError(f"{cls.__name__}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if v is None and f.default is None and not f.metadata.get("write_null"):
                continue
            out[f.metadata.get("key", f.name)] = _dump(v)
        out.update(_dump(getattr(self, "extra", None) or {}))
        return out


@dataclass
class Document(Record):
    """A whole JSON file: ``{"schema": KIND, "schema_version": VERSION, ...fields}``."""

    KIND: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    @classmethod
    def header(cls) -> dict[str, Any]:
        return {"schema": cls.KIND, "schema_version": cls.VERSION}

    @classmethod
    def from_dict(cls: type[R], d: Mapping[str, Any], *, source: str | None = None) -> R:
        """Validate the header and every field; ``source`` (a file name) goes into the error message."""
        src = source or f"this {cls.KIND} document"
        if not isinstance(d, Mapping):
            raise SchemaError(f"{src}: not a JSON object; expected a '{cls.KIND}' document, version {cls.VERSION}.")
        kind, version = d.get("schema"), d.get("schema_version")
        if kind != cls.KIND:
            found = "no 'schema' key (an unversioned file)" if kind is None else f"schema '{kind}' version {version}"
            raise SchemaError(f"{src}: expected a '{cls.KIND}' document (version {cls.VERSION}), found {found}. "
                              "Rewrite it with the current version of this program.")
        if version != cls.VERSION:
            raise SchemaError(f"{src}: '{kind}' version {version} is not supported; this program reads version "
                              f"{cls.VERSION}. Use the program version that wrote it, or rewrite the file.")
        return cls.body_from_dict(d, source=src)

    @classmethod
    def body_from_dict(cls: type[R], d: Mapping[str, Any], *, source: str | None = None) -> R:
        """The record from its fields alone (writers building a document from a plain report)."""
        try:
            return cls._from(d)
        except _FieldError as exc:
            raise SchemaError(f"{source or 'this document'} ('{cls.KIND}' version {cls.VERSION}): {exc}.") from None

    @classmethod
    def load(cls: type[R], path: str | Path) -> R:
        """Read and validate ``path``; SchemaError when it is not valid JSON of this kind and version."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SchemaError(f"{path.name}: not readable JSON ({exc}); expected a '{cls.KIND}' document, "
                              f"version {cls.VERSION}.") from None
        return cls.from_dict(data, source=path.name)

    def to_dict(self) -> dict[str, Any]:
        return {**self.header(), **super().to_dict()}

    def save(self, path: str | Path) -> Path:
        """Atomic write (temporary file, then rename)."""
        return write_json_atomic(self.to_dict(), path)


# --------------------------------------------------------------------------- metric parts


@dataclass
class Estimate(Record):
    """A score with its bootstrap CI; ``display`` is the text to show (with the "too few cases" wording)."""

    value: float | None
    ci_low: float | None = _nullable()
    ci_high: float | None = _nullable()
    display: str | None = _nullable()
    n: int | None = None
    too_few: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClassStats(Record):
    n_true: int
    n_pred: int
    sensitivity: Estimate
    specificity: Estimate | None = None
    precision: Estimate | None = None
    f1: Estimate | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyntheticMC1(Record):
    """Sensitivity on held-out MC0 crops with a synthetic MC1 lesion painted in (train/classifier.py)."""

    what: str
    n: int
    sensitivity: float
    predicted_as: dict[str, int]


@dataclass
class ClassificationReport(Record):
    """:func:`modic_core.evaluation.metrics.classification_report` (plus the training extras)."""

    n_discs: int
    n_patients: int | None
    labels: list[str]
    confusion_matrix: list[list[int]]
    per_class: dict[str, ClassStats]
    accuracy: Estimate | None = None
    balanced_accuracy: Estimate | None = None
    macro_f1: Estimate | None = None
    weighted_f1: Estimate | None = None
    cohen_kappa: Estimate | None = None
    mc0_vs_mc2: Estimate | None = None
    notes: list[str] | None = None
    by_box_source: dict[str, ClassificationReport] | None = None
    synthetic_mc1: SyntheticMC1 | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def sensitivity(self, cls_name: str) -> Estimate | None:
        pc = self.per_class.get(cls_name)
        return pc.sensitivity if pc else None


@dataclass
class PairedDiff(Record):
    """:func:`modic_core.evaluation.metrics.paired_bootstrap`: method minus reference, patient bootstrap."""

    metric: str
    value_a: float | None
    value_b: float | None
    diff: float | None
    mean_diff: float | None = _nullable()
    ci_low: float | None = _nullable()
    ci_high: float | None = _nullable()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectionReport(Record):
    """:func:`modic_core.evaluation.metrics.detection_report` (``recall`` keyed by IoU, e.g. "0.5")."""

    n_images: int
    n_gt: int
    n_pred: int
    mean_iou: Estimate | None
    recall: dict[str, Estimate]
    fp_per_image: Estimate | None
    level_accuracy: Estimate | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectionCV(Record):
    """The detector's cross-validation (train/detection_cv.py): one report per sequence and threshold."""

    default_threshold: float
    by_sequence: dict[str, dict[str, DetectionReport]]
    false_positive_locations_at_default_threshold: dict[str, int] | None = None

    def at_default(self) -> dict[str, DetectionReport]:
        """{sequence: report at the default threshold}."""
        key = f"{self.default_threshold:g}"
        return {seq: by_t[key] for seq, by_t in self.by_sequence.items() if key in by_t}


# --------------------------------------------------------------------------- training configs and cards


@dataclass
class ClassifierTrainingConfig(Record):
    """Hyperparameters of a classifier training run (modic_core.train.classifier); the CLI's defaults.

    ``crop`` is the :class:`~modic_core.classification.crops.CropSpec` and ``model`` the
    :class:`~modic_core.classification.model.ClassifierConfig` as dicts (empty: their defaults).
    """

    epochs: int = 12
    seed: int = 0
    batch_size: int = 32
    lr: float = 2e-3  # AdamW; OneCycle maximum
    weight_decay: float = 1e-3
    class_weight_cap: float = 10.0  # inverse-frequency class weights clipped to this
    jitter_mm: float = 3.0  # crop centre jitter, uniform ± per epoch
    flip_p: float = 0.5  # anterior-posterior flip probability
    synthetic_mc1: float = 0.1  # share of MC0 crops turned into synthetic MC1 per epoch
    # share of studies per epoch given a random scanner/export intensity change before normalization;
    # None (not written, as in the cards trained before it existed) = 0 = off
    intensity_aug: float | None = None
    # weight of the auxiliary-grading loss (multi-task heads, modic_core.train.classifier.aux_loss);
    # None (not written; every shipped card) = single-head model
    aux_weight: float | None = None
    # label smoothing of the Modic cross-entropy (None, as in the cards trained before it existed = 0 = off)
    label_smoothing: float | None = None
    n_folds: int = 5
    crop: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.crop, self.model = _dump(self.crop), _dump(self.model)  # tuples as lists, as they read back


@dataclass
class DetectorTrainingConfig(Record):
    """Hyperparameters of a detector training run (modic_core.train.detector); the CLI's defaults.

    ``model`` is the :class:`~modic_core.detection.model.DetectorConfig` as a dict (empty: default).
    """

    epochs: int = 24
    seed: int = 0
    batch_size: int = 4
    lr: float = 2e-3  # AdamW; linear warm-up then cosine decay
    weight_decay: float = 1e-4
    warmup_steps: int = 100  # at most; and at most a tenth of all steps
    grad_clip: float = 10.0  # max gradient norm
    n_folds: int = 5  # cross-validation folds (0: none)
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model = _dump(self.model)  # tuples as lists, as they read back


@dataclass
class ClassifierData(Record):
    cohort: str
    n_studies: int
    n_discs: int
    box_source_counts: dict[str, int]
    excluded: list[dict[str, Any]]


@dataclass
class DetectorData(Record):
    cohort: str
    n_studies: int
    images: str
    study_ids: list[str]


@dataclass
class ReliabilityBin(Record):
    """One bin of a reliability diagram: top-label confidence in [lower, upper), its discs' mean
    confidence and accuracy (None for an empty bin)."""

    lower: float
    upper: float
    n: int
    confidence: float | None = None
    accuracy: float | None = None


@dataclass
class UncertaintySummary(Record):
    """The "uncertain" flag on out-of-fold predictions: share of levels flagged, and how the rest score."""

    threshold: float | None
    rate: Estimate | None = None  # share of levels flagged uncertain
    accuracy_rest: Estimate | None = None  # top-label accuracy of the levels not flagged
    mc0_vs_mc2_rest: Estimate | None = None  # MC0-vs-MC2 balanced accuracy of the levels not flagged
    n_levels: int = 0
    n_flagged: int = 0


@dataclass
class CalibrationRecord(Record):
    """Temperature scaling and the uncertainty threshold of one classifier, fitted on out-of-fold CV
    predictions (:mod:`modic_core.evaluation.calibration`). ``ece_*``: expected calibration error,
    ``n_bins`` equal-width bins of the top-label confidence. ``ece_after`` and ``reliability_after``
    are nested (each fold calibrated with a temperature fitted on the other folds only), so they are
    not fitted on themselves; ``temperature`` and ``uncertain_below`` are the values fitted on all
    folds and shipped."""

    temperature: float
    uncertain_below: float | None
    threshold_rule: str
    fitted_on: str
    n_bins: int = 15
    ece_before: float | None = None
    ece_after: float | None = None
    reliability_before: list[ReliabilityBin] = field(default_factory=list)
    reliability_after: list[ReliabilityBin] = field(default_factory=list)
    fold_temperatures: list[float] = field(default_factory=list)
    uncertainty: UncertaintySummary | None = None  # nested: threshold chosen on the other folds
    ensemble_agreement: str | None = None  # how member agreement enters the flag (None: single model)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConformalRecord(Record):
    """Conformal prediction sets of one classifier (:mod:`modic_core.classification.conformal`): the score,
    the grade names and, per grade, the calibration scores (out-of-fold, on the probabilities inference
    produces: temperature-scaled). MC1 is calibrated on held-out synthetic MC1 lesions plus the few real
    MC1 discs (``n_synthetic_mc1`` of them synthetic). ``coverage``: the default coverage."""

    score: str
    classes: list[str]
    calibration_scores: dict[str, list[float]]
    coverage: float
    fitted_on: str
    rule: str
    mondrian: str = "grade"  # categories of the class-conditional calibration
    temperature: float = 1.0  # the temperature the scored probabilities carried
    n_synthetic_mc1: int = 0
    # per grade, the calibration score at the default coverage: a grade is in the set when its score is at most this
    # (for readers of the card; inference uses the p-values of ``calibration_scores``, which give the same sets)
    quantiles: dict[str, float | None] = field(default_factory=dict)  # None: too few scores, the grade is always in
    makers: list[str] = field(default_factory=list)  # scanner makers of the calibration discs
    field_strengths: list[str] = field(default_factory=list)  # and their field strengths
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClassifierCard(Document):
    """``weights/classifier_<method>.json``: how the weights beside it were made and how they scored."""

    KIND: ClassVar[str] = "classifier_card"
    VERSION: ClassVar[int] = 1

    command: str
    normalization: str
    data: ClassifierData
    config: ClassifierTrainingConfig
    weights: str
    sha256: str
    size_bytes: int
    cross_validation: ClassificationReport | None
    calibration: CalibrationRecord | None = None  # temperature and uncertainty threshold used at inference
    by_manufacturer: dict[str, ClassificationReport] | None = None  # CV report per scanner maker
    by_field_strength: dict[str, ClassificationReport] | None = None  # CV report per field strength
    conformal: ConformalRecord | None = None  # prediction sets: calibration scores per grade (later addition)


@dataclass
class DetectorCard(Document):
    """``weights/detector.json``: how the detector weights were made and their cross-validation."""

    KIND: ClassVar[str] = "detector_card"
    VERSION: ClassVar[int] = 1

    command: str
    data: DetectorData
    config: DetectorTrainingConfig
    weights: str
    sha256: str
    size_bytes: int
    cross_validation: DetectionCV | None
    cross_validation_status: str
    folds: list[list[str]]
    rescored_by: str | None = None  # the command that re-scored the saved CV predictions with newer rules


@dataclass
class NyulLandmarks(Document):
    """``weights/nyul_landmarks.json``; ``format`` is what normalization.methods.load_landmarks checks."""

    KIND: ClassVar[str] = "nyul_landmarks"
    VERSION: ClassVar[int] = 1

    format: str
    method: str
    percentiles: list[float]
    standard_range: list[float]
    landmarks: dict[str, list[float]]
    info: dict[str, Any] | None = field(default=None, metadata={"key": "extra"})


# --------------------------------------------------------------------------- normalization comparison


@dataclass
class MethodComparison(Record):
    """One method of the comparison: pooled CV report, paired differences to the reference, breakdowns."""

    metrics: ClassificationReport
    paired: dict[str, PairedDiff] | None = None  # by metric; None for the reference itself
    by_manufacturer: dict[str, ClassificationReport] | None = None
    by_field_strength: dict[str, ClassificationReport] | None = None
    calibration: CalibrationRecord | None = None

    def groups(self) -> dict[str, dict[str, ClassificationReport]]:
        """{group column: {group value: report}} (columns as in a cohort's studies.csv)."""
        out = {}
        if self.by_manufacturer:
            out["manufacturer"] = self.by_manufacturer
        if self.by_field_strength:
            out["field_strength_t"] = self.by_field_strength
        return out


@dataclass
class NormalizationComparison(Document):
    """``weights/normalization_comparison.json`` (train/compare.py)."""

    KIND: ClassVar[str] = "normalization_comparison"
    VERSION: ClassVar[int] = 1

    methods: dict[str, MethodComparison]
    best_method: str
    best_by: str
    reference: str
    n_discs: int
    n_patients: int
    class_counts: dict[str, int]
    box_source_counts: dict[str, int]
    notes: list[str]
    command: str | None = None
    cohort: str | None = None
    config: ClassifierTrainingConfig | None = None
    folds: list[list[str]] | None = None
    excluded_discs: list[dict[str, Any]] | None = None
    minutes_per_method: dict[str, float] | None = None
    default_method: str | None = None  # by the rule fixed in advance (default_rule); None in files before it
    default_rule: str | None = None
    methods_differ: bool | None = None  # False: no method beats the reference by the rule (no "best method" star)


# --------------------------------------------------------------------------- intensity robustness


@dataclass
class RobustnessRow(Record):
    """Grade agreement of one method under one intensity change, on one source of studies.

    ``agreement``: share of levels whose predicted grade (argmax of MC0/MC1/MC2) is the reference's,
    with a patient-bootstrap CI; ``mean_abs_change_p``: mean over levels of max |p - p_ref| over the
    three classes; ``saturation``: median achieved share of body voxels at 255 (window exports only).
    """

    source: str
    method: str
    transform: str
    n_studies: int
    n_levels: int
    agreement: Estimate
    mean_abs_change_p: float
    saturation: float | None = None


@dataclass
class RobustnessCheck(Document):
    """``weights/robustness.json`` (``python -m modic_core.train.robustness``): do the shipped classifiers give
    the same grades to a study as given and to its 8-bit windowed export, a rescaled copy, a bias field, noise?

    ``sources``: what each source is, what its reference ("native") means and how it was sampled;
    ``transforms``: name -> description; ``breaks``: rows below ``target``; ``dicom_t1``: how much the
    normalized T1 crops of the real DICOM series move under each change (no grades: it has no T2).
    """

    KIND: ClassVar[str] = "robustness_check"
    VERSION: ClassVar[int] = 1

    command: str
    target: float
    seed: int
    sources: dict[str, Any]
    transforms: dict[str, str]
    rows: list[RobustnessRow]
    breaks: list[dict[str, Any]]
    notes: list[str]
    seconds: float
    weights: dict[str, str] = field(default_factory=dict)  # method -> classifier sha256
    dicom_t1: dict[str, Any] | None = None


# --------------------------------------------------------------------------- Grad-CAM evidence audit


@dataclass
class CamShareRow(Record):
    """Where one explanation variant puts its mass on one group of real discs (one method's classifier).

    ``marrow`` / ``disc`` / ``outside``: mean share of each disc's map mass in the marrow bands, the disc
    band and the rest of the crop (:mod:`modic_core.classification.bands`); ``marrow_over_disc``: share of
    discs whose marrow mass exceeds their disc mass; ``marrow_denser``: share of discs whose mean map value
    per pixel is higher in the marrow bands than in the disc band (fair to the bands' different areas).
    Patient-bootstrap 95 % CIs; maps with no mass (``n_empty``) are left out.
    """

    method: str
    variant: str
    group: str  # the discs' true grade, "MC2" or "MC0"
    target: str  # the class explained: "predicted" (what the app shows)
    n_discs: int
    n_patients: int
    n_empty: int
    marrow: Estimate
    disc: Estimate
    outside: Estimate
    marrow_over_disc: Estimate
    marrow_denser: Estimate
    predicted_mc2: float | None = None  # share of these discs the classifier calls MC2


@dataclass
class CamScale(Record):
    """Fixed heat-map scale of one classifier: variant -> raw map value shown as 1 (the ``quantile`` of the
    per-disc peak of the raw maps over the audited discs); only valid for the weights with this sha256."""

    sha256: str
    quantile: float
    n_discs: int
    values: dict[str, float]


@dataclass
class GradingExperiments(Document):
    """``weights/grading_experiments.json`` (``python -m modic_core.train.experiments``): flip test-time
    augmentation, a seed ensemble and multi-task auxiliary heads against the single model, on the
    comparison's patient-level CV.

    ``results``: variant -> {mc0_vs_mc2_balanced_accuracy, ci_low, ci_high, mc0_mc2_called_mc1,
    ece_uncalibrated[, diff_to_single, diff_ci_low, diff_ci_high]}; ``adopted``: variants that pass ``rule``.
    """

    KIND: ClassVar[str] = "grading_experiments"
    VERSION: ClassVar[int] = 1

    command: str
    method: str
    seeds: int
    n_discs: int
    n_patients: int
    results: dict[str, Any]
    adopted: list[str]
    rule: str
    not_tried: list[str] = field(default_factory=list)
    minutes: float = 0.0
    # weight of the auxiliary-grading loss of the ``multitask`` variants (None: not run)
    aux_weight: float | None = None
    # later runs (``--merge``) whose variants were written in; each reproduced the stored ``single`` exactly
    merged_commands: list[str] = field(default_factory=list)


@dataclass
class CurvePoint(Record):
    """One training-set fraction of the learning curve: each fold's model trained on that share of the fold's
    training patients (nested subsets), scored on the fold's unchanged held-out discs, pooled over folds.

    ``n_train_patients`` / ``n_train_discs``: per fold; ``mc0_vs_mc2``: pooled MC0-vs-MC2 balanced accuracy with a
    patient-bootstrap CI; ``diff_to_full``: this fraction minus the full training set, patients resampled (paired).
    """

    fraction: float
    n_train_patients: list[int]
    n_train_discs: list[int]
    mc0_vs_mc2: Estimate
    mc0_mc2_called_mc1: float
    diff_to_full: PairedDiff | None = None
    # pooled balanced accuracy of each subset draw (``--draws``; draw 0 first, it is ``mc0_vs_mc2``); empty: one draw
    ba_by_draw: list[float] = field(default_factory=list)


@dataclass
class LearningCurve(Document):
    """``weights/learning_curve.json`` (``python -m modic_core.train.experiments --learning-curve ...``): how the
    cross-validated MC0-vs-MC2 balanced accuracy of one method grows with the training set, on the comparison's folds.

    ``points``: one :class:`CurvePoint` per fraction (1.0 = the comparison's CV model); ``full_vs_half``: 1.0 minus
    0.5, paired; ``slope_per_doubling``: least-squares slope of the balanced accuracy on log2(mean training discs per
    fold) with a patient-bootstrap CI; ``extrapolation``: the sentence the numbers allow; ``reference``: whether the
    1.0 point reproduced the stored ``single`` of ``weights/grading_experiments.json``.
    """

    KIND: ClassVar[str] = "learning_curve"
    VERSION: ClassVar[int] = 1

    command: str
    method: str
    seed: int
    n_discs: int
    n_patients: int
    subset_rule: str
    points: list[CurvePoint]
    full_vs_half: PairedDiff | None = None
    slope_per_doubling: Estimate | None = None
    fit_at_full: float | None = None
    extrapolation: str = ""
    reference: str = ""
    minutes: float = 0.0
    # subset draws per fold; with more than one, each draw's slope per doubling and 1.0-minus-0.5 (point estimates)
    draws: int = 1
    slope_by_draw: list[float] = field(default_factory=list)
    full_vs_half_by_draw: list[float] = field(default_factory=list)


@dataclass
class GradcamAudit(Document):
    """``weights/gradcam_audit.json`` (``python -m modic_core.train.gradcam_audit``): do the explanations point at
    the marrow beside the endplates (where Modic changes are) or at the disc, on real boxed discs?

    ``rows``: one :class:`CamShareRow` per method, variant and group; ``chosen``: the variant the app ships,
    by ``rule`` (fixed in advance) on the ``rule_method`` rows; ``scales``: method -> :class:`CamScale`.
    """

    KIND: ClassVar[str] = "gradcam_audit"
    VERSION: ClassVar[int] = 1

    command: str
    cohort: dict[str, Any]
    bands: dict[str, Any]
    variants: dict[str, str]
    rows: list[CamShareRow]
    rule: str
    rule_method: str
    chosen: str
    reason: str
    scales: dict[str, CamScale]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def row(self, method: str, variant: str, group: str) -> CamShareRow | None:
        return next((r for r in self.rows if (r.method, r.variant, r.group) == (method, variant, group)), None)


# --------------------------------------------------------------------------- benchmark


@dataclass
class Timing(Record):
    """Seconds over ``n`` repeats."""

    median_s: float
    min_s: float
    max_s: float
    n: int
    to: str | None = None
    note: str | None = None


@dataclass
class Machine(Record):
    cpu_count: int
    torch_threads: int
    python: str
    torch: str
    gpu: str | None


@dataclass
class DeviceBenchmark(Record):
    device: str
    load_dicom_15_slice_pair: Timing
    load_spider2d_mha_pair: Timing
    methods: list[str]
    detection: Timing
    detection_single_slice: Timing
    classification_per_method: dict[str, dict[str, Timing]]
    analyze_15_slice: Timing
    threshold_change: Timing
    normalization_switch_per_method: dict[str, Timing]
    normalization_switch: Timing
    peak_rss_gb_after_all_models: float
    alignment_header: Timing | None = None  # the T1/T2 check when the header placement passes
    alignment_repair: Timing | None = None  # the check when T2 must be moved (other frame of reference)


@dataclass
class CohortThroughput(Record):
    cohort: str | None = None
    studies: int | None = None
    seconds: float | None = None
    studies_per_minute: float | None = None
    ok: int | None = None
    skipped: str | None = None


@dataclass
class Benchmark(Document):
    """``benchmarks/latest.json`` (modic_core.bench.benchmark)."""

    KIND: ClassVar[str] = "benchmark"
    VERSION: ClassVar[int] = 1

    when: str
    commit: str | None
    machine: Machine
    targets: dict[str, float]
    cpu: DeviceBenchmark
    cohort_throughput: CohortThroughput
    normalization_15x512x512: dict[str, Any]  # modic_core.bench.normalization.run_benchmark
    target_check: dict[str, list[Any]]  # name: [measured, within target]
    gpu: DeviceBenchmark | None = None
    synthetic_phantom_15x256x256: dict[str, Any] | None = None  # make_phantom timing (median_s, min_s, max_s, n)


@dataclass
class InteractionTiming(Record):
    """Milliseconds from a user's input to the settled page, over ``n`` repeats, against a target."""

    median_ms: float
    min_ms: float
    max_ms: float
    n: int
    target_ms: float
    within_target: bool
    samples_ms: list[float] = field(default_factory=list)
    note: str | None = None


@dataclass
class BrowserBenchmark(Document):
    """``benchmarks/browser.json`` (modic_core.bench.browser): the case viewer's latency in a real browser."""

    KIND: ClassVar[str] = "browser_benchmark"
    VERSION: ClassVar[int] = 1

    when: str
    commit: str | None
    cpu_count: int
    load_average: list[float]  # 1-minute load before and after the run
    browser: str
    case: str
    settled: str  # what "settled" means
    interactions: dict[str, InteractionTiming]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- batch metrics and study report


@dataclass
class CohortMetrics(Document):
    """A labelled cohort's metrics (:func:`modic_core.evaluation.evaluate.evaluate`), as the batch mode writes it."""

    KIND: ClassVar[str] = "cohort_metrics"
    VERSION: ClassVar[int] = 1

    n_label_rows: int
    n_prediction_rows: int
    n_mc3_excluded: int
    n_missing_predictions: int
    classification: ClassificationReport | None
    by_group: dict[str, dict[str, ClassificationReport]]
    detection: DetectionReport | None
    notes: list[str]
    n_duplicate_predictions: int | None = None
    n_not_graded: int | None = None  # levels found but not graded (T2 does not cover them): not in the metrics
    not_graded_levels: list[str] | None = None  # "study:level" of those (at most 200)
    n_duplicate_labels: int | None = None  # identical repeated label rows counted once
    missing_predictions: list[str] | None = None
    n_unlabelled_predictions: int | None = None
    inputs: dict[str, Any] | None = None
    prediction_sets: dict[str, Any] | None = None  # the predictions' conformal sets against the labels (SetMetrics + target)


@dataclass
class LevelRecord(Record):
    """One level of a study report: box (x0, y0, x1, y1) in T1 pixels, z_range first/last slice."""

    level: str
    box: list[float]
    score: float
    probabilities: dict[str, float]
    prediction: str
    z_range: list[int]
    graded: bool = True  # False: not graded (e.g. T2 does not cover the level); see ``note``
    note: str = ""
    uncertain: bool = False  # more than one grade in the prediction set (older reports: top probability below a threshold)
    detected_level: str = ""  # the detector's name when the user corrected ``level``
    prediction_set: list[str] = field(default_factory=list)  # grades in the conformal prediction set (MC0, MC1, MC2 order)
    p_values: dict[str, float] = field(default_factory=dict)  # conformal p-value per grade; {} without calibration
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AlignmentRecord(Record):
    """The T1/T2 alignment check (:class:`modic_core.pairing.alignment.Alignment`); distances in mm."""

    method: str
    translation_mm: list[float]
    residual_mm: float | None
    discs_matched: int
    discs_t1: int
    ok: bool
    header_trusted: bool = True
    header_residual_mm: float | None = None
    header_discs_matched: int = 0
    # later additions (older reports load without them): through-plane offset and content checks
    through_plane_mm: float | None = None
    through_plane_residual_mm: float | None = None
    contrast_score: float | None = None
    similarity: float | None = None
    flip_gain: float | None = None
    problems: list[str] = field(default_factory=list)
    in_plane_ok: bool | None = None
    through_plane_note: str = ""


@dataclass
class StudyReportRecord(Document):
    """One analysed study (:meth:`modic_core.analysis.report.StudyReport.to_dict`).

    Version 2 added ``warnings`` (plain sentences), ``alignment``, ``reliable`` and per-level ``graded``/``note``;
    later fields with defaults (older reports load): ``naming_uncertain``, ``names_corrected_by_user``,
    ``naming_correction``, per-level ``detected_level`` and ``pairing_override`` (the identity checks,
    e.g. ``"study, age/sex"``, on which T1 and T2 differed and the user chose to grade anyway; never their values),
    per-level ``prediction_set`` / ``p_values`` and the sets' ``coverage``.
    """

    KIND: ClassVar[str] = "study_report"
    VERSION: ClassVar[int] = 2

    normalization: str
    threshold: float
    levels: list[LevelRecord]
    device: str | None = None
    weights: dict[str, str] | None = None
    timings_s: dict[str, float] | None = None
    notes: list[str] | None = None
    warnings: list[str] = field(default_factory=list)
    alignment: AlignmentRecord | None = None
    reliable: bool = True
    naming_uncertain: bool = False
    names_corrected_by_user: bool = False  # level names corrected in the viewer; ``naming_correction`` says how
    naming_correction: str = ""
    pairing_override: str = ""  # "" or the identity checks the user chose to grade despite ("study", "date", "age/sex")
    coverage: float | None = None  # coverage of the levels' prediction sets; None: no sets (no conformal calibration)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PairingAudit(Document):
    """The T1/T2 alignment check audited on a cohort (``python -m modic_core.train.pairing_audit``).

    ``aligned_pairs`` / ``not_aligned_pairs``: the check on pairs as the cohort stored them, split by
    the cohort's own verdict; ``table_shift``: the same pairs with the T2 moved by a seeded random
    table shift (errors in mm); ``seconds``: median time of the check (header only / with a repair).
    ``wrong_pairs`` (later addition): kind ("swapped", "upside_down", "near_identical") ->
    ``{"n", "flagged", "missed"}``, wrong pairs made from every study; ``content_scores``: the
    range of each content score on the pairs the cohort marks aligned.
    """

    KIND: ClassVar[str] = "pairing_audit"
    VERSION: ClassVar[int] = 1

    command: str
    n_studies: int
    aligned_pairs: dict[str, Any]
    not_aligned_pairs: dict[str, Any]
    table_shift: dict[str, Any]
    seconds: dict[str, float]
    studies: list[dict[str, Any]] = field(default_factory=list)
    wrong_pairs: dict[str, Any] = field(default_factory=dict)
    content_scores: dict[str, Any] = field(default_factory=dict)


@dataclass
class NamingAudit(Document):
    """Level naming rules compared on detector outputs (``python -m modic_core.train.naming_audit``).

    ``cross_validation`` / ``held_out``: rule name ("count_up", "name_regions") -> sequence ->
    ``{"images", "names_same_across_thresholds", "by_threshold": {t: {"names_right",
    "discs_matched", "fp_in_column_per_image"}}}``.
    """

    KIND: ClassVar[str] = "naming_audit"
    VERSION: ClassVar[int] = 1

    command: str
    thresholds: list[float]
    cross_validation: dict[str, Any]
    held_out: dict[str, Any]
    held_out_studies: list[str] = field(default_factory=list)


@dataclass
class DetectorTransfer(Document):
    """Leave-one-maker-out detector check (``python -m modic_core.train.detector_transfer``).

    ``groups``: test maker -> ``{"test_studies", "train_studies", "left_out", "five_fold_cv"}``;
    ``left_out`` scores the model trained without that maker, ``five_fold_cv`` the shipped
    recipe's 5-fold CV on the same studies; each: sequence -> measures of
    :func:`modic_core.train.detector_transfer.score_group`.
    """

    KIND: ClassVar[str] = "detector_transfer"
    VERSION: ClassVar[int] = 1

    command: str
    config: DetectorTrainingConfig
    five_fold_cv_train_studies: int
    makers: list[str]
    folds: list[list[str]]
    groups: dict[str, Any]
    rescored_by: str = ""

# --------------------------------------------------------------------------- cohort batch at scale


@dataclass
class BatchProgress(Document):
    """``<out>.progress.json`` of a batch run (:mod:`modic_core.batch.sink`): studies done, failed and
    left, and each failure reason (a redacted message or an exception type) with its count."""

    KIND: ClassVar[str] = "batch_progress"
    VERSION: ClassVar[int] = 1

    engine: str
    state: str  # running | finished | stalled | failed
    updated: str
    studies_total: int
    done_before: int
    done_ok: int
    failed: int
    left: int
    failure_reasons: dict[str, int] = field(default_factory=dict)
    plan: str | None = None  # Ray: the actors and read tasks asked for
    worker_peak_mb: dict[str, float] | None = None  # Ray: peak resident memory of each analysis actor process
    read_peak_mb: float | None = None  # Ray: the largest peak of a read-task worker process


@dataclass
class BatchScaling(Document):
    """``benchmarks/batch_scaling.json`` (:mod:`modic_core.bench.batch_scaling`): studies per minute of
    the local and Ray engines on generated cohorts, peak memory per worker, per-study cost split."""

    KIND: ClassVar[str] = "batch_scaling"
    VERSION: ClassVar[int] = 1

    when: str
    commit: str | None
    machine: Machine
    cohorts: dict[str, dict[str, Any]]  # name -> {studies, shape, engines: {engine: figures}}
    cost_split_s: dict[str, dict[str, float]]  # cohort -> {read, detect, classify, write, total}: median s per study
    projection: dict[str, Any]
    gpu: str | None = None  # "not measured" when no GPU was available


@dataclass
class SetMetrics(Record):
    """How prediction sets did on real MC0/MC2 discs (MC1: too few real discs, reported as counts).

    ``coverage``: share whose true grade is in the set; ``singleton_share``: share with one grade;
    ``singleton_accuracy``: share of those whose one grade is right; ``mc1_in_set``: share with MC1 in
    the set; ``mean_size``: mean number of grades. Patient-bootstrap 95 % CIs."""

    n: int
    coverage: Estimate
    singleton_share: Estimate
    singleton_accuracy: Estimate
    mc1_in_set: Estimate
    mean_size: float
    coverage_by_grade: dict[str, Estimate] = field(default_factory=dict)
    n_real_mc1: int = 0
    real_mc1_covered: int = 0
    synthetic_mc1_coverage: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RiskCoveragePoint(Record):
    """One target coverage: what it achieved, and the share and accuracy of single-grade sets."""

    target: float
    coverage: float
    singleton_share: float
    singleton_accuracy: float | None
    mean_size: float


@dataclass
class ConformalEvaluation(Document):
    """``weights/conformal.json`` (``python -m modic_core.train.conformal``): conformal prediction sets measured
    on the patient-level CV (nested: each fold's sets calibrated on the other folds only) per score, by scanner
    maker and field strength, the risk-coverage curve, the shift tests (``shift``: group held out -> metrics on
    it, calibrated without it) and the score chosen by ``rule``."""

    KIND: ClassVar[str] = "conformal_evaluation"
    VERSION: ClassVar[int] = 1

    command: str
    method: str
    coverage: float
    scores: dict[str, SetMetrics]
    chosen_score: str
    rule: str
    by_manufacturer: dict[str, SetMetrics] = field(default_factory=dict)
    by_field_strength: dict[str, SetMetrics] = field(default_factory=dict)
    risk_coverage: list[RiskCoveragePoint] = field(default_factory=list)
    shift: dict[str, Any] = field(default_factory=dict)
    old_flag: dict[str, Any] = field(default_factory=dict)  # the in-sample "uncertain" threshold it replaces, nested
    # training variants (item: raise the single-grade share): name -> command, metrics and paired differences to the shipped model
    variants: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    n_discs: int = 0
    n_patients: int = 0
