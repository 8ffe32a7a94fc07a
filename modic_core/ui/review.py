"""The case viewer's review panel: grade each level (agree with the model or pick a grade), comment,
adjust or add a box, and save the review to the label store.

:func:`review_panel` draws it in an ``st.fragment``: a click or a key press reruns the panel only, never
the page or a network. One level is "current" at a time; the keys are ``0``-``3`` (grade it MC0-MC3),
``a`` (agree with the model), ``n`` / ``p`` (next / previous level). What the user has entered lives in a
:class:`Draft` per study (``st.session_state["rv_draft_<fingerprint>"]``), prefilled with this reviewer's
latest stored review of the study. "Save review" checks the writer (:func:`~modic_core.labels.access.require_writer`)
before anything is written, stores the study and the analysis once per (study, analysis) in this session,
then appends one review per level whose entry differs from what this reviewer has stored.

Names: a review's ``level`` is the model's name of the level (``detected_level`` when the user renamed
levels in "Correct level names"), ``corrected_level`` the name shown when it differs. Boxes are
(x0, y0, x1, y1) in T1 pixels; one is stored only when it differs from the model's by more than
:data:`BOX_TOLERANCE_PX`, or for an added level. The pure helpers here are tested in ``tests/ui/test_review.py``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import streamlit as st

from modic_core import settings
from modic_core.anatomy import LEVEL_NAMES
from modic_core.errors import InputError
from modic_core.labels import files
from modic_core.labels.access import require_writer
from modic_core.labels.models import GRADES
from modic_core.labels.store import ReviewRecord
from modic_core.text import markdown_inert
from modic_core.ui.guard import guarded
from modic_core.ui.identity import current_identity
from modic_core.ui.labelstore import label_store

__all__ = ["BOX_TOLERANCE_PX", "GRADE_KEYS", "KEYS_CAPTION", "Draft", "ReviewItem", "ReviewRow", "analysis_key",
           "check_box", "draft_key", "for_reviewer", "grade_label", "items_of", "pending_rows", "prefill", "review_panel",
           "review_rows", "saved_message", "step"]

#: A box edited by less than this (T1 pixels, each coordinate) counts as the model's box.
BOX_TOLERANCE_PX = 0.5
#: Keyboard shortcut of each grade button.
GRADE_KEYS = {"MC0": "0", "MC1": "1", "MC2": "2", "MC3": "3"}
KEYS_CAPTION = ("Keys: **0** / **1** / **2** / **3** grade the current level MC0-MC3 · **A** agrees with the model · "
                "**N** / **P** next / previous level (not while a text box or the picture has the focus: click beside them).")


@dataclass(frozen=True)
class ReviewItem:
    """One level to review: ``key`` the model's name (a review's ``level``; an added level: its name),
    ``name`` the name shown (corrected), the model's grade (None: not graded or added) and prediction set,
    ``box`` the model's (or the added) box, (x0, y0, x1, y1) T1 pixels."""

    key: str
    name: str
    model_grade: str | None
    prediction_set: tuple[str, ...]
    box: tuple[float, float, float, float]
    added: bool = False


@dataclass(frozen=True)
class ReviewRow:
    """What one ``LabelStore.add_review`` call records for a level (reviewer and analysis added on save)."""

    level: str
    grade: str
    corrected_level: str | None = None
    box: tuple[float, float, float, float] | None = None
    comment: str = ""


