"""The review queue page's table and its click (:mod:`modic_core.labels.queue` drawn for Streamlit).

One row per queued level, in queue order; a click on a row opens that study and level in the case viewer
(:func:`modic_core.ui.stored.open_in_viewer`). Studies appear by their key only.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from modic_core.labels.queue import QueueItem, QueueProgress
from modic_core.text import markdown_inert
from modic_core.ui.stored import open_in_viewer

__all__ = ["TABLE_KEY", "progress_bar", "queue_frame", "queue_table"]

TABLE_KEY = "rq_table"


def queue_frame(items: Sequence[QueueItem]) -> pd.DataFrame:
    """The queue as a table: study key, level, why it is where it is, the model's grade, its grade-set size and
    entropy (nats), the reviewers' latest grades, disagreement and reviewed flags."""
    rows = [{"study": it.study_id, "level": it.level, "queue": it.tier, "model grade": it.model_grade or "—",
             "set size": it.set_size or None, "entropy (nats)": None if it.entropy is None else round(it.entropy, 3),
             "latest grades": " · ".join(f"{who}: {it.grades[who]}" for who in it.reviewers) or "—",
             "reviewers disagree": it.disagreement, "reviewed": it.reviewed} for it in items]
    columns = ["study", "level", "queue", "model grade", "set size", "entropy (nats)", "latest grades",
               "reviewers disagree", "reviewed"]
    return pd.DataFrame(rows, columns=columns)


def progress_bar(progress: QueueProgress, *, reviewer: str | None) -> None:
    """A progress bar with "12 of 40 levels reviewed by <reviewer> (…)" (without a reviewer: "by anyone")."""
    share = progress.levels_reviewed / progress.levels_queued if progress.levels_queued else 0.0
    st.progress(share, text=progress.sentence(by=markdown_inert(reviewer) if reviewer else "anyone"))


def queue_table(items: Sequence[QueueItem]) -> None:
    """The queue table; a click on a row opens its study and level in the case viewer."""
    event = st.dataframe(queue_frame(items), hide_index=True, key=TABLE_KEY, on_select="rerun",
                         selection_mode="single-row", width="stretch")
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    if rows and 0 <= rows[0] < len(items):
        item = items[rows[0]]
        open_in_viewer(study_id=item.study_id, level=item.level)
