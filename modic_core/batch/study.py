"""One study of a batch, the same way in both engines: load, analyse, rows and status, failures recorded.

:func:`analyse_one` is what :mod:`modic_core.batch.local` (in process) and
:class:`modic_core.batch.actors.StudyAnalyzer` (Ray actors) call for each study; :func:`open_one`
loads a study (the Ray read stage and the local engine's chunk loading), :func:`analyse_together`
runs the detector and classifier over several loaded studies in one pass per stage, and
:func:`failure_status` turns any exception into the study's status row, logged once:

- :class:`~modic_core.InputError` -> status ``error``, its sentence with the study's file and
  folder names replaced by neutral labels (:func:`modic_core.batch.rows.redact`), logged as a warning;
- anything else -> status ``failed``, message ``"Class: message (at module:function:line)"`` (the
  innermost ``modic_core`` frame, patient data scrubbed, :func:`modic_core.logs.describe_exception`),
  logged as an error; with ``MODIC_DEBUG=1`` (:func:`modic_core.settings.debug`) the message cell
  and the log also hold the scrubbed traceback.

While a study is handled its file and folder names are given to :func:`modic_core.logs.sensitive`,
so no log record made meanwhile names them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from modic_core import settings
from modic_core.batch.rows import alignment_cell, level_rows, redact
from modic_core.datasets.cohort import CohortStudy
from modic_core.errors import InputError
from modic_core.export.fields import report_fields
from modic_core.logs import describe_exception, get_logger, sensitive

__all__ = ["StudyOutcome", "analyse_one", "analyse_together", "default_factory", "failure_status", "open_one"]

LOGGER = get_logger(__name__)


@dataclass
class StudyOutcome:
    """What one study gave: its status row (:data:`~modic_core.batch.sink.STATUS_COLUMNS` keys but
    ``seconds``), its per-level rows (empty on failure) and the analysis report (None on failure)."""

    status: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    report: Any | None = None

    @property
    def ok(self) -> bool:
        return self.status["status"] == "ok"


def _study_files(study: CohortStudy) -> list[Any]:
    return [study.t1_path, study.t2_path]


def failure_status(study: CohortStudy, exc: BaseException, *, stage: str = "analysis") -> dict[str, Any]:
    """The status row of a study that raised ``exc`` during ``stage`` (``read`` or ``analysis``), logged.

    See the module docstring for the ``error``/``failed`` split and what the message holds.
    """
    with sensitive(_study_files(study)):
        if isinstance(exc, InputError):
            message = redact(str(exc), study)
            LOGGER.warning("study %s: %s refused: %s", study.study_id, stage, message)
            return {"study_id": study.study_id, "status": "error", "n_levels": 0, "message": message}
        debug = settings.debug()
        message = redact(describe_exception(exc, debug=debug), study)
        LOGGER.error("study %s: %s failed: %s", study.study_id, stage, message.splitlines()[0],
                     exc_info=exc if debug else None)
        return {"study_id": study.study_id, "status": "failed", "n_levels": 0, "message": message}


def default_factory() -> Callable[[Any], Any]:
    """The analysis class a loaded study is given to: :class:`modic_core.analysis.analyze.StudyAnalysis`."""
    from modic_core.analysis.analyze import StudyAnalysis  # lazy: pulls in torch (seconds), not needed for --help or resume

    return StudyAnalysis


def open_one(study: CohortStudy, factory: Callable[[Any], Any] | None = None) -> Any:
    """``factory(study.load())`` (default :class:`modic_core.analysis.analyze.StudyAnalysis`), or
    the exception it raised, returned, not raised (:func:`analyse_one` records it)."""
    try:
        with sensitive(_study_files(study)):
            return (factory or default_factory())(study.load())
    except Exception as exc:  # noqa: BLE001 - recorded per study by analyse_one / failure_status
        return exc


def analyse_together(analyses: list[Any], normalization: str, *, gradcam: bool = False) -> None:
    """Detect and classify ``analyses`` in one network pass per stage
    (:func:`modic_core.analysis.analyze.analyze_many`); on failure the reason is logged (a traceback
    with ``MODIC_DEBUG``) and each study is then analysed alone by :func:`analyse_one`, which
    records its own failure."""
    if len(analyses) < 2:
        return
    from modic_core.analysis.analyze import analyze_many  # lazy: pulls in torch

    try:
        analyze_many(analyses, normalization, gradcam=gradcam)
    except Exception as exc:  # noqa: BLE001 - per study below
        debug = settings.debug()
        LOGGER.warning("batched analysis of %d studies failed (%s); analysing one study at a time",
                       len(analyses), describe_exception(exc), exc_info=exc if debug else None)


def analyse_one(study: CohortStudy, *, normalization: str, threshold: float, gradcam: bool = False,
                analysis: Any = None, factory: Callable[[Any], Any] | None = None) -> StudyOutcome:
    """Analyse one study and build its rows and status; never raises for a bad study.

    ``analysis``: what :func:`open_one` gave (an analysis, or the exception its loading raised);
    None loads the study here with ``factory`` (default :class:`~modic_core.analysis.analyze.StudyAnalysis`).
    The status holds ``study_id, status, n_levels, alignment, message`` and the report's fields
    (:func:`modic_core.export.fields.report_fields`); the caller adds ``seconds``.
    """
    with sensitive(_study_files(study)):
        if analysis is None:
            analysis = open_one(study, factory)
        try:
            if isinstance(analysis, BaseException):
                raise analysis
            report = analysis.report(normalization, threshold, gradcam=gradcam)
            rows = level_rows(study.study_id, report, normalization, threshold)
            status = {"study_id": study.study_id, "status": "ok", "n_levels": len(rows),
                      "alignment": alignment_cell(report), "message": " ".join(report.warnings),
                      **report_fields(report)}  # warnings, t1_t2_aligned, alignment_<key>
            return StudyOutcome(status=status, rows=rows, report=report)
        except Exception as exc:  # noqa: BLE001 - one bad study must not stop a cohort
            return StudyOutcome(status=failure_status(study, exc))
