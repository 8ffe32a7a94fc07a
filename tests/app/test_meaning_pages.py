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


def test_model_card_opens_with_the_plain_headline_and_the_default_methods_reliability(fake_backend):
    from modic_core.evaluation.headline import headline, load_shipped, plain_headline
    from modic_core.export.style import NOTICE
    from modic_core.ui.comparison import best_method

    at = new_app()
    at.switch_page("pages/model_card.py").run()
    assert_clean(at)
    main = list(at.main)
    first = next(i for i, e in enumerate(main) if type(e).__name__ == "Title")
    docs = load_shipped(folder=ROOT / "weights")
    assert main[first + 1].value == plain_headline(detector=docs["detector"], comparison=docs["comparison"])
    assert "How often it is wrong:" in main[first + 1].value and "in 10" in main[first + 1].value
    assert headline(**docs) in markdown_text(at)  # the README's figures, one home, below the plain lines
    # the reliability diagram opens on the default method (the sidebar's), not on the first one listed
    default = best_method(docs["comparison"])
    assert at.selectbox(key="mc_rel_method").value == default
    assert at.selectbox(key="mc_rel_method").options[0] != method_label(default)
    # the notice the banner shows is not repeated in "Intended use"
    assert markdown_text(at).count(NOTICE) == 1


def test_model_card_without_a_comparison_says_the_summary_is_missing(fake_backend, tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path / "empty"))
    at = new_app()
    at.switch_page("pages/model_card.py").run()
    assert_clean(at)
    assert any("plain-language summary appears once" in i.value for i in at.info)
