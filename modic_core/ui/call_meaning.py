"""The case viewer's "what this call means" sentence (:mod:`modic_core.evaluation.call_meaning`), cached per method."""
from __future__ import annotations

import streamlit as st

from modic_core.evaluation.call_meaning import CallTable, load_call_table, no_data_sentence
from modic_core.export.documents import method_label
from modic_core.settings import weights_dir

__all__ = ["call_sentence"]


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
