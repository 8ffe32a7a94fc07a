"""What a call means, as the exports carry it: a short table cell and the full sentence, per level.

The figures come from the method's own cross-validation (:mod:`modic_core.evaluation.call_meaning`, which
the export layer does not import): the caller (the dashboard) looks each call up and hands the texts in as
``{level name: CallText}``. A level without an entry (not graded, or no table was given, e.g. the command
line) gets empty cells.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

__all__ = ["CALL_COLUMN", "CallText", "call_cell"]

#: The per-level CSV's column holding the full sentence.
CALL_COLUMN = "call_meaning"


@dataclass(frozen=True)
class CallText:
    """``short``: a table cell ("About 5 in 10 right (CV)"); ``sentence``: the plain sentence it abbreviates."""

    short: str
    sentence: str


def call_cell(meanings: Mapping[str, CallText] | None, level: str, *, short: bool = True) -> str:
    """The level's short cell (or its ``sentence`` with ``short=False``); "" when there is none."""
    text = (meanings or {}).get(level)
    if text is None:
        return ""
    return text.short if short else text.sentence
