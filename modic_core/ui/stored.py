"""The case viewer's "Stored study" input: a study of the label store, listed by its key, opened in the viewer.

A stored study is its de-identified T1/T2 copy (``.mha``, pixels and geometry only; T2 already on the T1 grid), read
with the io readers and kept once per process (:func:`stored_study`). The study's key (salted pixel hash) is the only
thing the list shows. :func:`open_in_viewer` (the review queue's click) switches to the case viewer on a study and
a level: the viewer then shows that study, focuses the level (``cv_focus_<fingerprint>``, as a click on its row
would) and, when the picture already reported a view of this study, moves the slice to the level's slab.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from modic_core.errors import InputError
from modic_core.io import read_image
from modic_core.labels import LabelStore
from modic_core.ui import runtime as rt
from modic_core.ui.guard import guarded
from modic_core.ui.labelstore import label_store
from modic_core.ui.review import goto_key
from modic_core.volume import Study

__all__ = ["CASE_VIEWER_PAGE", "EMPTY_STORE_TEXT", "OPEN_KEY", "STORED_SOURCE", "open_in_viewer", "stored_input", "stored_key",
           "stored_study"]

#: The case viewer's input-source label of this input.
STORED_SOURCE = "Stored study"
#: The case viewer's page file (what :func:`streamlit.switch_page` is given).
CASE_VIEWER_PAGE = "pages/case_viewer.py"
#: Session keys: the study chosen in the list (a widget), the same kept across pages, and a pending open request.
SELECT_KEY = "cv_stored"
KEPT_KEY = "cv_stored_kept"
OPEN_KEY = "cv_stored_open"
#: What the queue page and this input say when the store holds no study.
EMPTY_STORE_TEXT = ("The label store holds no study yet. Studies get here when a review is saved in the Case viewer "
                    "(a demo case or an upload), or from a labelled cohort folder with "
                    "`modic-labels import COHORT --reviewer NAME`.")


@st.cache_resource(show_spinner="Loading the stored study…", max_entries=8)
def stored_study(images_dir: str, study_id: str) -> Study:
    """The stored study ``study_id`` read from ``images_dir/<study_id>/t1.mha, t2.mha`` (read-only, shared by all
    sessions). Its pixels are the stored ones exactly (no resampling), so its key is ``study_id`` again.
    InputError when the copy is missing."""
    folder = Path(images_dir) / study_id
    paths = {role: folder / f"{role}.mha" for role in ("t1", "t2")}
    if not all(p.is_file() for p in paths.values()):
        raise InputError(f"The image copy of the stored study {study_id} is missing from the data folder; "
                         "store the study again by reviewing it in the viewer.")
    t1 = read_image(paths["t1"], sequence="T1")
    t2 = read_image(paths["t2"], sequence="T2")
    return Study(t1=t1, t2=t2, t2_native=t2, sources={"t1": "stored T1 copy", "t2": "stored T2 copy"},
                 study_id=study_id)


def open_in_viewer(*, study_id: str, level: str) -> None:
    """Switch to the case viewer on the stored study ``study_id`` with ``level`` focused (does not return)."""
    st.session_state[OPEN_KEY] = {"study": study_id, "level": level}
    st.session_state[KEPT_KEY] = study_id
    st.session_state["cv_source_kept"] = STORED_SOURCE
    st.session_state.pop("cv_source", None)  # the radio takes the kept value when the viewer draws it
    st.switch_page(CASE_VIEWER_PAGE)


def _focus_level(store: LabelStore, study: Study, study_id: str, level: str) -> None:
    """Focus ``level`` in the viewer of ``study``; move the slice to its stored slab when a view is kept."""
    fp = rt.fingerprint_of(study)
    st.session_state[f"cv_focus_{fp}"] = level
    st.session_state[goto_key(fp)] = level  # the review panel's current level too
    shown = st.session_state.get(f"cv_state_{fp}")
    analyses = store.analyses(study_id)
    stored = next((lv for lv in (analyses[-1].levels if analyses else []) if lv.get("level") == level), None)
    z_range = (stored or {}).get("z_range") or []
    if isinstance(shown, dict) and len(z_range) == 2:
        st.session_state[f"cv_state_{fp}"] = {**shown, "z": int(round((z_range[0] + z_range[1]) / 2))}


def stored_key() -> str:
    """The label-store key of the study the "Stored study" input shows (16 hex digits; "" before one is chosen):
    the viewer shows a stored study under this key, the one the review queue lists it under."""
    return str(st.session_state.get(KEPT_KEY) or "")


def stored_input() -> tuple[Study | None, None]:
    """The "Stored study" input: a list of the store's study keys and the chosen study (no DICOM source, so the
    second item, the DICOM SR source, is None). Applies a pending :func:`open_in_viewer` request."""
    pending = st.session_state.pop(OPEN_KEY, None)
    with guarded("listing the stored studies"):
        store = label_store()
        keys = [s.id for s in store.list_studies()]
        if not keys:
            st.info(EMPTY_STORE_TEXT)
            return None, None
        if pending and pending.get("study") in keys:
            st.session_state[SELECT_KEY] = pending["study"]
        elif st.session_state.get(SELECT_KEY) not in keys and st.session_state.get(KEPT_KEY) in keys:
            st.session_state[SELECT_KEY] = st.session_state[KEPT_KEY]  # back from another page: the study chosen before
        key = st.selectbox("Stored study (key: a salted hash of its pixels)", keys, key=SELECT_KEY)
        st.session_state[KEPT_KEY] = key  # widget state is dropped while another page is shown
        study = stored_study(str(store.images_dir), key)
        if pending and pending.get("study") == key and pending.get("level"):
            _focus_level(store, study, key, str(pending["level"]))
        return study, None
    return None, None
