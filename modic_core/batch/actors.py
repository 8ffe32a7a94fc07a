"""The two stages of the Ray pipeline, as plain Python (importable and testable without Ray).

- :func:`read_studies`: a batch of ``study_id, t1, t2`` rows -> the same rows with the paired
  study pickled (``payload``), or ``status`` ``error``/``failed`` and a redacted message when it
  cannot be read (a bad study becomes a row, never a crash). Runs as Ray tasks (CPU).
- :class:`StudyAnalyzer`: loads the detector and the classifier once (in ``__init__``, i.e. once
  per actor, on the GPU when the actor has one), then detects and classifies the studies of each
  batch together (:func:`modic_core.analysis.analyze.analyze_many`) and returns one row per study:
  the status columns of :data:`modic_core.batch.sink.STATUS_COLUMNS`, the per-level rows as JSON
  (``levels_json``), and the per-study seconds of each stage (``read_s``, ``detect_s``,
  ``classify_s``) and the worker's peak memory (``peak_mb``).

Batches are pandas DataFrames (Ray Data ``batch_format="pandas"``).
"""
from __future__ import annotations

import json
import os
import pickle
import resource
import time
from pathlib import Path
from typing import Any

import pandas as pd

from modic_core import settings
from modic_core.batch.sink import STATUS_COLUMNS
from modic_core.batch.pacs_source import ITEM_PREFIX, PacsStudy
from modic_core.batch.study import analyse_one, analyse_together, failure_status
from modic_core.logs import configure_logging
from modic_core.datasets.cohort import CohortStudy

__all__ = ["ANALYZED_COLUMNS", "READ_COLUMNS", "StudyAnalyzer", "peak_mb", "read_studies", "row_to_outputs"]

READ_COLUMNS = ["study_id", "t1", "t2", "status", "message", "payload", "read_s", "read_peak_mb"]
ANALYZED_COLUMNS = ["study_id", "status", "n_levels", "seconds", "alignment", "message", "levels_json",
                    "read_s", "detect_s", "classify_s", "peak_mb", "read_peak_mb", "worker",
                    *(c for c in STATUS_COLUMNS if c not in ("study_id", "status", "n_levels", "seconds", "alignment", "message"))]


