"""The cohort page reads server folders only inside an allow-list (MODIC_SERVER_FOLDERS); off by default."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, ROOT


def _cohort_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/cohort_comparison.py").run()
    return at


def test_server_folder_box_is_off_by_default(fake_backend, tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.delenv("MODIC_SERVER_FOLDERS", raising=False)
    at = _cohort_page()
    assert not at.exception
    assert not [r for r in at.radio if r.key == "cc_kind"] and not [t for t in at.text_input if t.key == "cc_folder"]
    assert any("MODIC_SERVER_FOLDERS" in c.value for c in at.caption)
    assert [u for u in at.get("file_uploader") if u.proto.label == "Zip of a cohort folder"]


def test_server_folder_outside_the_allow_list_is_refused(fake_backend, tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("MODIC_SERVER_FOLDERS", str(tmp_path))
    at = _cohort_page()
    at.radio(key="cc_kind").set_value("Folder on the server").run()
    for outside in (str(ROOT / "demo" / "cohort"), "/", str(tmp_path / ".." / "..")):
        at.text_input(key="cc_folder").set_value(outside).run()
        at.button(key="cc_go").click().run()
        assert not at.exception
        assert any("outside the folders this server may read" in e.value for e in at.error), outside
    assert "cc_result" not in at.session_state
