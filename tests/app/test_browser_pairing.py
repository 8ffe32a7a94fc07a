"""Real-browser test (issue #22, items 3-4): uploads that mix two studies are never graded without the user's choice.

``tests/app/serve_fake.py`` starts the real ``app.py`` headless on 127.0.0.1 with the analysis double
(the choice of series is under test, not the models), driven by Debian's Chromium through Playwright
(``/usr/bin/chromium``, nothing downloaded). Two uploads:

1. two studies' ``t1.mha``/``t2.mha`` dropped together (four files, two names twice): the page lists the
   four series with their upload order and thumbnails and grades nothing until "Grade this pair";
2. a DICOM pair whose T2 comes from another study (other study UID, date and age): the page shows the
   values and grades only after "Grade anyway"; the results then carry the sentence of that choice.

Screenshots go to ``artifacts/browser/`` (``MODIC_ARTIFACTS`` overrides): ``20_picker.png``,
``21_picked_and_graded.png``, ``22_grade_anyway.png``, ``23_graded_anyway.png``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from modic_core.bench.serve import start_streamlit, stop
from modic_core.bench.browser import CHROMIUM, launch_chromium
from tests.app.helpers import choose_upload, settle
from tests.ui.test_upload_picker import mha_study, two_studies_dicom

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("browser_pairing") / "streamlit.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MKL_NUM_THREADS="1")
    proc, url = start_streamlit(ROOT, log_path, env=env, command=[str(ROOT / "tests" / "app" / "serve_fake.py")],
                                timeout_s=90)
    try:
        yield {"url": url, "log": log_path}
    finally:
        stop(proc)


def _payload(files) -> list[dict]:
    return [{"name": name, "mimeType": "application/octet-stream", "buffer": data} for name, data, _ in files]


def _choose_option(page, label: str, needle: str) -> None:
    """Open the selectbox ``label`` and click the option containing ``needle``."""
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).first.click()
    page.get_by_role("option").filter(has_text=needle).first.click()
    settle(page)


def test_two_studies_uploaded_together_are_graded_only_after_the_users_choice(server, artifacts, tmp_path):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1600})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server["url"], wait_until="domcontentloaded")
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(page)

            # 1. four MHA files of two studies: a list, pickers, nothing graded
            choose_upload(page)
            uploader = page.locator("[data-testid='stFileUploader'] input[type='file']")
            uploader.set_input_files(_payload(mha_study(tmp_path, 3) + mha_study(tmp_path, 4)))
            page.get_by_role("button", name="Grade this pair").wait_for(timeout=120_000)
            settle(page, 1500)
            body = page.inner_text("body")
            assert "holds 4 series" in body and "Paired automatically" not in body
            assert page.get_by_text("Per-level results").count() == 0  # nothing graded
            assert page.locator("[data-testid='stDataFrame']").count() == 1
            page.screenshot(path=str(artifacts / "20_picker.png"), full_page=True)
            _choose_option(page, "T1 series", "file 3 of the upload")
            _choose_option(page, "T2 series", "file 4 of the upload")
            assert page.get_by_text("Per-level results").count() == 0  # a choice alone grades nothing
            page.get_by_role("button", name="Grade this pair").click()
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(page, 1000)
            picture = page.frame_locator("iframe[title*='modic_case_figure']").last
            picture.locator("#level_table tbody tr").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2000)  # the picture draws its slices in the browser
            page.screenshot(path=str(artifacts / "21_picked_and_graded.png"), full_page=True)

            # 2. a DICOM pair of two studies: the values, "Grade anyway", and the choice on the results
            page.goto(server["url"], wait_until="domcontentloaded")  # a fresh session
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(page)
            choose_upload(page)
            uploader = page.locator("[data-testid='stFileUploader'] input[type='file']")
            uploader.set_input_files(_payload(two_studies_dicom()))
            page.get_by_role("button", name="Grade anyway").wait_for(timeout=120_000)
            settle(page, 1000)
            body = page.inner_text("body")
            assert "T1: 45Y O, study of 2016-06-08; T2: 53Y O, study of 2016-03-09" in body
            assert page.get_by_text("Per-level results").count() == 0
            page.screenshot(path=str(artifacts / "22_grade_anyway.png"), full_page=True)
            page.get_by_role("button", name="Grade anyway").click()
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(page, 1000)
            assert "Graded although T1 and T2 come from different studies" in page.inner_text("body")
            page.screenshot(path=str(artifacts / "23_graded_anyway.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    log = server["log"].read_text()
    assert "Traceback" not in log and "45Y" not in log and "2016-06-08" not in log
