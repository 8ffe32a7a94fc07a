"""AppTest of the label store's pages: the review queue (progress, table, a click opens the case viewer on the
stored study and level), the case viewer's "Stored study" input, and the cohort page's reviewer agreement."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from modic_core.datasets.synthetic import make_phantom
from modic_core.labels import LabelStore
from modic_core.labels.files import study_key
from modic_core.ui.stored import stored_study
from tests.app import fakes
from tests.app.helpers import APP, default_method

pytestmark = pytest.mark.usefixtures("fake_backend")


def _phantom(seed: int):
    return make_phantom(seed=seed, shape=(3, 96, 96), spacing=(4.0, 2.5, 2.5), n_levels=4).to_study()


def _fill(store: LabelStore, *, seeds=(0, 1)) -> list[tuple[str, list[str]]]:
    """Store the phantoms with the analysis double's report; return [(study key, level names)]."""
    out = []
    for seed in seeds:
        study = _phantom(seed)
        report = fakes.FakeStudyAnalysis(study).report(default_method(), 0.5)
        stored, _ = store.add_study(study=study, analysis=report)
        out.append((stored.id, [lv.level for lv in report.levels]))
    return out


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MODIC_DATABASE_URL", raising=False)
    return tmp_path / "data"


def _app(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    return at.switch_page(page).run()


def _viewer_spec(at: AppTest) -> dict:
    comps = at.get("component_instance")
    assert len(comps) == 1, f"{len(comps)} picture components"
    return json.loads(comps[0].proto.json_args)["spec"]


def test_an_empty_store_says_how_studies_get_there(data_dir):
    at = _app("pages/review_queue.py")
    assert not at.exception and not at.error
    assert any("modic-labels import" in i.value and "Case viewer" in i.value for i in at.info)
    assert not at.dataframe


def test_the_queue_lists_stored_levels_with_progress_and_a_click_opens_the_viewer(data_dir):
    with LabelStore.open() as store:
        (a, a_levels), (b, b_levels) = _fill(store)
        for level in a_levels:
            store.add_review(study_id=a, level=level, reviewer="dr a", grade="MC0")
    at = _app("pages/review_queue.py")
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    n = len(a_levels) + len(b_levels)
    assert len(table) == n and set(table["study"]) == {a, b}
    assert list(table["reviewed"]) == [False] * len(b_levels) + [True] * len(a_levels)  # unreviewed first
    progress = at.get("progress")[0].proto.text
    assert progress.startswith(f"{len(a_levels)} of {n} levels reviewed by anyone (1 of 2 studies complete)")
    first = table.iloc[0]
    at.session_state["rq_table"] = {"selection": {"rows": [0], "columns": []}}  # a click on the first row
    at.run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Case viewer"
    assert at.radio(key="cv_source").value == "Stored study"
    assert at.selectbox(key="cv_stored").value == first["study"]
    spec = _viewer_spec(at)
    assert spec["focus"] == first["level"]  # the level opened is the selected one
    assert at.session_state[f"cv_focus_{spec['revision']}"] == first["level"]
    assert first["level"] in [lv["level"] for lv in spec["levels"]]
    assert any(f"**Study** `{first['study']}`" in m.value for m in at.markdown)  # the key the queue lists it under
    at.switch_page("pages/review_queue.py").run()  # back to the queue: it stays there (the click was used up)
    assert not at.exception and at.title[0].value == "Review queue" and len(at.dataframe[0].value) == n


def test_a_level_opened_from_the_queue_is_the_review_panels_current_level(data_dir):
    with LabelStore.open() as store:
        ((key, levels),) = _fill(store, seeds=(0,))
    at = _app("pages/review_queue.py")
    table = at.dataframe[0].value
    row = next(i for i, lv in enumerate(table["level"]) if lv != levels[0])  # not the panel's default first level
    at.session_state["rq_table"] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    assert not at.exception and not at.error
    fp = _viewer_spec(at)["revision"]
    assert levels[at.radio(key=f"rv_cur_{fp}").value] == table["level"][row]


def test_the_stored_input_lists_keys_only_and_loads_the_stored_pixels(data_dir):
    with LabelStore.open() as store:
        [(a, _)] = _fill(store, seeds=(2,))
        images = store.images_dir
    loaded = stored_study(str(images), a)
    assert study_key(loaded) == a  # the stored pixels exactly: reviewing it again keeps its key
    at = _app("pages/case_viewer.py")
    at.radio(key="cv_source").set_value("Stored study").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="cv_stored").options == [a]
    assert _viewer_spec(at)["levels"]


