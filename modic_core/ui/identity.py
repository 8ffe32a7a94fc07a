"""The person using this browser session, for the label store: :func:`identity_panel` draws the sidebar's
name (or, with ``MODIC_AUTH_FILE``, sign-in) box, :func:`current_identity` reads who it is.

Local default (no accounts file): the user types a reviewer name once per session and is a ``reviewer``.
The name is kept in ``st.session_state["identity"]`` (never logged).
"""
from __future__ import annotations

import streamlit as st

from modic_core.labels.access import Identity

__all__ = ["current_identity", "identity_panel"]

KEY = "identity"


def current_identity() -> Identity | None:
    """Who this session is, or ``None`` if nobody has signed in / named themselves yet."""
    value = st.session_state.get(KEY)
    return value if isinstance(value, Identity) else None


def identity_panel() -> Identity | None:
    """Draw the reviewer box (call inside ``st.sidebar``) and return :func:`current_identity`."""
    ident = current_identity()
    if ident is not None:
        st.caption(f"Reviewing as **{ident.name}** ({ident.role})")
        if st.button("Change reviewer", key="identity_change"):
            st.session_state.pop(KEY, None)
            st.rerun()
        return ident
    name = st.text_input("Your name (for reviews)", key="identity_name", max_chars=64,
                         help="Your grades are saved under this name in the label store.")
    if name.strip():
        st.session_state[KEY] = Identity(name=name.strip(), role="reviewer")
        st.rerun()
    return None
