"""The model cards beside the weights (``weights/*.json``) and the training configurations they record.

The training hyperparameters (:class:`ClassifierTrainingConfig`, :class:`DetectorTrainingConfig`) are saved
in each card's ``config`` and are the training CLIs' defaults.
"""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field, field_validator
from pydantic_core import to_jsonable_python

from modic_core.schema.base import Document, Record
from modic_core.schema.metrics import ClassificationReport, DetectionCV, Estimate

__all__ = ["ClassifierTrainingConfig", "DetectorTrainingConfig", "ClassifierData", "DetectorData", "ReliabilityBin", "UncertaintySummary", "CalibrationRecord", "ConformalRecord", "ClassifierCard", "DetectorCard", "NyulLandmarks"]


def _plain_json(value: Any) -> Any:
    """A free-form config dict as it reads back from JSON (tuples as lists)."""
    return to_jsonable_python(value)


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
    crop: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)

    _as_json = field_validator("crop", "model")(_plain_json)


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
    model: dict[str, Any] = Field(default_factory=dict)

    _as_json = field_validator("model")(_plain_json)


class ClassifierData(Record):
    cohort: str
    n_studies: int
    n_discs: int
    box_source_counts: dict[str, int]
    excluded: list[dict[str, Any]]


class DetectorData(Record):
    cohort: str
    n_studies: int
    images: str
    study_ids: list[str]


class ReliabilityBin(Record):
    """One bin of a reliability diagram: top-label confidence in [lower, upper), its discs' mean
    confidence and accuracy (None for an empty bin)."""

    lower: float
    upper: float
    n: int
    confidence: float | None = None
    accuracy: float | None = None


class UncertaintySummary(Record):
    """The "uncertain" flag on out-of-fold predictions: share of levels flagged, and how the rest score."""

    threshold: float | None
    rate: Estimate | None = None  # share of levels flagged uncertain
    accuracy_rest: Estimate | None = None  # top-label accuracy of the levels not flagged
    mc0_vs_mc2_rest: Estimate | None = None  # MC0-vs-MC2 balanced accuracy of the levels not flagged
    n_levels: int = 0
    n_flagged: int = 0


class CalibrationRecord(Record):
    """Temperature scaling and the uncertainty threshold of one classifier, fitted on out-of-fold CV
    predictions (:mod:`modic_core.evaluation.calibration`). ``ece_*``: expected calibration error,
    ``n_bins`` equal-width bins of the top-label confidence. ``ece_after`` and ``reliability_after``
    are nested (each fold calibrated with a temperature fitted on the other folds only), so they are
    not fitted on themselves; ``temperature`` and ``uncertain_below`` are the values fitted on all
    folds and shipped."""

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    temperature: float
    uncertain_below: float | None
    threshold_rule: str
    fitted_on: str
    n_bins: int = 15
    ece_before: float | None = None
    ece_after: float | None = None
    reliability_before: list[ReliabilityBin] = Field(default_factory=list)
    reliability_after: list[ReliabilityBin] = Field(default_factory=list)
    fold_temperatures: list[float] = Field(default_factory=list)
    uncertainty: UncertaintySummary | None = None  # nested: threshold chosen on the other folds
    ensemble_agreement: str | None = None  # how member agreement enters the flag (None: single model)


class ConformalRecord(Record):
    """Conformal prediction sets of one classifier (:mod:`modic_core.classification.conformal`): the score,
    the grade names and, per grade, the calibration scores (out-of-fold, on the probabilities inference
    produces: temperature-scaled). MC1 is calibrated on held-out synthetic MC1 lesions plus the few real
    MC1 discs (``n_synthetic_mc1`` of them synthetic). ``coverage``: the default coverage."""

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

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
    quantiles: dict[str, float | None] = Field(default_factory=dict)  # None: too few scores, the grade is always in
    makers: list[str] = Field(default_factory=list)  # scanner makers of the calibration discs
    field_strengths: list[str] = Field(default_factory=list)  # and their field strengths


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


class NyulLandmarks(Document):
    """``weights/nyul_landmarks.json``; ``format`` is what normalization.methods.load_landmarks checks."""

    KIND: ClassVar[str] = "nyul_landmarks"
    VERSION: ClassVar[int] = 1

    format: str
    method: str
    percentiles: list[float]
    standard_range: list[float]
    landmarks: dict[str, list[float]]
    info: dict[str, Any] | None = Field(default=None, alias="extra")  # JSON key "extra"
