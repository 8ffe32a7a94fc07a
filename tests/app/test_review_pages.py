"""AppTest of the case viewer's review panel (modic_core/ui/review.py), with the analysis double of ``fakes.py``.

The double shows five levels at threshold 0.5 (L1-L2 .. L5-S1, top to bottom). Each test has its own
label store (a temp ``MODIC_DATA_DIR``): what a save wrote is read back with :class:`LabelStore`.
"""
from __future__ import annotations

import re

import pytest

from modic_core.labels import LabelStore
from modic_core.labels.access import Identity
from modic_core.ui.identity import SIGN_IN_FIRST
from tests.app.test_pages import assert_clean, level_table, new_app, study_fp

pytestmark = pytest.mark.usefixtures("fake_backend")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("MODIC_DATA_DIR", str(folder))
    return folder


def stored_reviews(folder) -> list:
    with LabelStore.open(data_dir=folder) as store:
        return [r for s in store.list_studies() for r in store.reviews(s.id)]


def stored_studies(folder) -> list:
    with LabelStore.open(data_dir=folder) as store:
        return store.list_studies()


def button(at, name: str, fp: str):
    return at.button(key=f"rv_{name}_{fp}")


def click(at, name: str, fp: str):
    return button(at, name, fp).click().run()


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_review_three_levels_and_save(data_dir):
    at = new_app()
    at.text_input(key="identity_name").input("Dr Ana").run()
    fp = study_fp(at)
    predictions = list(level_table(at)["prediction"])
    # the keys are wired: 0-3 grade, a agrees, n/p move (a key press is the button's click)
    assert {g: button(at, f"g_{g}", fp).proto.shortcut for g in ("MC0", "MC1", "MC2", "MC3")} == \
        {"MC0": "0", "MC1": "1", "MC2": "2", "MC3": "3"}
    assert (button(at, "agree", fp).proto.shortcut, button(at, "next", fp).proto.shortcut,
            button(at, "prev", fp).proto.shortcut) == ("a", "n", "p")

    click(at, "agree", fp)                        # L1-L2: the model's grade, one click
    click(at, "next", fp)                         # "n"
    click(at, "g_not_gradable", fp)               # L2-L3: picked
    click(at, "next", fp)
    click(at, "g_MC3", fp)                        # L3-L4: "3" ...
    click(at, "prev", fp)                         # "p"
    click(at, "next", fp)
    click(at, "g_MC0", fp)                        # ... then "0": the last pick counts
    at.text_input(key=f"rv_comment_{fp}_L3-L4").input("endplate unclear").run()
    assert stored_studies(data_dir) == []         # nothing is written before "Save review"
    click(at, "save", fp)
    assert_clean(at)
    saved = [s for s in texts(at.success) if s.startswith("Saved")]
    assert len(saved) == 1 and re.fullmatch(r"Saved 3 levels as Dr Ana · \d\d:\d\d UTC · label store key `[0-9a-f]{16}`", saved[0]), saved

    rows = stored_reviews(data_dir)
    assert [(r.level, r.grade, r.reviewer, r.comment, r.corrected_level, r.box) for r in rows] == [
        ("L1-L2", predictions[0], "Dr Ana", "", None, None),
        ("L2-L3", "not_gradable", "Dr Ana", "", None, None),
        ("L3-L4", "MC0", "Dr Ana", "endplate unclear", None, None)]
    studies = stored_studies(data_dir)
    assert len(studies) == 1
    with LabelStore.open(data_dir=data_dir) as store:
        analyses = store.analyses(studies[0].id)
    assert len(analyses) == 1 and {r.analysis_id for r in rows} == {analyses[0].id}

    # saving again with nothing changed writes nothing; a changed level is appended, the study not stored twice
    click(at, "save", fp)
    assert len(stored_reviews(data_dir)) == 3
    click(at, "g_MC2", fp)
    click(at, "save", fp)
    rows = stored_reviews(data_dir)
    assert [(r.level, r.grade) for r in rows[3:]] == [("L3-L4", "MC2")]
    assert len(stored_studies(data_dir)) == 1
    with LabelStore.open(data_dir=data_dir) as store:
        assert len(store.analyses(studies[0].id)) == 1


def test_renamed_level_and_moved_box_are_recorded(data_dir):
    at = new_app()
    at.text_input(key="identity_name").input("Ana").run()
    fp = study_fp(at)
    at.button(key=f"cv_names_up_{fp}").click().run()  # every name one level up: L1-L2 is shown as T12-L1
    click(at, "g_MC1", fp)
    x1 = at.number_input(key=f"rv_box_x1_{fp}_L1-L2")
    x1.set_value(x1.value + 7).run()
    click(at, "save", fp)
    (row,) = stored_reviews(data_dir)
    assert (row.level, row.corrected_level, row.grade) == ("L1-L2", "T12-L1", "MC1")
    assert row.box is not None and row.box[2] == pytest.approx(x1.value)


