"""The teaching page with the shipped models: the quiz (grade first; after Check the truth, the model's
grade, set, probabilities and Grad-CAM, and a running score) and the case browser's groups."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from modic_core.ui.quiz import quiz_cases
from modic_core.ui.teaching_cases import cases
from tests.app.helpers import APP
from tests.shipped import models_ready

shipped = pytest.mark.skipif(not models_ready(), reason="shipped weights not installed")


def _text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [e.value for e in at.error] + [s.value for s in at.success]
                     + [w.value for w in at.warning])


def _chart_titles(at: AppTest) -> list[str]:
    out = []
    for c in at.get("plotly_chart"):
        title = json.loads(c.proto.spec).get("layout", {}).get("title", {})
        out.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return out


@pytest.fixture
def teaching():
    from modic_core.ui.backend import set_backend_factory

    set_backend_factory(None)  # the shipped pipeline
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.switch_page("pages/teaching.py").run()
    assert not at.exception
    return at


@shipped
def test_quiz_shows_nothing_of_the_model_before_check_then_truth_model_and_score(teaching):
    at = teaching
    assert at.radio(key="tp_mode").value == "Quiz"
    pool = quiz_cases()
    example = next(i for i, c in enumerate(pool) if c.key == "spider-104/L2-L3")  # truth MC2, read MC2
    at.selectbox(key="tq_case").set_value(example).run()
    assert not at.exception
    # before Check: the two images of the level, no model, no truth, Check disabled until a grade is picked
    assert _chart_titles(at) == ["T1", "T2"]
    text = _text(at)
    assert "model" not in text.lower().replace("the model is shown", "") and "Truth" not in text
    assert "Grad-CAM" not in "".join(_chart_titles(at)) and "No case checked yet." in text
    assert at.button(key="tq_check").disabled
    at.radio(key=f"tq_answer_{example}").set_value("MC0").run()
    assert "Truth" not in _text(at) and not at.button(key="tq_check").disabled
    at.button(key="tq_check").click().run()
    assert not at.exception
    text = _text(at)
    assert "Your grade: **MC0** — the truth is MC2. This was SPIDER study 104 · L2-L3 (MC2)." in text
    assert "Truth: **MC2** · model: **MC2** (right) · prediction set: **" in text and "P(MC2) 0.84" in text
    assert _chart_titles(at) == ["T1", "T2", "Grad-CAM (MC2)"]
    assert "**Score:** 0 of 1 right (0 %)." in text
    # a failure case: graded right by the student, labelled with the model's failure and why
    failure = next(i for i, c in enumerate(pool) if c.key == "spider-4/L3-L4")  # truth MC2, read MC1
    at.selectbox(key="tq_case").set_value(failure).run()
    assert "Where the model fails" not in _text(at)
    at.radio(key=f"tq_answer_{failure}").set_value("MC2").run()
    at.button(key="tq_check").click().run()
    text = _text(at)
    assert "Your grade: **MC2** — right." in text and "model: **MC1** (wrong)" in text
    assert "Where the model fails, and why." in text and pool[failure].why in text
    assert "**Score:** 1 of 2 right (50 %)." in text
    assert at.button(key="tq_check").disabled and at.radio(key=f"tq_answer_{failure}").disabled  # answered: locked
    at.selectbox(key="tq_case").set_value(example).run()  # back to the first case: still answered, counted once
    assert "Your grade: **MC0**" in _text(at) and "**Score:** 1 of 2 right (50 %)." in _text(at)


@shipped
def test_case_browser_shows_examples_by_source_and_failures_with_why(teaching):
    at = teaching
    at.radio(key="tp_mode").set_value("Case browser").run()
    groups = at.radio(key="tb_group").options
    assert groups == ["Real studies (SPIDER)", "Lesion-inserted (real anatomy + synthetic MC1)", "Synthetic phantom",
                      "Where the model fails, and why"]
    for k, group in enumerate(groups[:3]):
        at.radio(key="tb_group").set_value(group).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert "(right)" in _text(at) and len(at.get("plotly_chart")) == 3
        assert len(at.selectbox(key=f"tb_case_{k}").options) == len(cases(source=["real", "inserted", "phantom"][k],
                                                                            role="example"))
    at.radio(key="tb_group").set_value(groups[3]).run()
    assert not at.exception
    failures = cases(role="failure")
    assert len(at.selectbox(key="tb_case_3").options) == len(failures)
    assert [e.value for e in at.error] == [f"**Where the model fails, and why.** {failures[0].why}"]
    table = at.dataframe[0].value
    assert len(table) == len(failures) and list(table["truth"]) == [c.truth for c in failures]
    assert table["model (catalogue run)"].iloc[0] == failures[0].measured.text


def test_quiz_and_browser_without_a_matching_detection_say_so(fake_backend):
    """The test double's boxes are not where the cases' discs are: the page says the level was not found."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/teaching.py").run()
    at.radio(key="tq_answer_0").set_value("MC2").run()
    at.button(key="tq_check").click().run()
    assert not at.exception
    assert "the detector found no region at this level" in _text(at) and "**Score:** " in _text(at)
    at.radio(key="tp_mode").set_value("Case browser").run()
    for group in at.radio(key="tb_group").options:
        at.radio(key="tb_group").set_value(group).run()
        assert not at.exception
