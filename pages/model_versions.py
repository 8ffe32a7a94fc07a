"""Model versions: the registered classifier versions, which one the app uses, and (admins) the switch and the
background fine-tune. The logic lives in :mod:`modic_core.ui.versions`."""
from __future__ import annotations

import streamlit as st

from modic_core.ui.guard import guarded
from modic_core.ui.versions import versions_page

st.title("Model versions")
with guarded("showing the model versions"):
    versions_page()