def test_prefilled_with_this_reviewers_latest_review(data_dir):
    at = new_app()
    at.text_input(key="identity_name").input("Ana").run()
    fp = study_fp(at)
    click(at, "g_MC2", fp)
    click(at, "save", fp)
    again = new_app()  # a new session of the same person
    again.text_input(key="identity_name").input("Ana").run()
    assert "| ▶ | L1-L2 | " in "\n".join(m.value for m in again.markdown)
    assert any("your grade: **MC2**" in m.value for m in again.markdown)
    other = new_app()
    other.text_input(key="identity_name").input("Ben").run()  # someone else's review is not theirs
    assert any("your grade: **—**" in m.value for m in other.markdown)


def _grade_and_save(at) -> None:
    fp = study_fp(at)
    click(at, "g_MC2", fp)
    click(at, "save", fp)


def test_no_name_is_refused_and_nothing_written(data_dir):
    at = new_app()
    _grade_and_save(at)
    assert any("Sign in (or give your reviewer name) before saving a review." in e for e in texts(at.error))
    assert not [s for s in texts(at.success) if s.startswith("Saved")]
    assert stored_studies(data_dir) == []


def test_viewer_is_refused_and_nothing_written(data_dir):
    at = new_app(run=False)
    at.session_state["identity"] = Identity(name="v", role="viewer")
    at.run()
    assert any("viewer account" in c.value for c in at.caption)  # said before any click
    _grade_and_save(at)
    assert any("viewer account" in e for e in texts(at.error))
    assert stored_studies(data_dir) == []


def test_accounts_file_and_nobody_signed_in_is_refused(data_dir, tmp_path, monkeypatch):
    import bcrypt

    accounts = tmp_path / "accounts.toml"
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    accounts.write_text(f'[[user]]\nname = "rev"\nrole = "reviewer"\npassword = "{hashed}"\n')
    monkeypatch.setenv("MODIC_AUTH_FILE", str(accounts))
    at = new_app()
    # signed out: no page at all (no viewer, no review panel), only the sign-in form and one sentence
    assert [i.value for i in at.info if "Sign in" in i.value] == [SIGN_IN_FIRST]
    assert not at.title and not [b for b in at.button if b.label == "Save review"]
    assert stored_studies(data_dir) == []
    # a session whose identity is not a signed-in account of the file (e.g. a forged one) is refused the same way
    at.session_state["identity"] = Identity(name="rev", role="reviewer")
    at.run()
    assert not at.title and stored_studies(data_dir) == []


def test_without_accounts_the_hint_names_the_sidebar_name_box(data_dir):
    at = new_app()
    hints = [c.value for c in at.caption if "to save a review" in c.value]
    assert hints == ['Type your name in the sidebar ("Your name (for reviews)") to save a review.'], hints


def test_keys_pressed_quickly_act_on_the_level_the_pointer_reaches(data_dir):
    """"n" then "2" reaching the server in one rerun grade the next level, not the one drawn before."""
    at = new_app()
    at.text_input(key="identity_name").input("Ana").run()
    fp = study_fp(at)
    button(at, "next", fp).click()
    button(at, "g_MC2", fp).click()
    at.run()
    click(at, "save", fp)
    assert [(r.level, r.grade) for r in stored_reviews(data_dir)] == [("L2-L3", "MC2")]


def test_a_missed_level_is_added_with_its_box_and_grade(data_dir):
    at = new_app()
    at.text_input(key="identity_name").input("Ana").run()
    fp = study_fp(at)
    at.selectbox(key=f"rv_add_name_{fp}").select("T12-L1")
    for corner, value in (("x0", 10.0), ("y0", 5.0), ("x1", 60.0), ("y1", 20.0)):
        at.number_input(key=f"rv_add_{corner}_{fp}").set_value(value)
    at.selectbox(key=f"rv_add_grade_{fp}").select("MC1")
    click(at, "add", fp)
    assert "T12-L1 (added)" in "\n".join(m.value for m in at.markdown)
    at.number_input(key=f"rv_add_x1_{fp}").set_value(5.0)  # x1 < x0: refused with one sentence
    click(at, "add", fp)
    assert any("is not inside" in e for e in texts(at.error))
    click(at, "save", fp)
    (row,) = stored_reviews(data_dir)
    assert (row.level, row.grade, row.corrected_level, row.box) == ("T12-L1", "MC1", None, (10.0, 5.0, 60.0, 20.0))


def test_a_new_reviewer_starts_from_their_own_review_not_the_previous_ones(data_dir):
    at = new_app()
    at.text_input(key="identity_name").input("Ana").run()
    fp = study_fp(at)
    click(at, "g_MC3", fp)
    at.text_input(key=f"rv_comment_{fp}_L1-L2").input("Ana's note").run()
    at.button(key="identity_change").click().run()  # same browser, another person
    at.text_input(key="identity_name").input("Ben").run()
    assert any("your grade: **—**" in m.value for m in at.markdown)
    assert at.text_input(key=f"rv_comment_{fp}_L1-L2").value == ""
    click(at, "save", fp)
    assert stored_reviews(data_dir) == []
