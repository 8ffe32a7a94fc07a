"""The case viewer's "what this call means" sentence (:mod:`modic_core.evaluation.call_meaning`), cached per method."""
from __future__ import annotations

import streamlit as st

import math
from typing import Iterable

from modic_core.evaluation.call_meaning import NO_DATA_SHORT, CallTable, load_call_table, no_data_sentence
from modic_core.export.call_text import CallText
from modic_core.export.documents import method_label
from modic_core.settings import weights_dir

__all__ = ["call_sentence", "call_text", "call_texts"]


@st.cache_data(show_spinner=False)
def _table(method: str, folder: str) -> CallTable | None:
    return load_call_table(method=method, folder=folder)


def call_sentence(*, grade: str, confidence: float, method: str) -> str:
    """One plain sentence on how often cross-validation levels called ``grade`` with about this top probability
    ``confidence`` truly had it, with ``method``'s own shipped figures (or that it ships none)."""
    table = _table(method, str(weights_dir()))
    if table is None:
        return no_data_sentence(method_label(method))
    return table.meaning(grade=grade, confidence=confidence).sentence


def call_text(*, grade: str, confidence: float, method: str) -> CallText:
    """The call's table cell and sentence (:class:`~modic_core.export.call_text.CallText`), as :func:`call_sentence`."""
    table = _table(method, str(weights_dir()))
    if table is None:
        return CallText(short=NO_DATA_SHORT, sentence=no_data_sentence(method_label(method)))
    m = table.meaning(grade=grade, confidence=confidence)
    return CallText(short=m.short, sentence=m.sentence)


def call_texts(levels: Iterable, *, method: str) -> dict[str, CallText]:
    """{level name: CallText} of every graded level (one with a finite probability of its predicted grade)."""
    out: dict[str, CallText] = {}
    for lv in levels:
        top = float((getattr(lv, "probabilities", None) or {}).get(getattr(lv, "prediction", None), float("nan")))
        if getattr(lv, "graded", True) and math.isfinite(top):
            out[lv.level] = call_text(grade=lv.prediction, confidence=top, method=method)
    return out
