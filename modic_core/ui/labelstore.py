"""The app's one :class:`~modic_core.labels.LabelStore` per database URL and data folder (a Streamlit
resource shared by all sessions; opening it migrates the database once)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from modic_core import settings
from modic_core.labels import LabelStore

__all__ = ["label_store"]


@st.cache_resource(show_spinner=False, max_entries=4)
def _open(url: str, data_dir: str) -> LabelStore:
    return LabelStore.open(url, data_dir=Path(data_dir))


def label_store() -> LabelStore:
    """The store at ``settings.database_url()`` with images under ``settings.data_dir()``."""
    return _open(settings.database_url(), str(settings.data_dir()))