def peak_mb() -> float:
    """Peak resident memory of this process (MiB; Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _configure_worker_logging() -> None:
    """A Ray worker logs as the CLI does (stderr, into Ray's worker log; tracebacks with ``MODIC_DEBUG``), once."""
    global _LOGGING_SET
    if not _LOGGING_SET:
        configure_logging(debug=settings.debug())
        _LOGGING_SET = True


_LOGGING_SET = False


def _cohort_study(study_id: str, t1: str, t2: str):
    if str(t1).startswith(ITEM_PREFIX):  # a PACS study: retrieved by this read task
        return PacsStudy.from_item(study_id, t1, t2)
    return CohortStudy(str(study_id), Path(t1), Path(t2))


def read_studies(batch):
    """Read and pair each study of the batch (T2 resampled onto T1); failures become rows."""
    _configure_worker_logging()
    out = []
    for r in batch.to_dict("records"):
        cs = _cohort_study(r["study_id"], r["t1"], r["t2"])
        t0 = time.perf_counter()
        payload, status, message = b"", "read", ""
        try:
            payload = pickle.dumps(cs.load(), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - one bad study must not stop a cohort
            failed = failure_status(cs, exc, stage="read")
            status, message = failed["status"], failed["message"]
        out.append({"study_id": cs.study_id, "t1": r["t1"], "t2": r["t2"], "status": status, "message": message,
                    "payload": payload, "read_s": time.perf_counter() - t0, "read_peak_mb": peak_mb()})
    return pd.DataFrame(out, columns=READ_COLUMNS)


class StudyAnalyzer:
    """Ray Data actor: models loaded once, then batches of read studies -> one result row per study.

    ``torch_threads``: threads of this actor's torch (its CPU share). Each study goes through
    :func:`modic_core.batch.study.analyse_one`, as in the local engine (same rows, same status and
    failure messages, same logging). Tests that need a dying or stuck actor subclass this class
    and pass the subclass to :func:`modic_core.batch.ray_engine.run_ray` (``analyzer=``).
    """

    def __init__(self, *, normalization: str, threshold: float, torch_threads: int = 1, batched: bool = True) -> None:
        import torch  # lazy: Ray imports this module on the driver too, where torch is not needed

        # lazy: modic_core.classification, modic_core.detection pull in torch; only the model path needs it
        from modic_core.classification import load_classifier
        from modic_core.detection import load_detector

        _configure_worker_logging()
        torch.set_num_threads(max(1, int(torch_threads)))
        self.normalization, self.threshold, self.batched = normalization, float(threshold), batched
        self.detector = load_detector()
        load_classifier(normalization)  # cached per process: loaded once per actor

    def analyse(self, cs, analysis: Any):
        """One study's :class:`~modic_core.batch.study.StudyOutcome` (the hook a test subclass overrides)."""
        return analyse_one(cs, normalization=self.normalization, threshold=self.threshold, gradcam=False, analysis=analysis)

    def __call__(self, batch):
        from modic_core.analysis.analyze import StudyAnalysis  # lazy: pulls in torch (see __init__)

        records = batch.to_dict("records")
        analyses: dict[int, Any] = {}
        for i, r in enumerate(records):
            if r["status"] == "read":
                analyses[i] = StudyAnalysis(pickle.loads(r["payload"]), detector=self.detector)
        shared = 0.0
        if self.batched and len(analyses) > 1:
            t0 = time.perf_counter()
            analyse_together(list(analyses.values()), self.normalization, gradcam=False)
            shared = (time.perf_counter() - t0) / len(analyses)
        out = []
        for i, r in enumerate(records):
            cs = _cohort_study(r["study_id"], r["t1"], r["t2"])
            row = {**dict.fromkeys(ANALYZED_COLUMNS, ""),
                   "study_id": cs.study_id, "n_levels": 0, "alignment": "", "levels_json": "[]", "read_s": float(r["read_s"]),
                   "detect_s": 0.0, "classify_s": 0.0, "read_peak_mb": float(r["read_peak_mb"]), "worker": str(os.getpid())}
            t0 = time.perf_counter()
            if r["status"] != "read":
                row.update(status=r["status"], message=r["message"])
            else:
                outcome = self.analyse(cs, analyses[i])
                row.update({k: "" if v is None else str(v) for k, v in outcome.status.items()
                            if k not in ("study_id", "status", "n_levels", "alignment", "message")})  # text: one Arrow type
                row.update(status=outcome.status["status"], n_levels=int(outcome.status["n_levels"]),
                           alignment=outcome.status.get("alignment", ""), message=outcome.status["message"],
                           levels_json=json.dumps(outcome.rows))
                if outcome.report is not None:
                    t = outcome.report.timings
                    row.update(detect_s=float(t.get("detection_s", 0.0) + t.get("alignment_s", 0.0)),
                               classify_s=float(sum(t.get(k, 0.0) for k in ("normalization_s", "crops_s", "classifier_s", "report_s"))))
            row["seconds"] = round(float(r["read_s"]) + shared + time.perf_counter() - t0, 3)
            row["peak_mb"] = peak_mb()
            out.append(row)
        return pd.DataFrame(out, columns=ANALYZED_COLUMNS)


def row_to_outputs(row: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An analysed row -> (status row, per-level rows) as the sinks take them."""
    status = {k: row.get(k, "") for k in STATUS_COLUMNS}
    status["n_levels"] = int(status["n_levels"])
    status["seconds"] = float(status["seconds"])
    return status, json.loads(row["levels_json"])
