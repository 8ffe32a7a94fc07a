"""Earlier results: this app's grades of the same patient's earlier studies, beside today's, per level.

For a study retrieved "From PACS" (:func:`~modic_core.ui.pacs_input.current_hit`), the archive is asked for
the SRs this app stored in the patient's earlier studies (:meth:`~modic_core.pacs.Archive.earlier_srs`); the
newest SR of each of the :data:`MAX_EARLIER` most recent earlier studies is retrieved and read
(:func:`~modic_core.export.sr_read.read_sr`). Nothing is shown when there is none. Asked once per study and
session; the patient ID stays in the query (never logged: failures are PacsError sentences without PHI).
"""
from __future__ import annotations

from typing import Any, Sequence

import streamlit as st

from modic_core.errors import InputError
from modic_core.export.sr_read import SrFindings, SrLevel, read_sr
from modic_core.text import markdown_inert
from modic_core.ui.guard import guarded
from modic_core.ui.pacs_input import CACHE_KEY, current_hit, pacs_archive

__all__ = ["MAX_EARLIER", "earlier_results", "earlier_rows", "read_earlier"]

#: Most earlier studies shown (the most recent ones), one column each.
MAX_EARLIER = 3
MISSING = "—"


def _grade(grade: str | None, prediction_set: Sequence[str] = ()) -> str:
    if not grade:
        return MISSING
    return grade + (" (uncertain)" if len(prediction_set) > 1 else "")


def _today(level) -> str:
    if not getattr(level, "graded", True):
        return "not graded"
    return _grade(level.prediction, getattr(level, "prediction_set", ()) or ())


def _column(found: SrFindings, taken: set[str]) -> str:
    day = found.study_date.isoformat() if found.study_date else "date unknown"
    name, k = f"Earlier ({day})", 2
    while name in taken:  # two earlier studies of one day
        name, k = f"Earlier ({day}, {k})", k + 1
    taken.add(name)
    return name


def earlier_rows(today_levels: Sequence[Any], earlier: Sequence[SrFindings]) -> list[dict[str, str]]:
    """The table: one row per level (today's levels in their order, then levels found only earlier), a column
    per earlier report (oldest first, "Earlier (YYYY-MM-DD)": its grade, "(uncertain)" when its prediction
    set held several grades) and "Today". A level a report does not hold shows "—"."""
    ordered = sorted(earlier, key=lambda f: (f.study_date is None, f.study_date))
    taken: set[str] = set()
    columns = [(_column(f, taken), f) for f in ordered]
    names = [lv.level for lv in today_levels]
    names += [lv.level for f in ordered for lv in f.levels if lv.level not in names]
    names = list(dict.fromkeys(names))
    by_name = {lv.level: lv for lv in today_levels}
    rows = []
    for name in names:
        row = {"Level": name}
        for column, found in columns:
            lv: SrLevel | None = found.grade_of(name)
            row[column] = _grade(lv.grade, lv.prediction_set) if lv is not None else MISSING
        row["Today"] = _today(by_name[name]) if name in by_name else MISSING
        rows.append(row)
    return rows


def read_earlier(archive, patient_id: str, study_uid: str) -> tuple[list[SrFindings], list[str]]:
    """The findings of this app's newest SR in each of the :data:`MAX_EARLIER` most recent earlier studies of
    the patient, and notes (no PHI) for SRs that could not be read (skipped)."""
    found: list[SrFindings] = []
    notes: list[str] = []
    seen: set[str] = set()
    for hit in archive.earlier_srs(patient_id, before_study_uid=study_uid):
        if hit.study_uid in seen or len(seen) >= MAX_EARLIER:
            continue
        seen.add(hit.study_uid)
        try:
            sr = read_sr(archive.retrieve_instance(hit.study_uid, hit.series_uid, hit.sop_uid))
        except InputError as exc:
            notes.append(f"An earlier report could not be read and is left out: {exc}")
            continue
        if sr.study_date is None and hit.study_date is not None:
            sr = SrFindings(study_uid=sr.study_uid, sop_uid=sr.sop_uid, study_date=hit.study_date,
                            content_datetime=sr.content_datetime, levels=sr.levels, notes=sr.notes)
        found.append(sr)
        notes += [f"An earlier report ({sr.study_date or 'date unknown'}): {n}" for n in sr.notes]
    return found, notes


def earlier_results(report, *, fp: str) -> None:
    """Draw "Earlier results" below the picture for a study retrieved from the PACS (nothing otherwise, and
    nothing when the archive holds no earlier report of this app for the patient)."""
    hit = current_hit(fp)
    if hit is None or report is None or not hit.patient_id:
        return
    cache = st.session_state.setdefault(CACHE_KEY, {}).setdefault("earlier", {})
    if hit.study_uid not in cache:
        cache[hit.study_uid] = ([], [])  # asked once per study, also after a failure
        with st.spinner("Looking for earlier reports of this patient in the PACS…"), \
                guarded("reading earlier reports from the PACS", show=st.warning):
            cache[hit.study_uid] = read_earlier(pacs_archive(), hit.patient_id, hit.study_uid)
    found, notes = cache[hit.study_uid]
    if not found:
        return
    st.subheader("Earlier results")
    st.caption("Grades this app stored in the PACS for the same patient's earlier studies, beside today's "
               "(investigational; compare the images before reading a change into them).")
    st.dataframe(earlier_rows(report.levels, found), hide_index=True, width="stretch",
                 key=f"cv_earlier_{fp}")
    for note in notes:
        st.caption(markdown_inert(note))
