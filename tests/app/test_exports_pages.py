"""Pages of the exports area: the teaching page's truth beside prediction and its MC1 note."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP

pytestmark = pytest.mark.usefixtures("fake_backend")


def test_teaching_page_shows_truth_beside_prediction(fake_backend):
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/teaching.py").run()
    at.radio(key="tp_mode").set_value("Synthetic phantom explorer").run()
    at.radio(key="tp_grade").set_value(1).run()
    assert not at.exception
    truth = [d.value for d in at.dataframe if "truth" in d.value.columns]
    assert truth, "no truth table"
    table = truth[0]
    assert list(table["level"]) == ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert table.set_index("level").loc["L4-L5", "truth"] == "MC1" and set(table["truth"]) == {"MC0", "MC1"}
    captions = "\n".join(c.value for c in at.caption)
    assert "On this phantom the model agrees with the truth at" in captions
    assert "MC1 cannot be measured on real discs" in captions
    assert "rarely predicts MC1" not in captions + "\n".join(m.value for m in at.markdown)