@dataclass
class Draft:
    """One study's review in progress in this session (keyed by :attr:`ReviewItem.key`).

    ``stored``: the rows this reviewer has in the store (prefilled or saved), so a save appends only what
    changed; ``shown``: the items as last drawn (what the keys act on); ``reviewer``: whose stored review was prefilled (None: nobody's yet); ``study_key``: the
    study's label-store key once computed; ``message``: the last "Saved ..." line (cleared by any change).
    """

    grades: dict[str, str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    added: list[ReviewItem] = field(default_factory=list)
    current: int = 0
    shown: list[ReviewItem] = field(default_factory=list)
    stored: dict[str, ReviewRow] = field(default_factory=dict)
    reviewer: str | None = None
    study_key: str | None = None
    message: str = ""


# --------------------------------------------------------------------------- pure helpers


def grade_label(grade: str) -> str:
    """How a grade is shown ("not_gradable" -> "not gradable")."""
    return grade.replace("_", " ")


def items_of(report: Any, draft: Draft) -> list[ReviewItem]:
    """The report's levels (top to bottom) as review items, then the levels the user added."""
    out = []
    for lv in report.levels:
        key = lv.detected_level or lv.level
        out.append(ReviewItem(key=key, name=lv.level, model_grade=lv.prediction if lv.graded else None,
                              prediction_set=tuple(lv.prediction_set), box=tuple(float(v) for v in lv.box)))
    return out + list(draft.added)


def _box_changed(box: Sequence[float], model: Sequence[float]) -> bool:
    return any(abs(float(a) - float(b)) > BOX_TOLERANCE_PX for a, b in zip(box, model))


def review_rows(items: Iterable[ReviewItem], draft: Draft) -> list[ReviewRow]:
    """One row per item the user graded, in item order; a box only when added or moved, a
    ``corrected_level`` only when the shown name differs from the model's."""
    rows = []
    for it in items:
        grade = draft.grades.get(it.key)
        if grade is None:
            continue
        box = draft.boxes.get(it.key, it.box)
        keep_box = it.added or _box_changed(box, it.box)
        rows.append(ReviewRow(level=it.key, grade=grade, corrected_level=it.name if it.name != it.key else None,
                              box=tuple(float(v) for v in box) if keep_box else None,
                              comment=draft.comments.get(it.key, "").strip()))
    return rows


def pending_rows(items: Iterable[ReviewItem], draft: Draft) -> list[ReviewRow]:
    """The rows of :func:`review_rows` that differ from what this reviewer has stored (what a save appends)."""
    return [r for r in review_rows(items, draft) if draft.stored.get(r.level) != r]


def _row_of(record: ReviewRecord) -> ReviewRow:
    return ReviewRow(level=record.level, grade=record.grade, corrected_level=record.corrected_level,
                     box=None if record.box is None else tuple(float(v) for v in record.box),  # type: ignore[arg-type]
                     comment=record.comment or "")


def prefill(draft: Draft, items: Sequence[ReviewItem], records: Iterable[ReviewRecord], *, reviewer: str) -> Draft:
    """Fill ``draft`` with ``reviewer``'s latest stored reviews (``records``: ``LabelStore.latest_reviews``),
    keeping whatever the user has already entered; a stored level the report does not show (an added
    one, or one hidden at this threshold) comes back as an added level when it has a box. Returns ``draft``."""
    keys = {it.key for it in items}
    draft.stored = {}
    for r in records:
        if r.reviewer != reviewer:
            continue
        row = _row_of(r)
        draft.stored[r.level] = row
        if r.level not in keys:
            if row.box is None:
                continue
            draft.added.append(ReviewItem(key=r.level, name=r.level, model_grade=None, prediction_set=(), box=row.box,
                                          added=True))
            keys.add(r.level)
        if r.level in draft.grades:
            continue
        draft.grades[r.level] = row.grade
        if row.comment:
            draft.comments.setdefault(r.level, row.comment)
        if row.box is not None:
            draft.boxes.setdefault(r.level, row.box)
    draft.reviewer = reviewer
    return draft


def for_reviewer(draft: Draft, reviewer: str) -> Draft:
    """``draft`` itself when it is this reviewer's or nobody's yet (grades entered before giving a name are
    kept), else a fresh draft for the same study (another reviewer's entries are dropped)."""
    if draft.reviewer is None or draft.reviewer == reviewer:
        return draft
    return Draft(study_key=draft.study_key)


def step(current: int, n: int, delta: int) -> int:
    """The level index ``delta`` away from ``current``, kept within ``0 .. n-1``."""
    return max(0, min(n - 1, current + delta)) if n else 0


def check_box(box: Sequence[float], *, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """``box`` (x0, y0, x1, y1 T1 pixels) as floats if it is a non-empty box inside a (z, y, x) image of
    ``shape``; else :class:`InputError` saying what to give."""
    if len(box) != 4:
        raise InputError("A box needs four numbers (x0, y0, x1, y1 in T1 pixels); give four.")
    x0, y0, x1, y1 = (float(v) for v in box)
    ny, nx = shape[-2], shape[-1]
    if not (0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny):
        raise InputError(f"The box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is not inside the {nx}×{ny} T1 image with "
                         "x0 < x1 and y0 < y1; give corners inside the image.")
    return x0, y0, x1, y1


def analysis_key(report: Any) -> str:
    """A digest of what a stored analysis keeps (method, coverage, weights, threshold and each level's names,
    box, slab, scores and sets): the same analysis shown again gives the same key (timings and device left out)."""
    data = report.to_dict()
    data = {k: v for k, v in data.items() if k in ("normalization", "threshold", "weights", "coverage", "levels")}
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def saved_message(*, n: int, name: str, when: datetime, study_key: str = "") -> str:
    """ "Saved 3 levels as NAME · 14:05 UTC · label store key 80bb2b5642c9c352" (``when`` converted to UTC; the
    key is the one the review queue and the "Stored study" input list the study under)."""
    text = f"Saved {n} level{'s' if n != 1 else ''} as {name} · {when.astimezone(timezone.utc):%H:%M} UTC"
    return text + (f" · label store key `{study_key}`" if study_key else "")


# --------------------------------------------------------------------------- Streamlit


def goto_key(fp: str) -> str:
    """Session-state key of a one-shot request to make a level (its model or shown name) the panel's current one
    (set by the review queue's "open this level", :mod:`modic_core.ui.stored`); used up by the next panel run."""
    return f"rv_goto_{fp}"


def draft_key(fp: str) -> str:
    """Session-state key of the study's :class:`Draft`."""
    return f"rv_draft_{fp}"


def _draft(fp: str) -> Draft:
    draft = st.session_state.get(draft_key(fp))
    if not isinstance(draft, Draft):
        draft = st.session_state[draft_key(fp)] = Draft()
    return draft


def _current_item(draft: Draft) -> ReviewItem | None:
    """The level the pointer is on when a callback runs (not when its button was drawn: keys pressed quickly
    may reach the server together with a "next level")."""
    return draft.shown[draft.current] if 0 <= draft.current < len(draft.shown) else None


def _set_grade(fp: str, grade: str) -> None:
    draft = _draft(fp)
    it = _current_item(draft)
    if it is not None:
        draft.grades[it.key] = grade
        draft.message = ""


def _agree(fp: str) -> None:
    it = _current_item(_draft(fp))
    if it is not None and it.model_grade is not None:
        _set_grade(fp, it.model_grade)


def _move(fp: str, delta: int) -> None:
    draft = _draft(fp)
    draft.current = step(draft.current, len(draft.shown), delta)
    st.session_state[f"rv_cur_{fp}"] = draft.current


def _pick_level(fp: str) -> None:
    _draft(fp).current = int(st.session_state.get(f"rv_cur_{fp}", 0))


def _set_comment(fp: str, key: str, widget: str) -> None:
    draft = _draft(fp)
    draft.comments[key] = str(st.session_state.get(widget, ""))
    draft.message = ""


def _set_box(fp: str, key: str, widgets: Sequence[str]) -> None:
    draft = _draft(fp)
    draft.boxes[key] = tuple(float(st.session_state.get(w) or 0.0) for w in widgets)  # type: ignore[assignment]
    draft.message = ""


def _add_level(fp: str, shape: tuple[int, ...]) -> None:
    draft = _draft(fp)
    name = st.session_state.get(f"rv_add_name_{fp}")
    grade = st.session_state.get(f"rv_add_grade_{fp}")
    try:
        box = check_box([st.session_state.get(f"rv_add_{c}_{fp}") or 0.0 for c in ("x0", "y0", "x1", "y1")], shape=shape)
    except InputError as exc:
        st.session_state[f"rv_add_error_{fp}"] = str(exc)
        return
    if not name or grade not in GRADES:
        st.session_state[f"rv_add_error_{fp}"] = "Pick the added level's name and grade, then add it."
        return
    draft.added.append(ReviewItem(key=name, name=name, model_grade=None, prediction_set=(), box=box, added=True))
    draft.grades[name] = grade
    draft.message = ""
    st.session_state.pop(f"rv_add_error_{fp}", None)


def _prefilled(fp: str, draft: Draft, study: Any, items: Sequence[ReviewItem], reviewer: str) -> Draft:
    """Once per reviewer and study: their latest stored review of this study into the draft (a fresh draft
    when another reviewer's was on screen: their grades are never saved under this name). Returns the draft."""
    if draft.reviewer == reviewer:
        return draft
    fresh = for_reviewer(draft, reviewer)
    if fresh is not draft:
        for key in [k for k in st.session_state
                    if str(k).startswith(f"rv_comment_{fp}_") or (str(k).startswith("rv_box_") and f"_{fp}_" in str(k))]:
            del st.session_state[key]  # the previous reviewer's comment and box widgets
        draft = st.session_state[draft_key(fp)] = fresh
        items = [it for it in items if not it.added]
    with guarded("reading your earlier review of this study"):
        if draft.study_key is None:
            draft.study_key = files.study_key(study)
        store = label_store()
        records = store.latest_reviews(draft.study_key) if store.get_study(draft.study_key) is not None else []
        prefill(draft, items, records, reviewer=reviewer)
    return draft


def _save(fp: str, study: Any, report: Any, items: Sequence[ReviewItem]) -> None:
    """Check the writer, store the study and analysis once, append the changed levels, note what was saved."""
    draft = _draft(fp)
    ident = require_writer(current_identity())  # PermissionDenied (an InputError): shown by the caller, nothing written
    rows = pending_rows(items, draft)
    if not rows:
        draft.message = ("Nothing new to save: grade a level first." if not draft.grades else
                         "Nothing new to save: these grades are already stored under your name.")
        return
    store = label_store()
    stored = st.session_state.setdefault("rv_stored", {})  # (fingerprint, analysis key) -> (study key, analysis id)
    akey = (fp, analysis_key(report))
    if akey not in stored:
        s, an = store.add_study(study=study, analysis=report, actor=ident.name)
        stored[akey] = (s.id, an.id)
        draft.study_key = s.id
    study_id, analysis_id = stored[akey]
    for r in rows:
        store.add_review(study_id=study_id, level=r.level, reviewer=ident.name, grade=r.grade,
                         corrected_level=r.corrected_level, box=r.box, comment=r.comment, analysis_id=analysis_id)
        draft.stored[r.level] = r
    draft.message = saved_message(n=len(rows), name=markdown_inert(ident.name), when=datetime.now(timezone.utc),
                                  study_key=study_id)


def _summary(items: Sequence[ReviewItem], draft: Draft, current: int) -> str:
    lines = ["| | level | model | prediction set | your grade |", "|---|---|---|---|---|"]
    for i, it in enumerate(items):
        mine = draft.grades.get(it.key)
        extra = " (added)" if it.added else ""
        extra += " · box moved" if not it.added and it.key in draft.boxes and _box_changed(draft.boxes[it.key], it.box) else ""
        extra += " · comment" if draft.comments.get(it.key, "").strip() else ""
        lines.append(f"| {'▶' if i == current else ''} | {it.name}{extra} | {it.model_grade or '—'} | "
                     f"{', '.join(it.prediction_set) or '—'} | {grade_label(mine) if mine else '—'} |")
    return "\n".join(lines)


def _current_level(fp: str, it: ReviewItem, draft: Draft) -> None:
    mine = draft.grades.get(it.key)
    st.markdown(f"**{it.name}**" + (f" (detected as {it.key})" if it.name != it.key else "") + " · model: "
                + (f"**{it.model_grade}**, prediction set {', '.join(it.prediction_set) or '—'}" if it.model_grade
                   else "no grade") + f" · your grade: **{grade_label(mine) if mine else '—'}**")
    cols = st.columns(6)
    cols[0].button(f"Agree ({it.model_grade})" if it.model_grade else "Agree", key=f"rv_agree_{fp}", shortcut="A",
                   on_click=_agree, args=(fp,), disabled=it.model_grade is None,
                   type="primary" if mine is not None and mine == it.model_grade else "secondary",
                   help="Record the model's grade for this level.")
    for col, grade in zip(cols[1:], GRADES):
        col.button(grade_label(grade), key=f"rv_g_{grade}_{fp}", shortcut=GRADE_KEYS.get(grade),
                   on_click=_set_grade, args=(fp, grade), type="primary" if mine == grade else "secondary")
    cw = f"rv_comment_{fp}_{it.key}"
    if cw not in st.session_state:
        st.session_state[cw] = draft.comments.get(it.key, "")
    st.text_input("Comment (optional)", key=cw, max_chars=500, on_change=_set_comment, args=(fp, it.key, cw))
    with st.expander("Adjust the box (x0, y0, x1, y1 in T1 pixels)", expanded=it.key in draft.boxes):
        box = draft.boxes.get(it.key, it.box)
        widgets = [f"rv_box_{c}_{fp}_{it.key}" for c in ("x0", "y0", "x1", "y1")]
        bc = st.columns(4)
        for col, w, v, c in zip(bc, widgets, box, ("x0", "y0", "x1", "y1")):
            if w not in st.session_state:
                st.session_state[w] = round(float(v), 1)
            col.number_input(c, key=w, min_value=0.0, step=1.0, format="%.1f", on_change=_set_box, args=(fp, it.key, widgets))


def _add_form(fp: str, items: Sequence[ReviewItem], shape: tuple[int, ...]) -> None:
    with st.expander("Add a missed level"):
        shown = {it.name for it in items} | {it.key for it in items}
        free = [n for n in reversed(LEVEL_NAMES) if n not in shown]
        c = st.columns([2, 1, 1, 1, 1, 2])
        c[0].selectbox("Level name", free, key=f"rv_add_name_{fp}")
        ny, nx = shape[-2], shape[-1]
        for col, name, default in zip(c[1:5], ("x0", "y0", "x1", "y1"), (0.4 * nx, 0.5 * ny, 0.6 * nx, 0.55 * ny)):
            col.number_input(name, key=f"rv_add_{name}_{fp}", min_value=0.0, value=round(default, 1), step=1.0, format="%.1f")
        c[5].selectbox("Grade", GRADES, key=f"rv_add_grade_{fp}", format_func=grade_label)
        st.button("Add level", key=f"rv_add_{fp}", on_click=_add_level, args=(fp, shape))
        error = st.session_state.pop(f"rv_add_error_{fp}", None)
        if error:
            st.error(markdown_inert(error))


@st.fragment
def _panel(study: Any, report: Any, fp: str) -> None:
    draft = _draft(fp)
    items = items_of(report, draft)
    ident = current_identity()
    if ident is not None:
        draft = _prefilled(fp, draft, study, items, ident.name)
        items = items_of(report, draft)  # prefill may bring back added levels
    st.subheader("Your review")
    st.caption(KEYS_CAPTION)
    n = len(items)
    draft.shown = items
    goto = st.session_state.pop(goto_key(fp), None)
    if goto is not None:  # opened from the review queue: that level is the one to review
        draft.current = next((i for i, it in enumerate(items) if goto in (it.key, it.name)), draft.current)
    draft.current = step(draft.current, n, 0)
    st.session_state[f"rv_cur_{fp}"] = draft.current
    st.markdown(_summary(items, draft, draft.current))
    nav = st.columns([1, 1, 6])
    nav[0].button("Previous", key=f"rv_prev_{fp}", shortcut="P", on_click=_move, args=(fp, -1),
                  disabled=draft.current == 0)
    nav[1].button("Next", key=f"rv_next_{fp}", shortcut="N", on_click=_move, args=(fp, 1),
                  disabled=draft.current >= n - 1)
    nav[2].radio("Current level", list(range(n)), key=f"rv_cur_{fp}", horizontal=True, on_change=_pick_level,
                 args=(fp,), format_func=lambda i: items[i].name, label_visibility="collapsed")
    shape = tuple(study.t1.shape)
    _current_level(fp, items[draft.current], draft)
    _add_form(fp, items, shape)
    pending = pending_rows(items, draft)
    if st.button("Save review", key=f"rv_save_{fp}", type="primary",
                 help="Saves the levels you graded (changed since your last save) under your name in the label store."):
        with guarded("saving the review"):
            _save(fp, study, report, items)
        pending = pending_rows(items, draft)
    if draft.message:
        (st.success if draft.message.startswith("Saved") else st.info)(draft.message)  # the name in it is inert
    elif pending:
        st.caption(f"{len(pending)} level{'s' if len(pending) != 1 else ''} graded, not saved yet.")
    if ident is None:
        st.caption("Sign in in the sidebar to save a review." if settings.auth_file() is not None else
                   "Type your name in the sidebar (\"Your name (for reviews)\") to save a review.")
    elif not ident.can_write:
        st.caption("You are signed in with a viewer account: you can try grades here, but saving needs the reviewer role.")


def review_panel(study: Any, report: Any, *, fp: str) -> None:
    """The review section under the viewer for ``report``'s levels of ``study`` (fingerprint ``fp``), in a
    fragment: its clicks and "Save review" rerun only this panel. Call only with a graded report that has levels."""
    if report is None or not report.levels:
        return
    st.divider()
    _panel(study, report, fp)
