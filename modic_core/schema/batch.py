"""Documents of the batch mode: a labelled cohort's metrics and a run's progress file."""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from modic_core.schema.base import Document
from modic_core.schema.metrics import ClassificationReport, DetectionReport, SetMetrics

__all__ = ["CohortSetMetrics", "CohortMetrics", "BatchProgress"]


class CohortSetMetrics(SetMetrics):
    """The predictions' conformal sets against a cohort's labels (``prediction_set`` cells of the batch output):
    :class:`SetMetrics` plus ``target_coverage`` (the coverages the sets were made at) and ``n_levels_with_sets``."""

    target_coverage: list[float]
    n_levels_with_sets: int


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
    prediction_sets: CohortSetMetrics | None = None  # the predictions' conformal sets against the labels


class BatchProgress(Document):
    """``<out>.progress.json`` of a batch run (:mod:`modic_core.batch.sink`): studies done, failed and
    left, and each failure reason (a redacted message or an exception type) with its count."""

    KIND: ClassVar[str] = "batch_progress"
    VERSION: ClassVar[int] = 1

    engine: str
    state: Literal["running", "finished", "stalled", "failed"]
    updated: str
    studies_total: int
    done_before: int
    done_ok: int
    failed: int
    left: int
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    plan: str | None = None  # Ray: the actors and read tasks asked for
    worker_peak_mb: dict[str, float] | None = None  # Ray: peak resident memory of each analysis actor process
    read_peak_mb: float | None = None  # Ray: the largest peak of a read-task worker process
