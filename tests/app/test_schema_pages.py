"""A shipped JSON of a version this program does not read: the pages say so, without a traceback."""
from __future__ import annotations

import json

from tests.app.test_pages import errors, new_app


def _bump_version(path, version=2):
    doc = json.loads(path.read_text())
    doc["schema_version"] = version
    path.write_text(json.dumps(doc))


def test_unknown_comparison_version_is_a_message_on_both_pages(fake_backend, weights_with_comparison):
    _bump_version(weights_with_comparison / "normalization_comparison.json")
    at = new_app()
    assert not at.exception
    assert at.radio(key="normalization").value == "zscore"  # the sidebar falls back to the default
    at.switch_page("pages/cohort_comparison.py").run()
    assert not at.exception
    msg = errors(at)
    assert len(msg) == 1 and "normalization_comparison.json" in msg[0] and "version 2" in msg[0] and "version 1" in msg[0]
    assert len(at.get("plotly_chart")) == 0
    at.switch_page("pages/model_card.py").run()
    assert not at.exception
    assert any("normalization_comparison.json" in m and "version 2" in m for m in errors(at))


def test_unknown_card_version_is_a_message_on_the_model_card(fake_backend, weights_with_comparison):
    _bump_version(weights_with_comparison / "detector.json", 5)
    at = new_app()
    at.switch_page("pages/model_card.py").run()
    assert not at.exception
    msg = errors(at)
    assert len(msg) == 1 and "detector.json" in msg[0] and "'detector_card' version 5 is not supported" in msg[0]
    overview = at.dataframe[0].value
    assert overview.loc[overview.model == "detector", "training record"].item() == "unreadable (see below)"
