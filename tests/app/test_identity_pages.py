"""AppTest of the sidebar's identity box (:mod:`modic_core.ui.identity`): the reviewer-name box without
``MODIC_AUTH_FILE``; with it, the sign-in form (wrong password, reviewer and viewer sign-in, sign out,
throttling after 5 failures, a bad accounts file failing closed). Hashes use bcrypt cost 4."""
from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from sqlalchemy import select
from sqlalchemy.orm import Session

from modic_core.labels import LabelStore
from modic_core.labels.models import AuditEntry
from modic_core.labels.access import Identity, PermissionDenied, require_writer
from modic_core.ui import identity
from tests.app.test_pages import new_app

pytestmark = pytest.mark.usefixtures("fake_backend")

WRONG = "Wrong user name or password."


def _hash(pw: str) -> str:
    return bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def accounts(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text("".join(f'[[user]]\nname = "{n}"\nrole = "{r}"\npassword = "{_hash(p)}"\n'
                            for n, r, p in [("dr-a", "reviewer", "pw-a"), ("student", "viewer", "pw-s")]))
    monkeypatch.setenv("MODIC_AUTH_FILE", str(path))
    return path


def sidebar_text(at) -> str:
    return "\n".join(str(m.value) for m in [*at.sidebar.markdown, *at.sidebar.caption, *at.sidebar.error,
                                             *at.sidebar.warning])


def button(at, label: str):
    found = [b for b in at.sidebar.button if b.label == label]
    assert found, f"no sidebar button {label!r}"
    return found[0]


def sign_in(at, name: str, password: str):
    at.sidebar.text_input(key="signin_name").input(name)
    at.sidebar.text_input(key="signin_password").input(password)
    return button(at, "Sign in").click().run()


def test_without_the_variable_the_name_box_names_a_reviewer(monkeypatch):
    monkeypatch.delenv("MODIC_AUTH_FILE", raising=False)
    at = new_app()
    assert not at.exception
    assert [t.label for t in at.sidebar.text_input] == ["Your name (for reviews)"]
    assert not [b for b in at.sidebar.button if b.label == "Sign in"]
    at.sidebar.text_input(key="identity_name").input("  Dr Local ").run()
    assert at.session_state["identity"] == Identity(name="Dr Local", role="reviewer")
    assert "Reviewing as **Dr Local** (reviewer)" in sidebar_text(at)


def test_wrong_password_then_reviewer_signs_in_and_out(accounts, tmp_path):
    at = new_app()
    assert not at.exception
    assert [t.label for t in at.sidebar.text_input] == ["User name", "Password"]
    assert at.sidebar.text_input(key="signin_password").proto.type == 1  # TextInput.Type.PASSWORD
    assert "identity" not in at.session_state

    for name, pw in (("dr-a", "pw-s"), ("nobody", "pw-a")):  # wrong password; unknown name: the same sentence
        sign_in(at, name, pw)
        assert not at.exception
        assert [e.value for e in at.sidebar.error] == [WRONG]
        assert "identity" not in at.session_state
        assert at.session_state["signin_password"] == ""  # the form is cleared on submit: no password kept

    sign_in(at, " dr-a ", "pw-a")
    assert not at.exception and [e.value for e in at.sidebar.error] == []
    assert at.session_state["identity"] == Identity(name="dr-a", role="reviewer")
    assert "Signed in as **dr-a** (reviewer)" in sidebar_text(at)
    assert not at.sidebar.text_input  # the form is gone
    writer = require_writer(at.session_state["identity"])  # what the review panel calls before a write
    with LabelStore.open(f"sqlite:///{tmp_path / 'labels.sqlite3'}", data_dir=tmp_path) as store:
        store.register_model(name="v1", card={}, metrics={}, actor=writer.name)
        with Session(store.engine) as session:
            assert session.scalars(select(AuditEntry.actor)).all() == ["dr-a"]  # the account's name, not what was typed

    button(at, "Sign out").click().run()
    assert not at.exception
    assert "identity" not in at.session_state
    assert [t.label for t in at.sidebar.text_input] == ["User name", "Password"]


def test_viewer_signs_in_with_role_viewer_and_cannot_write(accounts):
    at = new_app()
    sign_in(at, "student", "pw-s")
    assert not at.exception
    ident = at.session_state["identity"]
    assert ident == Identity(name="student", role="viewer")
    assert "Signed in as **student** (viewer)" in sidebar_text(at)
    with pytest.raises(PermissionDenied, match="is a viewer account"):
        require_writer(ident)


def test_five_failures_lock_the_form_for_30_seconds(accounts, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(identity, "_clock", lambda: now[0])
    checks = []
    real_verify = identity.verify
    monkeypatch.setattr(identity, "verify", lambda *a: checks.append(a[1]) or real_verify(*a))
    at = new_app()
    for _ in range(5):
        sign_in(at, "dr-a", "guess")
    assert not at.exception
    assert [w.value for w in at.sidebar.warning] == ["Too many failed sign-ins: wait 30 s before trying again."]
    assert len(checks) == 5

    now[0] += 10
    sign_in(at, "dr-a", "pw-a")  # the right password, but locked: not even checked
    assert "identity" not in at.session_state and len(checks) == 5
    assert [w.value for w in at.sidebar.warning] == ["Too many failed sign-ins: wait 20 s before trying again."]

    now[0] += 21
    sign_in(at, "dr-a", "pw-a")
    assert at.session_state["identity"] == Identity(name="dr-a", role="reviewer") and len(checks) == 6
    assert not at.sidebar.warning


def test_a_bad_or_changed_accounts_file_fails_closed(accounts):
    at = new_app()
    sign_in(at, "dr-a", "pw-a")
    assert "Signed in as **dr-a** (reviewer)" in sidebar_text(at)

    text = accounts.read_text()
    accounts.write_text(text.replace('role = "reviewer"', 'role = "viewer"'))  # demoted: the file's role counts
    at.run()
    assert "Signed in as **dr-a** (viewer)" in sidebar_text(at)

    new_password = text.replace(text.split('"')[5], _hash("pw-new"))  # dr-a's hash replaced (a reset)
    accounts.write_text(new_password + "\n")
    at.run()
    assert "identity" not in at.session_state and "Signed in" not in sidebar_text(at)  # signed out
    sign_in(at, "dr-a", "pw-new")
    assert at.session_state["identity"] == Identity(name="dr-a", role="reviewer")

    accounts.write_text(text.replace('role = "reviewer"', 'role = "editor"') + "# changed\n")
    at.run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and "unknown role 'editor'" in errors[0]
    assert errors[0].endswith("Nobody can sign in or save reviews until it is fixed.")
    assert "identity" not in at.session_state and not at.sidebar.text_input  # nobody, and no form

    accounts.unlink()
    at.run()
    assert [e.value for e in at.sidebar.error][0].startswith("The accounts file 'accounts.toml' does not exist")
    assert "identity" not in at.session_state
