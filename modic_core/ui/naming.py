"""The case viewer's "Correct level names" panel (Streamlit widgets only).

The correction itself is :mod:`modic_core.analysis.naming_correction` (pure, no network runs).
Each study keeps its own correction in the session (``cv_names_<fingerprint>``), so a correction
never carries over to another study; the page applies it to the report before anything is
drawn, so the figure, the table, the level list and every download show the corrected names.
"""
from __future__ import annotations

import streamlit as st

from modic_core.analysis.naming_correction import NameCorrection, Rename, Shift, apply_correction, corrected_names
from modic_core.anatomy import LEVEL_NAMES
from modic_core.errors import InputError

__all__ = ["correction_key", "corrected_report", "naming_panel"]


def correction_key(fp: str) -> str:
    """Session-state key of the study's :class:`NameCorrection`."""
    return f"cv_names_{fp}"


def _refusal_key(fp: str) -> str:
    return f"cv_names_refused_{fp}"


def _add(fp: str, detected: list[str], step) -> None:
    """Button callback: append ``step`` to the study's correction, unless the model refuses it."""
    new = st.session_state.get(correction_key(fp), NameCorrection()).then(step)
    try:
        corrected_names(detected, new)
    except InputError as exc:
        st.session_state[_refusal_key(fp)] = str(exc)
        return
    st.session_state[correction_key(fp)] = new
    st.session_state.pop(_refusal_key(fp), None)


def _rename(fp: str, detected: list[str]) -> None:
    old, new = st.session_state.get(f"cv_rename_old_{fp}"), st.session_state.get(f"cv_rename_new_{fp}")
    if old and new:
        _add(fp, detected, Rename(old, new))


def _reset(fp: str) -> None:
    st.session_state.pop(correction_key(fp), None)
    st.session_state.pop(_refusal_key(fp), None)


def corrected_report(report, fp: str):
    """``report`` with the study's correction applied, and the sentence why it was not applied ("" if it was)."""
    correction = st.session_state.get(correction_key(fp), NameCorrection())
    try:
        return apply_correction(report, correction), ""
    except InputError as exc:  # e.g. a renamed level is not shown at this threshold
        return report, (f"The level-name correction ({correction.describe()}) does not fit the levels shown at this "
                        f"threshold: {exc} The detected names are shown; change or reset the correction.")


def naming_panel(report, *, fp: str):
    """The corrected report, a note when names were corrected, and the "Correct level names" expander."""
    shown, unfit = corrected_report(report, fp)
    if unfit:
        st.warning(unfit, icon="✏️")
    if shown.names_corrected_by_user:
        st.info(shown.naming_note + " Every download uses these names and records the correction.", icon="✏️")
    detected = [lv.level for lv in report.levels]
    if not detected:
        return shown
    with st.expander("Correct level names", expanded=bool(shown.names_corrected_by_user or unfit)):
        st.caption("If a disc was missed or the lowest one is not L5-S1, shift every name, or rename one level. "
                   "Grades stay with their regions; nothing is recomputed.")
        b = st.columns(3)
        b[0].button("Names one level up (L5-S1 → L4-L5)", key=f"cv_names_up_{fp}", on_click=_add, args=(fp, detected, Shift(1)))
        b[1].button("Names one level down (L4-L5 → L5-S1)", key=f"cv_names_down_{fp}", on_click=_add,
                    args=(fp, detected, Shift(-1)))
        b[2].button("Reset to the detected names", key=f"cv_names_reset_{fp}", on_click=_reset, args=(fp,),
                    disabled=not shown.names_corrected_by_user and not unfit)
        names = [lv.level for lv in shown.levels]
        r = st.columns([2, 2, 1])
        old = r[0].selectbox("Level", names, key=f"cv_rename_old_{fp}")
        free = [n for n in LEVEL_NAMES if n == old or n not in names]
        r[1].selectbox("New name", free, index=free.index(old) if old in free else 0, key=f"cv_rename_new_{fp}")
        r[2].button("Rename", key=f"cv_rename_{fp}", on_click=_rename, args=(fp, detected))
        refused = st.session_state.pop(_refusal_key(fp), None)  # shown once, after the click it answers
        if refused:
            st.error(refused)
    return shown
