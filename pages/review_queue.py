"""Review queue: the stored studies' levels, least sure first; a click opens one in the case viewer."""
from __future__ import annotations

import streamlit as st

from modic_core.labels.queue import queue_progress, review_queue
from modic_core.ui.guard import guarded
from modic_core.ui.identity import current_identity
from modic_core.ui.labelstore import label_store
from modic_core.ui.review_queue import progress_bar, queue_table
from modic_core.ui.stored import EMPTY_STORE_TEXT

st.title("Review queue")
st.caption("The stored studies' levels in the order that helps the model most: levels not yet reviewed, the ones the "
           "model is least sure of first (largest grade set, then highest entropy); then levels where reviewers "
           "disagree; then the rest. Click the box at the left of a row to open that study and level in the Case viewer.")

ident = current_identity()
reviewer = ident.name if ident is not None else None
items = None
with guarded("reading the review queue"):
    items = review_queue(label_store(), reviewer=reviewer)
if items is not None and not items:
    st.info(EMPTY_STORE_TEXT)
elif items:
    progress_bar(queue_progress(items), reviewer=reviewer)
    if reviewer is None:
        st.caption("Enter your name in the sidebar to see the levels you have not reviewed first.")
    queue_table(items)
