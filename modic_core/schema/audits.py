"""Evaluations and audits of the trained models (``weights/*.json`` beside the cards): the normalization
comparison, robustness, Grad-CAM, grading experiments, learning curve, conformal sets, pairing, naming and
detector-transfer audits."""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from modic_core.schema.base import Document, Record, null_if_set
from modic_core.schema.cards import CalibrationRecord, ClassifierTrainingConfig, DetectorTrainingConfig
from modic_core.schema.metrics import ClassificationReport, Estimate, PairedDiff, SetMetrics

__all__ = ["MethodComparison", "NormalizationComparison", "RobustnessRow", "RobustnessCheck", "CamShareRow", "CamScale", "GradcamAudit", "VariantScore", "GradingExperiments", "CurvePoint", "LearningCurve", "RiskCoveragePoint", "ConformalEvaluation", "PairingAudit", "NamingAudit", "DetectorTransfer"]


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
    weights: dict[str, str] = Field(default_factory=dict)  # method -> classifier sha256
    dicom_t1: dict[str, Any] | None = None


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


class CamScale(Record):
    """Fixed heat-map scale of one classifier: variant -> raw map value shown as 1 (the ``quantile`` of the
    per-disc peak of the raw maps over the audited discs); only valid for the weights with this sha256."""

    sha256: str
    quantile: float
    n_discs: int
    values: dict[str, float]


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
    notes: list[str] = Field(default_factory=list)

    def row(self, method: str, variant: str, group: str) -> CamShareRow | None:
        return next((r for r in self.rows if (r.method, r.variant, r.group) == (method, variant, group)), None)


class VariantScore(Record):
    """One grading variant's cross-validated scores (:func:`modic_core.train.variant_scores.score_variants`):
    MC0-vs-MC2 balanced accuracy with its patient-bootstrap CI, the share of MC0/MC2 discs called MC1, the ECE
    before temperature scaling and, except for the reference ``single``, the paired difference to it."""

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    mc0_vs_mc2_balanced_accuracy: float | None
    ci_low: float | None = null_if_set()
    ci_high: float | None = null_if_set()
    mc0_mc2_called_mc1: float | None = None
    ece_uncalibrated: float | None = None
    diff_to_single: float | None = null_if_set()
    diff_ci_low: float | None = null_if_set()
    diff_ci_high: float | None = null_if_set()


class GradingExperiments(Document):
    """``weights/grading_experiments.json`` (``python -m modic_core.train.experiments``): flip test-time
    augmentation, a seed ensemble and multi-task auxiliary heads against the single model, on the
    comparison's patient-level CV.

    ``results``: variant -> :class:`VariantScore`; ``adopted``: variants that pass ``rule``.
    """

    KIND: ClassVar[str] = "grading_experiments"
    VERSION: ClassVar[int] = 1

    command: str
    method: str
    seeds: int
    n_discs: int
    n_patients: int
    results: dict[str, VariantScore]
    adopted: list[str]
    rule: str
    not_tried: list[str] = Field(default_factory=list)
    minutes: float = 0.0
    # weight of the auxiliary-grading loss of the ``multitask`` variants (None: not run)
    aux_weight: float | None = None
    # later runs (``--merge``) whose variants were written in; each reproduced the stored ``single`` exactly
    merged_commands: list[str] = Field(default_factory=list)


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
    ba_by_draw: list[float] = Field(default_factory=list)


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
    slope_by_draw: list[float] = Field(default_factory=list)
    full_vs_half_by_draw: list[float] = Field(default_factory=list)


class RiskCoveragePoint(Record):
    """One target coverage: what it achieved, and the share and accuracy of single-grade sets."""

    target: float
    coverage: float
    singleton_share: float
    singleton_accuracy: float | None
    mean_size: float


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
    by_manufacturer: dict[str, SetMetrics] = Field(default_factory=dict)
    by_field_strength: dict[str, SetMetrics] = Field(default_factory=dict)
    risk_coverage: list[RiskCoveragePoint] = Field(default_factory=list)
    shift: dict[str, Any] = Field(default_factory=dict)
    old_flag: dict[str, Any] = Field(default_factory=dict)  # the in-sample "uncertain" threshold it replaces, nested
    # training variants (item: raise the single-grade share): name -> command, metrics and paired differences to the shipped model
    variants: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    n_discs: int = 0
    n_patients: int = 0


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
    studies: list[dict[str, Any]] = Field(default_factory=list)
    wrong_pairs: dict[str, Any] = Field(default_factory=dict)
    content_scores: dict[str, Any] = Field(default_factory=dict)


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
    held_out_studies: list[str] = Field(default_factory=list)


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
