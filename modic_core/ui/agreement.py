"""The cohort page's "Reviewer agreement (label store)" section and its teaching use (a student against an expert).

Kappas come from :mod:`modic_core.labels.agreement` (each reviewer's latest grade; ``not_gradable`` left out; against
the model MC3 is left out too; 95 % CI from a bootstrap over studies). A kappa is shown as a number only when it is
defined and rests on at least :data:`MIN_LEVELS` levels; otherwise the cell says why. Results are cached per state of
the store (the ids of its latest reviews and analyses), so a widget click does not recompute the bootstraps.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from modic_core.labels import GRADES, LabelStore
from modic_core.labels.agreement import agreement, agreement_with_model, model_pairs
from modic_core.labels.queue import latest_grades
from modic_core.schema import Agreement
from modic_core.text import markdown_inert
from modic_core.ui.guard import guarded
from modic_core.ui.labelstore import label_store

__all__ = ["MIN_LEVELS", "agreement_section", "confusion_figure", "differing_levels", "kappa_text", "paired_grades"]

#: Fewest levels graded by both sides for a kappa to be shown as a number (as the cohort page's "too few cases").
MIN_LEVELS = 10
N_BOOT = 1000
_MODEL_LABEL = "the model (top grade)"


def kappa_text(rec: Agreement) -> str:
    """"0.62 (95 % CI 0.41 to 0.80)", or why there is no number (undefined, too few levels, no CI)."""
    if rec.kappa is None:
        return f"no kappa: {rec.reason or 'undefined'}"
    if rec.n_levels < MIN_LEVELS:
        return f"too few levels (n={rec.n_levels}; at least {MIN_LEVELS} needed)"
    ci = f"95 % CI {rec.lo:.2f} to {rec.hi:.2f}" if rec.lo is not None and rec.hi is not None else \
        "no CI: too few studies to resample"
    return f"{rec.kappa:.2f} ({ci})"


def _left_out(rec: Agreement) -> str:
    return ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in sorted(rec.excluded.items())) or "none"


def paired_grades(grades: Mapping[tuple[str, str], Mapping[str, str]], a: str, b: str) -> list[tuple[str, str, str, str]]:
    """(study, level, a's grade, b's grade) of every level both reviewers graded (latest grades, any grade),
    sorted by study and level; ``grades``: :func:`modic_core.labels.queue.latest_grades`."""
    return [(study, level, by[a], by[b]) for (study, level), by in sorted(grades.items()) if a in by and b in by]


def differing_levels(pairs: list[tuple[str, str, str, str]], *, a: str, b: str) -> pd.DataFrame:
    """The levels of :func:`paired_grades` where the two grades differ: study key, level, "grade by <a>", "grade by <b>"."""
    columns = ["study", "level", f"grade by {a}", f"grade by {b}"]
    return pd.DataFrame([dict(zip(columns, p)) for p in pairs if p[2] != p[3]], columns=columns)


def confusion_figure(pairs: list[tuple[str, str, str, str]], *, a: str, b: str, height: int = 360) -> go.Figure:
    """Counts of (``a``'s grade, ``b``'s grade) over :func:`paired_grades` (rows ``a``, columns ``b``; every grade,
    ``not_gradable`` included); the diagonal is agreement."""
    index = {g: i for i, g in enumerate(GRADES)}
    cm = np.zeros((len(GRADES), len(GRADES)), dtype=int)
    for _, _, ga, gb in pairs:
        cm[index[ga], index[gb]] += 1
    names = [g.replace("_", " ") for g in GRADES]
    fig = go.Figure(go.Heatmap(z=cm, x=[f"{b}: {g}" for g in names], y=[f"{a}: {g}" for g in names], text=cm,
                               texttemplate="%{text}", colorscale="Blues", showscale=False, xgap=1, ygap=1,
                               hovertemplate="%{y}, %{x}: %{z} levels<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=dict(text=f"{a} (rows) vs {b} (columns), {len(pairs)} levels", font=dict(size=13)),
                      height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


@st.cache_data(show_spinner="Computing agreement…", max_entries=64)
def _kappa(url: str, images_dir: str, revision: str, a: str, b: str | None) -> Agreement:
    """Cached kappa of ``a`` vs ``b`` (None: vs the model) at this ``revision`` of the store
    (``url`` and ``images_dir`` name the store in the cache key; the store itself is :func:`label_store`)."""
    store = label_store()
    if b is None:
        return agreement_with_model(store, reviewer=a, n_boot=N_BOOT, seed=0)
    return agreement(store, a=a, b=b, n_boot=N_BOOT, seed=0)


@st.cache_data(show_spinner=False, max_entries=64)
def _model_pairs(url: str, images_dir: str, revision: str, reviewer: str) -> list[tuple[str, str, str, str]]:
    """Cached :func:`~modic_core.labels.agreement.model_pairs` of ``reviewer`` at this ``revision`` of the store."""
    return model_pairs(label_store(), reviewer=reviewer)[0]


def _revision(store: LabelStore, reviews) -> str:
    ids = [r.id for r in reviews] + [-an.id for an in store.latest_analyses().values()]
    return hashlib.sha256(repr(sorted(ids)).encode()).hexdigest()[:16]


def _row(rec: Agreement, **names: str) -> dict:
    return {**names, "kappa": kappa_text(rec), "levels": rec.n_levels, "studies": rec.n_studies,
            "left out": _left_out(rec)}


def agreement_section() -> None:
    """The "Reviewer agreement (label store)" section and the teaching section (see the module)."""
    st.header("Reviewer agreement (label store)")
    st.caption("Cohen's kappa (unweighted) of each reviewer's latest grades, between reviewers over MC0 to MC3 and "
               "with the model's top grade over MC0 to MC2, with 95 % CIs from a bootstrap over studies. Levels "
               f"graded \"not gradable\" (and, against the model, MC3) are left out and counted. Fewer than {MIN_LEVELS} "
               "levels graded by both: no number.")
    with guarded("computing reviewer agreement"):
        store = label_store()
        reviews = store.all_latest_reviews()
        reviewers = sorted({r.reviewer for r in reviews})
        if not reviewers:
            st.info("No review is stored yet, so there is no agreement to show. Reviews are saved in the Case viewer "
                    "or imported with `modic-labels import`.")
            return
        key = (store.engine.url.render_as_string(hide_password=True), str(store.images_dir), _revision(store, reviews))
        st.subheader("Each reviewer with the model")
        st.dataframe(pd.DataFrame([_row(_kappa(*key, r, None), reviewer=r) for r in reviewers]), hide_index=True,
                     key="ag_model")
        st.subheader("Between reviewers")
        if len(reviewers) < 2:
            st.info(f"Only one reviewer ({markdown_inert(reviewers[0])}) has graded levels in the store; agreement between reviewers "
                    "needs grades of the same levels from at least two.")
            return
        st.dataframe(pd.DataFrame([_row(_kappa(*key, a, b), **{"reviewer A": a, "reviewer B": b})
                                   for a, b in combinations(reviewers, 2)]), hide_index=True, key="ag_pairs")
        grades = latest_grades(reviews)
        c1, c2 = st.columns(2)
        a = c1.selectbox("Confusion matrix: reviewer A", reviewers, index=0, key="ag_cm_a")
        b = c2.selectbox("Reviewer B (or the model)", [r for r in reviewers if r != a] + [None], index=0, key="ag_cm_b",
                         format_func=lambda r: _MODEL_LABEL if r is None else r)
        pairs = _model_pairs(*key, a) if b is None else paired_grades(grades, a, b)
        name_b = _MODEL_LABEL if b is None else b
        if pairs:
            st.plotly_chart(confusion_figure(pairs, a=a, b=name_b), key="ag_cm")
        else:
            st.info(f"{markdown_inert(a)} and {markdown_inert(name_b)} have not graded any level in common.")

        st.header("Teaching: a student against an expert")
        st.caption("The student's latest grades against the expert's on the levels both graded: kappa (as above) and "
                   "every level where they differ, to go through together in the Case viewer (Stored study).")
        c1, c2 = st.columns(2)
        expert = c1.selectbox("Expert", reviewers, index=0, key="ag_expert")
        student = c2.selectbox("Student", [r for r in reviewers if r != expert], index=0, key="ag_student")
        rec = _kappa(*key, expert, student)
        st.markdown(f"**Kappa of {markdown_inert(student)} with {markdown_inert(expert)}:** {kappa_text(rec)} · {rec.n_levels} levels in "
                    f"{rec.n_studies} studies · left out: {_left_out(rec)}")
        diff = differing_levels(paired_grades(grades, expert, student), a=expert, b=student)
        if len(diff):
            st.markdown(f"**Levels where they differ ({len(diff)})**")
            st.dataframe(diff, hide_index=True, key="ag_diff")
        else:
            st.success("They agree on every level both graded.")
