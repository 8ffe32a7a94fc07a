"""The model card's last section: the simulated site's before/after from weights/simulated_site.json."""
from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, ROOT

pytestmark = pytest.mark.usefixtures("fake_backend")


def test_model_card_shows_the_simulated_site_from_its_json(weights_with_comparison):
    from modic_core.evaluation.site_summary import load_site, site_rows

    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/model_card.py").run()
    assert any("simulated site has not been run" in i.value for i in at.info)
    shutil.copy(ROOT / "weights" / "simulated_site.json", weights_with_comparison / "simulated_site.json")
    at.run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    rows = site_rows(load_site(ROOT / "weights" / "simulated_site.json"))
    assert list(table["difference (95 % CI)"]) == [r.difference for r in rows]
    assert list(table["verdict"]) == [r.verdict for r in rows]
    assert "trained by the shipped recipe on 95 studies; 20 others" in "\n".join(m.value for m in at.markdown)
