"""The person using this browser session, for the label store: :func:`identity_panel` draws the sidebar's
name (or, with ``MODIC_AUTH_FILE``, sign-in) box, :func:`current_identity` reads who it is.

Local default (no accounts file): the user types a reviewer name once per session and is a ``reviewer``.

With an accounts file (:func:`modic_core.settings.auth_file`, :mod:`modic_core.labels.auth`): a sign-in form
(``st.form("signin")``: "User name", "Password", "Sign in"). A wrong name or password gets one sentence that
never says which; after :data:`~modic_core.settings.SIGNIN_MAX_FAILURES` failures in a session, tries are
refused for :data:`~modic_core.settings.SIGNIN_LOCK_SECONDS` seconds. Signed in: "Signed in as **name** (role)"
and "Sign out". Fail closed: a missing or bad accounts file is one error sentence and nobody is signed in;
:func:`current_identity` re-reads the file (cached by its size and modification time) on every call, so an
account removed, re-roled or given a new password takes effect at the session's next rerun.

The identity is kept in ``st.session_state["identity"]`` (never logged); the name the store records as
reviewer/actor is ``current_identity().name``: the account's name, never what was typed.
"""
from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import streamlit as st

from modic_core import settings
from modic_core.errors import InputError
from modic_core.labels.access import Identity
from modic_core.labels.auth import Account, load_accounts, verify
from modic_core.text import markdown_inert, plain_text

__all__ = ["SIGN_IN_FIRST", "current_identity", "identity_panel", "sign_in_required"]

KEY = "identity"
#: Set with :data:`KEY` by a sign-in: a fingerprint of the account's hash (a new password signs the session out).
SIGNED_IN_KEY = "identity_signed_in"
FAILURES_KEY = "signin_failures"
LOCKED_UNTIL_KEY = "signin_locked_until"
MESSAGE_KEY = "signin_message"
WRONG = "Wrong user name or password."
#: What a signed-out user sees instead of a page when the installation keeps accounts.
SIGN_IN_FIRST = ("Sign in (in the sidebar) to use the dashboard: this installation keeps accounts, and its studies, "
                 "reviews and models are shown to signed-in users only.")


def _clock() -> float:
    """Seconds on a monotonic clock (tests replace it)."""
    return time.monotonic()


def _fingerprint(account: Account) -> str:
    return hashlib.sha256(account.password_hash.encode("ascii")).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=4)
def _cached_accounts(path: str, mtime_ns: int, size: int) -> dict[str, Account]:
    return load_accounts(Path(path))  # an InputError is not cached: a bad file is read again next time


def _accounts(path: Path) -> dict[str, Account]:
    """The accounts at ``path`` (read again when its size or modification time changes); InputError if bad."""
    try:
        st_ = path.stat()
    except OSError:
        return load_accounts(path)  # raises its sentence for a missing or unreadable file
    return _cached_accounts(str(path), st_.st_mtime_ns, st_.st_size)


def current_identity() -> Identity | None:
    """Who this session is, or ``None`` if nobody has signed in / named themselves yet.

    With an accounts file: only a session signed in through the form, whose account is still in the file
    with the same password hash; the role is the file's current one. A bad file: ``None`` (no writes).
    """
    value = st.session_state.get(KEY)
    if not isinstance(value, Identity):
        return None
    path = settings.auth_file()
    if path is None:
        return value
    signed_in = st.session_state.get(SIGNED_IN_KEY)
    try:
        account = _accounts(path).get(value.name)
    except InputError:
        return None
    if account is None or signed_in != _fingerprint(account):
        return None
    return Identity(name=account.name, role=account.role)


def sign_in_required() -> bool:
    """True when the installation keeps accounts (``MODIC_AUTH_FILE``) and nobody (valid) is signed in: the app
    then shows no page, only the sign-in form (viewers read, reviewers and admins also write)."""
    return settings.auth_file() is not None and current_identity() is None


def identity_panel() -> Identity | None:
    """Draw the reviewer box, or the sign-in form when ``MODIC_AUTH_FILE`` is set (call inside ``st.sidebar``),
    and return :func:`current_identity`."""
    path = settings.auth_file()
    if path is not None:
        return _signin_panel(path)
    ident = current_identity()
    if ident is not None:
        st.caption(f"Reviewing as **{markdown_inert(plain_text(ident.name, limit=64))}** ({ident.role})")
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


def _sign_out() -> None:
    st.session_state.pop(KEY, None)
    st.session_state.pop(SIGNED_IN_KEY, None)


def _locked_seconds() -> float:
    """Seconds left of this session's sign-in lock (0 when not locked)."""
    return max(0.0, float(st.session_state.get(LOCKED_UNTIL_KEY, 0.0)) - _clock())


def _lock_sentence(seconds: float) -> str:
    return f"Too many failed sign-ins: wait {math.ceil(seconds)} s before trying again."


def _try_sign_in(path: Path) -> None:
    """The "Sign in" button's callback (runs before the script, so the typed password can be wiped from the
    session at once): check the form's name and password unless the session is locked; sign in, or count a
    failure and leave a message for :func:`_signin_panel` in ``st.session_state[MESSAGE_KEY]``."""
    name = str(st.session_state.get("signin_name") or "").strip()
    password = str(st.session_state.get("signin_password") or "")
    st.session_state["signin_password"] = ""
    if (left := _locked_seconds()) > 0:  # not even checked
        st.session_state[MESSAGE_KEY] = [("warning", _lock_sentence(left))]
        return
    try:
        accounts = _accounts(path)
        ident = verify(accounts, name, password) if password else None
        message = WRONG
    except InputError as exc:  # a password bcrypt cannot use (over 72 bytes), or the file went bad: one sentence
        ident, message = None, str(exc)
    if ident is not None:
        st.session_state[KEY] = ident
        st.session_state[SIGNED_IN_KEY] = _fingerprint(accounts[ident.name])
        st.session_state[FAILURES_KEY] = 0
        st.session_state["signin_name"] = ""
        return
    failures = int(st.session_state.get(FAILURES_KEY, 0)) + 1
    messages = [("error", message)]
    if failures >= settings.SIGNIN_MAX_FAILURES:
        st.session_state[LOCKED_UNTIL_KEY] = _clock() + settings.SIGNIN_LOCK_SECONDS
        failures = 0
        messages.append(("warning", _lock_sentence(settings.SIGNIN_LOCK_SECONDS)))
    st.session_state[FAILURES_KEY] = failures
    st.session_state[MESSAGE_KEY] = messages


def _signin_panel(path: Path) -> Identity | None:
    try:
        _accounts(path)
    except InputError as exc:
        _sign_out()
        st.error(f"{exc} Nobody can sign in or save reviews until it is fixed.")
        return None
    ident = current_identity()
    if ident is not None:
        st.session_state.pop(MESSAGE_KEY, None)
        st.markdown(f"Signed in as **{markdown_inert(plain_text(ident.name, limit=64))}** ({ident.role})")
        if st.button("Sign out", key="signout"):
            _sign_out()
            st.rerun()
        return ident
    _sign_out()  # a stale identity (account removed, password changed) is forgotten
    with st.form("signin"):
        st.text_input("User name", key="signin_name", max_chars=64)
        st.text_input("Password", type="password", key="signin_password", max_chars=256)
        st.form_submit_button("Sign in", on_click=_try_sign_in, args=(path,))
    messages = st.session_state.pop(MESSAGE_KEY, None)
    if messages is None and (left := _locked_seconds()) > 0:
        messages = [("warning", _lock_sentence(left))]
    for kind, text in messages or ():
        (st.error if kind == "error" else st.warning)(text)
    return None
