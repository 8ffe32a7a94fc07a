"""Uploaded file names are patient data in practice: the case viewer never shows them."""
from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, ROOT

PHI = "DOE_JOHN_MRN4471"


def _page_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [i.value for i in at.info]
    for sb in at.selectbox:
        parts += [str(o) for o in sb.options]  # options as displayed (format_func applied)
    parts += [json.dumps(d.value.astype(str).to_dict()) for d in at.dataframe]
    return "\n".join(parts)


def test_phi_file_names_appear_nowhere_on_the_page(fake_backend):
    fx = ROOT / "tests" / "fixtures" / "spider_pair"
    files = [(f"{PHI}_{r}.mha", (fx / f"{r}.mha").read_bytes(), "application/octet-stream") for r in ("t1", "t2")]
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.radio(key="cv_source").set_value("Upload").run()
    at.file_uploader(key="cv_upload").set_value(files).run()
    assert not at.exception
    text = _page_text(at)
    assert "T1 series, 1 slice" in text  # the neutral label is what the page shows
    assert "DOE_JOHN" not in text and "MRN4471" not in text
