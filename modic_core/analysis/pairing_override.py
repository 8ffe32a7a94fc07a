"""The user's choice to grade a T1/T2 pair whose identity checks differ ("grade anyway"), on the report.

A pair from two studies, two study dates or with differing patient age/sex
(:func:`modic_core.pairing.identity.identity_differences`) is graded only after one explicit click.
The report then records which checks differed (``StudyReport.pairing_override``, e.g. ``"study, age/sex"``)
and carries the sentence "Graded although T1 and T2 come from different studies (user's choice)." in
``warnings``, so every export that carries the warnings says so. The differing values themselves
(age, sex, dates) are never put on the report.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from modic_core.analysis.report import StudyReport
from modic_core.pairing.identity import OVERRIDE_CHECKS

__all__ = ["graded_anyway", "override_sentence"]


def override_sentence(differed: Sequence[str]) -> str:
    """"Graded although T1 and T2 come from different studies (user's choice)." for the codes ``differed``."""
    phrases = [OVERRIDE_CHECKS[code] for code in differed]
    if not phrases:
        return ""
    joined = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"Graded although T1 and T2 {joined} (user's choice)."


def graded_anyway(report: StudyReport, *, differed: Sequence[str]) -> StudyReport:
    """A copy of ``report`` recording that the user chose to grade despite the checks ``differed``
    (codes of :data:`~modic_core.pairing.identity.OVERRIDE_CHECKS`); ``report`` itself when none differed.

    Raises ValueError for an unknown code.
    """
    unknown = set(differed) - set(OVERRIDE_CHECKS)
    if unknown:
        raise ValueError(f"unknown identity checks {sorted(unknown)}; known: {list(OVERRIDE_CHECKS)}")
    differed = [code for code in OVERRIDE_CHECKS if code in differed]  # in the table's order
    if not differed:
        return report
    sentence = override_sentence(differed)
    warnings = [w for w in report.warnings if w != sentence] + [sentence]
    return dataclasses.replace(report, pairing_override=", ".join(differed), warnings=warnings)
