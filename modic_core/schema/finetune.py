"""The fine-tune's documents: ``<version>/finetune.json`` (:mod:`modic_core.train.finetune`), the metrics it
registers with a model version, and ``weights/simulated_site.json`` (:mod:`modic_core.train.simulated_site`).

The scores are the shared metric records (:class:`~modic_core.schema.metrics.Estimate`,
:class:`~modic_core.schema.metrics.Mc0VsMc2Estimate`, :class:`~modic_core.schema.metrics.PairedDiff`); balanced
accuracies and sensitivities are shares in [0, 1] with 95 % study-bootstrap CIs.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from modic_core.schema.base import Document, Record
from modic_core.schema.metrics import Estimate, Mc0VsMc2Estimate, PairedDiff

__all__ = ["LevelCounts", "FinetuneData", "ModelScores", "NoScores", "LockedMetrics", "FinetuneBase", "FinetuneMetrics",
           "FinetuneRecord", "VersionMetrics", "SiteChoices", "OtherStudies", "SiteArm", "SimulatedSite"]

#: The fine-tune's fixed decision (:func:`modic_core.train.finetune.decide`).
Status = Literal["candidate", "rejected"]
#: :func:`modic_core.train.simulated_site.verdict` of a paired MC0-vs-MC2 difference.
Verdict = Literal["helped", "hurt", "no clear change", "not measurable"]


class LevelCounts(Record):
    """Levels of a set of stored studies (counted by :func:`modic_core.train.finetune.store_studies`): ``used`` for training or
    judging, the others left out by reason; ``studies``: studies with at least one used level."""

    used: int = 0
    disagreement: int = 0
    mc3: int = 0
    not_gradable: int = 0
    no_region: int = 0
    studies: int = 0


class FinetuneData(Record):
    """What a fine-tune trained on (the store's train part) and was judged on (its locked part); ``cohort_discs``:
    discs of the shipped training cohort mixed in (0 without ``--cohort``)."""

    train: LevelCounts
    locked: LevelCounts
    cohort_discs: int = 0


class ModelScores(Record):
    """One model on one set of levels: MC0-vs-MC2 and 3-class balanced accuracy, per-grade sensitivities (keyed
    "MC0", "MC1", "MC2"), ``n_levels`` levels of ``n_studies`` studies, the confusion matrix (rows true, columns
    predicted)."""

    mc0_vs_mc2: Mc0VsMc2Estimate
    balanced_accuracy: Estimate
    sensitivity: dict[str, Estimate]
    n_levels: int
    n_studies: int | None
    confusion_matrix: list[list[int]]


class NoScores(Record):
    """No scores (written ``{}``): the set of levels was too small to tell (see :attr:`LockedMetrics.reason`)."""


class LockedMetrics(Record):
    """Current (or base) vs new on the same levels (:class:`modic_core.train.finetune.LockedEvaluation`).

    ``enough`` False: ``reason`` says why, and ``current`` / ``new`` are ``{}`` (or absent) and ``paired`` empty.
    ``paired_new_minus_current``: the paired differences new - current keyed by metric
    ("mc0_vs_mc2_balanced_accuracy", "balanced_accuracy")."""

    enough: bool
    reason: str = ""
    n_levels: int
    n_studies: int
    current: ModelScores | NoScores | None = None
    new: ModelScores | NoScores | None = None
    paired_new_minus_current: dict[str, PairedDiff] | None = None


class FinetuneBase(Record):
    """The version a fine-tune started from: its name ("shipped" without an active version), weights folder and
    the sha256 of its classifier weights."""

    name: str
    weights_dir: str
    sha256: str


class FinetuneMetrics(Record):
    """The fine-tune's judgement: on the store's locked part."""

    locked: LockedMetrics


class FinetuneRecord(Document):
    """``<version folder>/finetune.json``: one fine-tune run (``modic-train finetune``) and its decision.

    ``run_key``: the hash of the run's arguments (a rerun resumes only the same run); ``lr``: the learning rate
    used (the recipe's x ``LR_FACTOR``); ``finished_at``: ISO 8601 UTC."""

    KIND: ClassVar[str] = "finetune_record"
    VERSION: ClassVar[int] = 1

    run_key: str
    name: str
    command: str
    method: str
    status: Status
    base: FinetuneBase
    data: FinetuneData
    epochs: int
    seed: int
    lr: float
    metrics: FinetuneMetrics
    rule: str
    not_carried: str
    cv_folds: str
    finished_at: str


class VersionMetrics(Record):
    """The metrics a fine-tune registers with its model version (``store.register_model(metrics=...)``): the
    locked-part judgement, the level counts and the base version's name."""

    locked: LockedMetrics
    data: FinetuneData
    base: str


class SiteChoices(Record):
    """The simulated site's choices, fixed before the run: the seeded draw of ``site_ids`` (fine-tuned on),
    ``other_ids`` (never trained on) and ``n_base_training`` studies (the base model), and the fine-tune's settings."""

    seed: int
    method: str
    n_site: int
    n_other: int
    n_base_training: int
    epochs: int
    lr_factor: float
    min_locked_levels: int
    eligible: str
    draw: str
    site_ids: list[str]
    other_ids: list[str]
    site_locked_studies: int
    decision_rule: str


class OtherStudies(Record):
    """Base vs fine-tuned on the other studies: ``base`` / ``new`` scores (``{}`` when too few levels) and
    ``paired_new_minus_base`` keyed by metric as :attr:`LockedMetrics.paired_new_minus_current`."""

    n_levels: int
    n_studies: int
    base: ModelScores | NoScores
    new: ModelScores | NoScores
    paired_new_minus_base: dict[str, PairedDiff] = Field(default_factory=dict)


class SiteArm(Record):
    """One fine-tuned version: its ``label`` (what it was fine-tuned on), the fine-tune's ``status`` and level
    counts, its judgement on the site's locked part and on the other studies, and the verdicts of both."""

    label: str
    status: Status
    data: FinetuneData
    locked: LockedMetrics
    other: OtherStudies
    verdict_other: Verdict
    verdict_locked: Verdict


class SimulatedSite(Document):
    """``weights/simulated_site.json`` (``python -m modic_core.train.simulated_site``): does fine-tuning on a site's
    reviewed studies help? One :class:`SiteArm` per fine-tuned version; ``minutes``: wall time so far;
    ``finished_at``: ISO 8601 UTC of the last arm written."""

    KIND: ClassVar[str] = "simulated_site"
    VERSION: ClassVar[int] = 1

    command: str
    choices: SiteChoices
    arms: list[SiteArm] = Field(default_factory=list)
    minutes: float = 0.0
    finished_at: str = ""
