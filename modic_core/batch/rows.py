"""Per-study rows that both batch engines write: level rows, the alignment cell, redacted messages.

One home for the row and status helpers of :mod:`modic_core.batch.local` (the in-process engine),
:mod:`modic_core.batch.actors` (the Ray stages) and :mod:`modic_core.bench.batch_scaling`, so that
the two engines write the same cells.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from modic_core.batch.sink import PRED_COLUMNS
from modic_core.datasets.cohort import CohortStudy
from modic_core.export.fields import set_coverage

__all__ = ["alignment_cell", "level_rows", "redact"]


def level_rows(study_id: str, report, normalization: str, threshold: float) -> list[dict[str, Any]]:
    """One predictions row per level of ``report`` (an analysis report with ``.levels``).

    Each row holds ``study_id``, the :data:`~modic_core.batch.sink.PRED_COLUMNS` that the level's
    ``row(digits=5)`` provides (probabilities rounded to 5 digits, boxes in T1 pixels), the
    ``normalization`` name, ``threshold`` (as a float) and the report's prediction-set coverage.
    A report with no level gives an empty list.
    """
    rows = []
    for lv in report.levels:
        r = lv.row(digits=5)
        rows.append({"study_id": study_id, **{k: r[k] for k in PRED_COLUMNS if k in r},
                     "normalization": normalization, "threshold": float(threshold), "set_coverage": set_coverage(report)})
    return rows


def alignment_cell(report) -> str:
    """Status-file cell of the T1/T2 alignment check: ``ok``, ``ok (moved N mm)``, ``FAILED`` or empty.

    Empty when the report has no alignment check; ``N`` is the in-plane translation in mm, rounded,
    shown only when the check had to register the series (method other than ``header``).
    """
    al = getattr(report, "alignment", None)
    if al is None:
        return ""
    if not al.ok:
        return "FAILED"
    moved = math.hypot(*al.translation_mm)
    return "ok" if al.method == "header" else f"ok (moved {moved:.0f} mm)"


def redact(message: str, study: CohortStudy) -> str:
    """``message`` with the study's file and folder names replaced by neutral labels.

    Error messages name the file they could not read; in practice file names carry patient
    names and record numbers (``DOE_JOHN_MRN4471_t1.mha``), so none goes into the status file.
    Full paths, base names and parent folders of T1 and T2 become ``[T1 file]``, ``[T2 file]`` and
    ``[folder]``; for a DICOM folder, the names of up to 5000 files in it too. Names of up to 3
    digits are left alone (they would also match counts in the sentence).
    """
    names: dict[str, str] = {}
    for role, path in (("T1", study.t1_path), ("T2", study.t2_path)):
        path = Path(path)
        names.setdefault(str(path), f"[{role} file]")
        names.setdefault(path.name, f"[{role} file]")
        names.setdefault(str(path.parent), "[folder]")
        names.setdefault(path.parent.name, "[folder]")
        if path.is_dir():  # a DICOM folder: errors may name the files in it
            for k, sub in enumerate(path.rglob("*")):
                if k >= 5000:
                    break
                names.setdefault(sub.name, f"[{role} file]")
    for name in sorted((n for n in names if n and n not in (".", "/")), key=len, reverse=True):
        if name.isdigit() and len(name) < 4:
            continue  # "4" would also match counts in the sentence; such a name identifies nobody
        message = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.\w)", names[name], message)
    return message
