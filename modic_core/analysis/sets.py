"""Prediction sets of a report's levels: computed from the conformal p-values, re-derived at another coverage.

:func:`level_p_values` turns the calibrated probabilities of the graded levels into conformal p-values
(:func:`modic_core.classification.conformal.p_values`; once per study and method, cached with the
probabilities). :func:`with_coverage` re-derives every level's ``prediction_set`` and ``uncertain`` from
those stored p-values at another coverage, without running any model: the viewer's "Prediction-set
coverage" control uses it. A set is the grades whose p-value exceeds ``1 - coverage``
(:func:`~modic_core.classification.conformal.prediction_sets`); a level is uncertain when its set holds
more than one grade. Coverage is a share in [``settings.MIN_COVERAGE``, ``settings.MAX_COVERAGE``].
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from modic_core import settings
from modic_core.analysis.report import CLASS_NAMES, LevelResult, StudyReport
from modic_core.classification.conformal import ConformalCalibration, is_uncertain_set, p_values, prediction_sets
from modic_core.volume import field_strength_group, scanner_group

__all__ = ["NO_SETS_NOTE", "coverage_label", "is_set_note", "level_p_values", "level_set", "scope_note", "set_notes", "uncertain_note",
           "with_coverage"]

#: The report's note when the classifier weights carry no conformal calibration (no level gets a set).
NO_SETS_NOTE = "No prediction sets: these classifier weights carry no conformal calibration (model card)."
_UNCERTAIN_MARK = " % prediction set: read "


def level_p_values(probs: np.ndarray, calibration: ConformalCalibration | None) -> np.ndarray | None:
    """Conformal p-values (N, 3) of the probabilities ``probs`` (N, 3; columns :data:`CLASS_NAMES`), with
    columns in :data:`CLASS_NAMES` order; NaN rows where a probability is not finite; None without a
    calibration. The calibration's grades must be :data:`CLASS_NAMES` in any order."""
    if calibration is None:
        return None
    if sorted(calibration.classes) != sorted(CLASS_NAMES):
        raise ValueError(f"the conformal calibration's grades {calibration.classes} are not {CLASS_NAMES}")
    p = np.asarray(probs, dtype=np.float64).reshape(-1, len(CLASS_NAMES))
    order = [CLASS_NAMES.index(c) for c in calibration.classes]
    pv = p_values(p[:, order], calibration)
    out = np.full(p.shape, np.nan)
    out[:, order] = pv
    return out


def level_set(level_p: Mapping[str, float], coverage: float, *, grade: str | None = None) -> tuple[str, ...]:
    """The prediction set of one level from its p-values ``{grade: p}`` at ``coverage``, always holding the
    model's own ``grade`` (:func:`~modic_core.classification.conformal.prediction_sets`), in :data:`CLASS_NAMES`
    order; ``()`` when it has no p-values (not graded, or no calibration)."""
    grades = [c for c in CLASS_NAMES if c in level_p]
    if not grades:
        return ()
    top = [grades.index(grade)] if grade in grades else None
    return prediction_sets(np.array([[float(level_p[c]) for c in grades]]), grades, coverage, top=top)[0]


def coverage_label(coverage: float) -> str:
    """A coverage as people read it: ``0.9`` -> ``"90 %"``, ``0.975`` -> ``"97.5 %"`` (a no-break space before
    the sign, so text wrapping never separates them)."""
    return f"{100 * float(coverage):.3g}\u00a0%"


def uncertain_note(n: int, coverage: float) -> str:
    """``"<n> levels have more than one grade in their <90> % prediction set: read them yourself."``
    (``"1 level has ... in its ...: read it yourself."``)."""
    one = n == 1
    return (f"{n} level{' has' if one else 's have'} more than one grade in {'its' if one else 'their'} "
            f"{100 * float(coverage):.3g}{_UNCERTAIN_MARK}{'it' if one else 'them'} yourself.")


def is_set_note(note: str) -> bool:
    """Whether a report note is one of :func:`set_notes`' (replaced when the coverage changes)."""
    return note == NO_SETS_NOTE or (_UNCERTAIN_MARK in note and "more than one grade in" in note)


def scope_note(calibration: ConformalCalibration | None, meta) -> str:
    """A sentence when the series (``meta``: a :class:`~modic_core.volume.VolumeMeta`) comes from a scanner maker or
    field strength that the sets' calibration did not include ("" when it did, or when the header does not say)."""
    if calibration is None:
        return ""
    maker = scanner_group(getattr(meta, "manufacturer", "") or "")
    field_t = field_strength_group(getattr(meta, "field_strength_t", None))
    outside = []
    if calibration.makers and maker != "unknown" and maker not in calibration.makers:
        outside.append(f"scanner maker {maker} (calibrated on {', '.join(calibration.makers)})")
    if calibration.field_strengths and field_t != "unknown" and field_t not in calibration.field_strengths:
        outside.append(f"field strength {field_t} (calibrated on {', '.join(calibration.field_strengths)})")
    if not outside:
        return ""
    return ("Prediction sets: this series comes from a " + " and a ".join(outside) + " outside their calibration, where "
            "their coverage is not measured; on a scanner group left out of training it fell well below the target "
            "(model card, shift tests): read every level yourself.")


def set_notes(levels: Sequence[LevelResult], coverage: float | None) -> list[str]:
    """The report's notes about prediction sets: :data:`NO_SETS_NOTE` when a level is graded but
    ``coverage`` is None (no calibration), :func:`uncertain_note` when a level is uncertain, else none."""
    if coverage is None:
        return [NO_SETS_NOTE] if any(lv.graded for lv in levels) else []
    n = sum(bool(lv.uncertain) for lv in levels)
    return [uncertain_note(n, coverage)] if n else []


def with_coverage(report: StudyReport, coverage: float) -> StudyReport:
    """A copy of ``report`` whose levels' ``prediction_set`` and ``uncertain`` (and the set notes) are
    re-derived from their stored ``p_values`` at ``coverage``; no model runs. A report without sets
    (``report.coverage`` None: no conformal calibration) is returned as it is. InputError for a
    coverage outside the allowed range (:func:`modic_core.settings.check_coverage`)."""
    coverage = settings.check_coverage(coverage)
    if report.coverage is None:
        return report
    levels = []
    for lv in report.levels:
        s = level_set(lv.p_values, coverage, grade=lv.prediction) if lv.graded else ()
        levels.append(dataclasses.replace(lv, prediction_set=s, uncertain=is_uncertain_set(s)))
    notes = [n for n in report.notes if not is_set_note(n)] + set_notes(levels, coverage)
    return dataclasses.replace(report, levels=levels, notes=notes, coverage=coverage)
