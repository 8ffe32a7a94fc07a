"""Metric parts shared by the cards, reports and audits: estimates with CIs, classification and detection reports.

They mirror what :mod:`modic_core.evaluation.metrics` produces (its public functions return these models).
"""
from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from modic_core.schema.base import Record, null_if_set, nullable

__all__ = ["Estimate", "Mc0VsMc2Estimate", "BootstrapSettings", "ClassStats", "SyntheticMC1", "ClassificationReport", "PairedDiff", "GtMatch", "DetectionReport",
           "DetectionCV", "SetMetrics", "Agreement"]


class Estimate(Record):
    """A score with its bootstrap CI; ``display`` is the text to show (with the "too few cases" wording).

    ``n``: the cases behind it and ``too_few`` whether they are fewer than the minimum (sensitivities);
    ``n_boot_valid``: resamples in which the score was defined, when fewer than those drawn.
    """

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    value: float | None
    ci_low: float | None = nullable()
    ci_high: float | None = nullable()
    display: str | None = nullable()
    n: int | None = None
    too_few: bool | None = None
    n_boot_valid: int | None = None


class Mc0VsMc2Estimate(Estimate):
    """The MC0-vs-MC2 balanced accuracy (:func:`modic_core.evaluation.metrics.mc0_vs_mc2_balanced_accuracy`):
    ``n_mc0`` / ``n_mc2`` true discs of each grade, ``source`` "probabilities" (argmax of p_MC0, p_MC2) or
    "labels" (hard labels: an MC1 prediction counts as wrong)."""

    n_mc0: int | None = None
    n_mc2: int | None = None
    source: Literal["probabilities", "labels"] | None = None


class BootstrapSettings(Record):
    """How a report's CIs were made: percentile bootstrap over ``unit`` ("patient" or "image")."""

    unit: str
    n_boot: int
    seed: int
    level: float
    method: str = "percentile"


class ClassStats(Record):
    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    n_true: int
    n_pred: int
    sensitivity: Estimate
    specificity: Estimate | None = None
    precision: Estimate | None = None
    f1: Estimate | None = None


class SyntheticMC1(Record):
    """Sensitivity on held-out MC0 crops with a synthetic MC1 lesion painted in (train/classifier.py)."""

    what: str
    n: int
    sensitivity: float
    predicted_as: dict[str, int]


class ClassificationReport(Record):
    """:func:`modic_core.evaluation.metrics.classification_report` (plus the training extras)."""

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

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
    mc0_vs_mc2: Mc0VsMc2Estimate | None = None
    notes: list[str] | None = None
    confusion_matrix_axes: str | None = None
    bootstrap: BootstrapSettings | None = None
    by_box_source: dict[str, ClassificationReport] | None = None
    synthetic_mc1: SyntheticMC1 | None = None

    def sensitivity(self, cls_name: str) -> Estimate | None:
        pc = self.per_class.get(cls_name)
        return pc.sensitivity if pc else None


class PairedDiff(Record):
    """:func:`modic_core.evaluation.metrics.paired_bootstrap`: method minus reference, patient bootstrap."""

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    metric: str
    value_a: float | None
    value_b: float | None
    diff: float | None
    mean_diff: float | None = nullable()
    ci_low: float | None = nullable()
    ci_high: float | None = nullable()
    frac_diff_le_0: float | None = null_if_set()  # share of resamples with A <= B
    p_two_sided: float | None = null_if_set()  # 2 * min(share <= 0, share >= 0), at most 1
    n_boot: int | None = None
    n_boot_valid: int | None = None
    seed: int | None = None
    unit: str | None = None


class GtMatch(Record):
    """One ground-truth box of a detection report: its IoU with the matched prediction (0: none) and that
    prediction's level name (None: unmatched)."""

    image_id: str
    level: str
    iou: float
    matched_level: str | None = nullable()


class DetectionReport(Record):
    """:func:`modic_core.evaluation.metrics.detection_report` (``recall`` keyed by IoU, e.g. "0.5")."""

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    n_images: int
    n_gt: int
    n_pred: int
    mean_iou: Estimate | None
    recall: dict[str, Estimate]
    fp_per_image: Estimate | None
    level_accuracy: Estimate | None
    n_pred_ignored: int | None = None  # predictions on images without a ground-truth box
    matching: str | None = None
    median_iou: float | None = null_if_set()
    share_gt_iou_ge_07: Estimate | None = null_if_set(alias="share_gt_iou_ge_0.7")  # recall at IoU 0.7
    fp_iou: float | None = None
    bootstrap: BootstrapSettings | None = None
    per_gt: list[GtMatch] | None = None  # one per ground-truth box (not kept in the cards)


class DetectionCV(Record):
    """The detector's cross-validation (train/detection_cv.py): one report per sequence and threshold."""

    default_threshold: float
    by_sequence: dict[str, dict[str, DetectionReport]]
    false_positive_locations_at_default_threshold: dict[str, int] | None = None

    def at_default(self) -> dict[str, DetectionReport]:
        """{sequence: report at the default threshold}."""
        key = f"{self.default_threshold:g}"
        return {seq: by_t[key] for seq, by_t in self.by_sequence.items() if key in by_t}


class SetMetrics(Record):
    """How prediction sets did on real MC0/MC2 discs (MC1: too few real discs, reported as counts).

    ``coverage``: share whose true grade is in the set; ``singleton_share``: share with one grade;
    ``singleton_accuracy``: share of those whose one grade is right; ``mc1_in_set``: share with MC1 in
    the set; ``mean_size``: mean number of grades. Patient-bootstrap 95 % CIs."""

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    n: int
    coverage: Estimate
    singleton_share: Estimate
    singleton_accuracy: Estimate
    mc1_in_set: Estimate
    mean_size: float
    coverage_by_grade: dict[str, Estimate] = Field(default_factory=dict)
    n_real_mc1: int = 0
    real_mc1_covered: int = 0
    synthetic_mc1_coverage: float | None = None


class Agreement(Record):
    """:func:`modic_core.evaluation.agreement.cohen_kappa`: unweighted Cohen's kappa of two raters' grades of
    the same levels with a study-level (cluster) percentile bootstrap CI (``lo``, ``hi`` at ``level``).

    ``kappa`` None (with ``reason``) when undefined: fewer than 2 levels, or one category only. ``categories``:
    the grades kappa was computed over; ``n_levels`` levels in ``n_studies`` studies; ``excluded``: levels
    left out before the computation, counted by why (e.g. ``{"not_gradable": 2}``).
    """

    kappa: float | None
    lo: float | None = nullable()
    hi: float | None = nullable()
    n_levels: int
    n_studies: int
    n_boot: int
    seed: int = 0
    level: float = 0.95
    categories: list[str] = Field(default_factory=list)
    reason: str | None = None
    excluded: dict[str, int] = Field(default_factory=dict)
