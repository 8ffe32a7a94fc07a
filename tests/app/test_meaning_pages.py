"""AppTest: meaning next to numbers (issue 26 item 5) -- the case viewer's sentence beside a call and the model
card's plain-language opening; with the analysis double of ``fakes.py`` and the shipped weights."""
from __future__ import annotations

import pytest

from tests.app.helpers import ROOT, default_method
from tests.app.test_pages import assert_clean, by_prefix, level_table, markdown_text, new_app

from modic_core.evaluation.call_meaning import load_call_table, no_data_sentence
from modic_core.export.documents import method_label

pytestmark = pytest.mark.usefixtures("fake_backend")


def test_focused_level_says_what_its_call_means_with_the_methods_own_figures(fake_backend):
    at = new_app()
    by_prefix(at.selectbox, "cv_focus_").set_value("L3-L4").run()
    assert_clean(at)
    row = level_table(at).set_index("level").loc["L3-L4"]
    grade = row["prediction"]
    table = load_call_table(method=default_method(), folder=ROOT / "weights")
    expected = table.meaning(grade=grade, confidence=float(row[f"P({grade})"])).sentence
    assert f"*What this call means:* {expected}" in markdown_text(at)
    assert "cross-validation" in expected
    # a method that ships no out-of-fold predictions says so instead of borrowing the z-score figures
    at.radio(key="normalization").set_value("percentile").run()
    assert_clean(at)
    by_prefix(at.selectbox, "cv_focus_").set_value("L3-L4").run()
    text = markdown_text(at)
    assert no_data_sentence(method_label("percentile")) in text
    assert expected not in text