def test_the_stored_input_with_an_empty_store_says_how_to_fill_it(data_dir):
    at = _app("pages/case_viewer.py")
    at.radio(key="cv_source").set_value("Stored study").run()
    assert not at.exception and not at.error
    assert any("holds no study yet" in i.value and "modic-labels import" in i.value for i in at.info)


def _graded_store(*, reviewers: tuple[str, ...]) -> tuple[list[tuple[str, list[str]]], dict]:
    """Three stored phantoms; every level graded by each reviewer; dr b differs from dr a on every third level."""
    grades = {}
    with LabelStore.open() as store:
        stored = _fill(store, seeds=(3, 4, 5))
        k = 0
        for study, levels in stored:
            for level in levels:
                ga = ("MC0", "MC1", "MC2")[k % 3]
                gb = ga if k % 3 else "MC2"
                grades[(study, level)] = {"dr a": ga, "dr b": gb}
                for who, g in (("dr a", ga), ("dr b", gb)):
                    if who in reviewers:
                        store.add_review(study_id=study, level=level, reviewer=who, grade=g)
                k += 1
    return stored, grades


def _frame(at: AppTest, column: str):
    """The table that has ``column`` (AppTest does not give st.dataframe's key back), else None."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    return found[-1] if found else None


def test_the_cohort_page_shows_kappa_between_two_reviewers_and_the_levels_where_they_differ(data_dir):
    from modic_core.labels.agreement import agreement
    from modic_core.ui.agreement import kappa_text

    stored, grades = _graded_store(reviewers=("dr a", "dr b"))
    at = _app("pages/cohort_comparison.py")
    assert not at.exception and not at.error
    assert "Reviewer agreement (label store)" in [h.value for h in at.header]
    pairs = _frame(at, "reviewer A")
    with LabelStore.open() as store:
        expected = agreement(store, a="dr a", b="dr b", n_boot=1000, seed=0)
    assert expected.kappa is not None and expected.n_levels >= 10
    assert list(pairs["kappa"]) == [kappa_text(expected)] and pairs["kappa"][0][0].isdigit()
    assert list(_frame(at, "reviewer")["reviewer"]) == ["dr a", "dr b"]
    assert len(at.get("plotly_chart")) >= 1  # the pair's confusion matrix
    diff = _frame(at, "grade by dr a")
    differ = {k for k, g in grades.items() if g["dr a"] != g["dr b"]}
    assert differ and set(zip(diff["study"], diff["level"])) == differ
    assert "Kappa of dr b with dr a" in "\n".join(m.value for m in at.markdown)
    at.selectbox(key="ag_cm_b").select_index(1).run()  # the confusion matrix of dr a with the model
    assert not at.exception and not at.error
    assert any("the model (top grade)" in c.proto.spec for c in at.get("plotly_chart"))


def test_the_cohort_page_with_one_reviewer_says_why_there_is_no_agreement_between_reviewers(data_dir):
    _graded_store(reviewers=("dr a",))
    at = _app("pages/cohort_comparison.py")
    assert not at.exception and not at.error
    assert any("Only one reviewer (dr a)" in i.value and "at least two" in i.value for i in at.info)
    assert _frame(at, "reviewer A") is None and _frame(at, "grade by dr a") is None


def test_a_named_reviewer_sees_the_levels_they_have_not_reviewed_first(data_dir):
    from modic_core.labels.access import Identity

    with LabelStore.open() as store:
        [(a, levels)] = _fill(store, seeds=(6,))
        store.add_review(study_id=a, level=levels[0], reviewer="dr a", grade="MC1")
        store.add_review(study_id=a, level=levels[1], reviewer="dr b", grade="MC0")
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["identity"] = Identity(name="dr b", role="reviewer")
    at.run()
    at.switch_page("pages/review_queue.py").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["reviewed"]) == [False] * (len(levels) - 1) + [True]  # dr a's level is not reviewed by dr b
    assert table["level"].iloc[-1] == levels[1]
    assert at.get("progress")[0].proto.text.startswith(f"1 of {len(levels)} levels reviewed by dr b")
