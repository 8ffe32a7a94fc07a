"""A report's warnings and T1/T2 alignment record as flat fields, the same in every export.

The CSV (:func:`modic_core.export.documents.report_csv`), the PDF, the DICOM SR and the batch
status file all carry:

- ``warnings``: every sentence of ``report.warnings``, joined by :data:`WARNINGS_SEPARATOR`;
- ``t1_t2_aligned``: True only when the alignment check ran and passed (``alignment.ok`` and a
  method other than ``"not checked"``), False otherwise, empty without an alignment record;
- ``alignment_<key>``: every key of ``report.alignment.to_dict()`` (method, translation_mm,
  residual_mm, discs_matched, ok, ...), whatever keys the record has: new keys of
  :class:`modic_core.pairing.alignment.Alignment` travel without a change here. Lists are written
  as JSON (``[0.0, 12.5, 0.0]``), None as an empty cell.

The per-level files (CSV, batch CSV and Parquet) also carry each level's conformal prediction set,
``prediction_set``: its grades joined by ``"|"`` in MC0, MC1, MC2 order (``"MC2"``, ``"MC0|MC2"``; empty
when the level is not graded or the weights carry no conformal calibration; ``LevelResult.row``), and
``set_coverage`` (:func:`set_coverage`): the coverage the sets were made at, empty without sets.
"""
from __future__ import annotations

import json
from typing import Any

from modic_core.pairing.alignment import Alignment

__all__ = ["WARNINGS_SEPARATOR", "alignment_columns", "alignment_fields", "alignment_record", "report_fields",
           "set_coverage", "t1_t2_aligned"]

WARNINGS_SEPARATOR = " | "


def alignment_record(report) -> dict[str, Any] | None:
    """``report.alignment.to_dict()``, or None without an alignment record."""
    al = getattr(report, "alignment", None)
    return None if al is None else dict(al.to_dict())


def alignment_columns(record: dict[str, Any] | None = None) -> list[str]:
    """``alignment_<key>`` for every key of an alignment record: those of :class:`Alignment`, then any
    other key of ``record`` (a record written by another version)."""
    keys = list(Alignment(method="").to_dict())
    keys += [k for k in (record or {}) if k not in keys]
    return [f"alignment_{k}" for k in keys]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


def alignment_fields(record: dict[str, Any] | None) -> dict[str, Any]:
    """``{"alignment_<key>": value}`` for every column of :func:`alignment_columns` (empty cells without a record)."""
    record = record or {}
    return {col: _cell(record.get(col.removeprefix("alignment_"))) for col in alignment_columns(record)}


def t1_t2_aligned(report) -> bool | str:
    """True only when the alignment check ran and passed; False when it failed or was not run; "" without a record."""
    al = getattr(report, "alignment", None)
    if al is None:
        return ""
    return bool(getattr(al, "ok", False)) and getattr(al, "method", "") != "not checked"


def set_coverage(report) -> float | str:
    """The ``set_coverage`` cell: the report's prediction-set coverage (a share, e.g. 0.9), "" without sets."""
    cov = getattr(report, "coverage", None)
    return "" if cov is None else float(cov)


def report_fields(report) -> dict[str, Any]:
    """``warnings``, ``t1_t2_aligned`` and the ``alignment_<key>`` columns of one report."""
    return {
        "warnings": WARNINGS_SEPARATOR.join(str(w) for w in (getattr(report, "warnings", None) or [])),
        "t1_t2_aligned": t1_t2_aligned(report),
        **alignment_fields(alignment_record(report)),
    }
