"""Real-browser test: ``streamlit run`` headless on 127.0.0.1, driven by Debian's Chromium via Playwright.

It opens the app (which shows the first demo case without any click), uploads the demo phantom
DICOM pair (all files of ``demo/phantom_dicom/t1`` and ``t2``), waits for the result table,
raises the detector threshold and checks the table shrinks, focuses a level, then visits the
other pages. Screenshots go to ``artifacts/browser/`` (``MODIC_ARTIFACTS`` overrides).

It always runs the real ``app.py`` (with its ``pages/`` folder, as ``make run`` does). With trained
models installed it uses them; without (or with ``MODIC_BROWSER_FAKE=1``), ``tests/app/serve_fake.py``
starts the same app with the analysis double of ``tests/app/fakes.py`` installed through the backend
seam, so the dashboard is still exercised end to end. Skipped only when ``/usr/bin/chromium`` is absent (``.ci/run`` installs it).
The browser is the system's Chromium; Playwright never fetches one.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from modic_core.bench.serve import start_streamlit, stop

from modic_core.normalization.methods import NORMALIZATIONS
from modic_core.bench.browser import CHROMIUM, launch_chromium
from tests.app.helpers import choose_upload, default_method, settle
from tests.shipped import models_ready

ROOT = Path(__file__).resolve().parents[2]
PHANTOM = ROOT / "demo" / "phantom_dicom"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                                                              "(apt-get install chromium; .ci/run does it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    real = models_ready() and os.environ.get("MODIC_BROWSER_FAKE") != "1"
    log_path = tmp_path_factory.mktemp("browser") / "streamlit.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MKL_NUM_THREADS="1")
    launch = ["-m", "streamlit", "run", "app.py"] if real else [str(ROOT / "tests" / "app" / "serve_fake.py")]
    proc, url = start_streamlit(ROOT, log_path, env=env, command=launch, timeout_s=90)
    try:
        yield {"url": url, "real": real, "log": log_path}
    finally:
        stop(proc)


def _leaves_host(url: str) -> bool:
    """True for a request to anywhere but the app's own 127.0.0.1 (data: and blob: URLs stay in the page)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme not in ("data", "blob", "about") and parts.hostname not in ("127.0.0.1", None)


def _rows(page) -> int:
    """Data rows of the per-level table (an HTML table under the picture, in its component frame)."""
    return page.frame_locator("iframe[title*='modic_case_figure']").last.locator("#level_table tbody tr").count()


def _wait_rows(page, predicate, timeout_s: float = 60) -> int:
    deadline = time.time() + timeout_s
    n = -1
    while time.time() < deadline:
        n = _rows(page)
        if predicate(n):
            return n
        page.wait_for_timeout(300)
    raise AssertionError(f"table rows stayed {n}")


def test_browser_upload_threshold_and_pages(server, artifacts):
    from playwright.sync_api import expect, sync_playwright

    t1 = sorted((PHANTOM / "t1").glob("*.dcm"))
    t2 = sorted((PHANTOM / "t2").glob("*.dcm"))
    assert len(t1) == len(t2) == 15
    console_errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1900})
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            # nothing the app serves may load anything from outside this machine (fonts, icons, scripts)
            page.on("request", lambda r: outside.append(r.url) if _leaves_host(r.url) else None)
            page.goto(server["url"], wait_until="domcontentloaded")

            # 1. opens on the first demo case with results, no clicks
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(page)
            n_demo = _wait_rows(page, lambda n: n > 0)
            assert page.get_by_text("Investigational use only").first.is_visible()
            page.screenshot(path=str(artifacts / "01_demo_case.png"))

            # 2. upload the phantom DICOM pair
            choose_upload(page)
            page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files([str(f) for f in t1 + t2])
            page.get_by_text("T1 TSE SAG (synthetic)", exact=False).first.wait_for(timeout=120_000)
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(page)
            n_upload = _wait_rows(page, lambda n: n > 0)
            body = page.inner_text("body")
            assert "PHANTOM" not in body  # the patient name never reaches the page
            # the sidebar settings survive the upload's reruns (they are defined after st.navigation)
            sidebar = page.locator("[data-testid='stSidebar']")
            # the default method's formula under the method picker
            assert NORMALIZATIONS[default_method()].formula[:20] in sidebar.inner_text()
            assert float(sidebar.locator("[data-testid='stSlider'] input[type='range']").first.input_value()) == 0.5
            assert "Traceback" not in body
            page.screenshot(path=str(artifacts / "02_uploaded_dicom_pair.png"))

            # 2b. the picture's slice and Boxes act in the browser (a component with its own plotly.js, served locally)
            picture = page.frame_locator("iframe[title*='modic_case_figure']").last
            caption = picture.locator("#caption")
            caption.get_by_text(re.compile(r"Slice \d+ of 15")).wait_for(timeout=60_000)
            first = caption.inner_text()
            picture.get_by_label("Slice (T1 and T2 together)").focus()
            page.keyboard.press("ArrowRight")
            expect(caption).not_to_have_text(first, timeout=5_000)  # drawn on the next animation frame
            n_boxes = picture.locator("#plot .shapelayer path").count()
            picture.get_by_role("checkbox", name="Boxes", exact=True).click()
            page.wait_for_timeout(300)
            assert n_boxes > 0 and picture.locator("#plot .shapelayer path").count() < n_boxes
            picture.get_by_role("checkbox", name="Boxes", exact=True).click()
            expect(picture.locator("#plot .shapelayer path")).to_have_count(n_boxes, timeout=5_000)
            # 2c. window/level acts in the browser: a preset changes the T1 readout, Reset brings the default back
            readout = picture.locator("#wl_T1")
            default_wl = readout.inner_text()
            picture.get_by_role("button", name="Full range", exact=True).click()
            expect(readout).not_to_have_text(default_wl, timeout=5_000)  # drawn on the next animation frame
            picture.get_by_role("button", name="Reset window", exact=True).click()
            expect(readout).to_have_text(default_wl, timeout=5_000)
            # 2d. "Drag to window": dragging on the T1 image changes the T1 window (as on a workstation), not the zoom
            picture.get_by_role("checkbox", name="Drag to window").check()
            plot = picture.locator("#plot").bounding_box()
            x, y = plot["x"] + plot["width"] * 0.3, plot["y"] + plot["height"] * 0.6
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 80, y - 50, steps=6)
            page.mouse.up()
            expect(readout).not_to_have_text(default_wl, timeout=5_000)
            picture.get_by_role("button", name="Reset window", exact=True).click()
            picture.get_by_role("checkbox", name="Drag to window").uncheck()
            # 2e. a zoom survives the picture's controls and the view's trip to the server (plotly uirevision)
            page.mouse.move(plot["x"] + plot["width"] * 0.3, plot["y"] + plot["height"] * 0.55)
            page.keyboard.down("Control")  # ctrl + wheel zooms; the wheel alone pages slices (issue 26)
            page.mouse.wheel(0, -400)
            page.keyboard.up("Control")
            page.wait_for_timeout(500)
            zoomed = picture.locator("#plot").evaluate("el => el._fullLayout.xaxis.range.slice()")
            for _ in range(2):
                picture.get_by_role("checkbox", name="Boxes", exact=True).click()
                page.wait_for_timeout(1500)  # the view reaches the server after 0.7 s; the page reruns
            after_zoom = picture.locator("#plot").evaluate("el => el._fullLayout.xaxis.range.slice()")
            assert zoomed[1] - zoomed[0] < 190 and after_zoom == pytest.approx(zoomed, abs=0.01), (zoomed, after_zoom)
            picture.locator("#plot").dblclick(position={"x": plot["width"] * 0.3, "y": plot["height"] * 0.55})  # reset the zoom
            settle(page, 1200)  # the view reaches the server once the input rests

            # 3. raise the detector threshold with the keyboard (0.05 per step): the table shrinks
            slider = page.locator("[data-testid='stSidebar'] [data-testid='stSlider'] input[type='range']").first
            before = float(slider.input_value())
            slider.focus()
            for _ in range(8):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "() => { const s = document.querySelector(\"[data-testid='stSidebar'] [data-testid='stSlider'] input[type='range']\");"
                " return s && parseFloat(s.value) > 0.85; }", timeout=10_000)
            settle(page, 1200)
            after = float(slider.input_value())
            assert after > before
            n_high = _wait_rows(page, lambda n: n < n_upload, timeout_s=60) if not server["real"] else _rows(page)
            assert n_high <= n_upload
            assert page.locator("[data-testid='stSidebar']").get_by_text("Intensity normalization").is_visible()
            page.screenshot(path=str(artifacts / "03_threshold_raised.png"))

            # 4. click the second table row: that level is focused (crops of T1, T2 and Grad-CAM)
            if n_high > 1:
                picture = page.frame_locator("iframe[title*='modic_case_figure']").last
                picture.locator("#level_table tbody tr").nth(1).click()
                focus_text = re.compile(r"(L\d|T\d+)-[LS]\d: MC\d")
                page.get_by_text(focus_text).first.wait_for(timeout=60_000)
                settle(page, 1000)
                assert picture.locator("#level_table tbody tr.focus").count() == 1  # the clicked row is marked
                assert picture.locator("#focus_crops canvas").count() == 3  # the level's crops, drawn in the picture (focus.js)
                picture.locator("#focus_crops").scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / "04_level_focused.png"))

            # 5. the other pages render without errors
            for label, shot in (("Cohort comparison", "05_cohort.png"), ("Teaching", "06_teaching.png"),
                                ("Model card", "07_model_card.png")):
                page.locator("[data-testid='stSidebarNav']").get_by_text(label, exact=True).click()
                page.get_by_role("heading", name=re.compile(label.split()[0])).first.wait_for(timeout=60_000)
                settle(page, 1500)
                page.screenshot(path=str(artifacts / shot))
                assert page.locator("[data-testid='stException']").count() == 0
                assert "Traceback" not in page.inner_text("body")
        finally:
            browser.close()
    assert n_demo > 0 and n_upload > 0
    assert not outside, f"requests left 127.0.0.1: {sorted(set(outside))[:10]}"
    assert not console_errors, console_errors
    log = server["log"].read_text()
    assert "Traceback" not in log
    assert "PHANTOM" not in log


def test_upload_chosen_right_after_the_page_loads_keeps_the_page(server, artifacts):
    """Regression: the picture reports its view just after loading; while the viewer was a Streamlit
    fragment, a full rerun that removed it (choosing Upload) at that moment made Streamlit write the
    stale fragment at positions the page no longer had and the browser dropped the whole page
    ("Bad delta path index")."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            for delay_ms in (100, 400):
                page = browser.new_page(viewport={"width": 1400, "height": 1200})
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(server["url"], wait_until="domcontentloaded")
                page.get_by_text("Per-level results").wait_for(timeout=120_000)
                page.wait_for_timeout(delay_ms)
                page.locator("[data-testid='stRadio']").get_by_text("Upload", exact=True).first.click()
                page.locator("[data-testid='stFileUploader']").wait_for(timeout=60_000)
                page.wait_for_timeout(1500)
                assert page.locator("[data-testid='stFileUploader']").count() == 1
                page.close()
        finally:
            browser.close()
    assert not errors, errors


def test_single_series_is_viewed_with_levels_and_no_grades(server, artifacts):
    """A T1 series alone: the images and the detected levels, a sentence saying why there is no grade."""
    from playwright.sync_api import sync_playwright

    t1 = sorted((PHANTOM / "t1").glob("*.dcm"))
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1500})
            page.goto(server["url"], wait_until="domcontentloaded")
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            choose_upload(page)
            page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files([str(f) for f in t1])
            page.get_by_text("View only", exact=False).first.wait_for(timeout=120_000)
            picture = page.frame_locator("iframe[title*='modic_case_figure']").last
            picture.locator("#level_table tbody tr").first.wait_for(timeout=60_000)
            settle(page, 1000)
            head = picture.locator("#level_table thead").inner_text()
            assert "Level" in head and "Prediction" not in head and "P(MC" not in head
            assert picture.locator("#level_table tbody tr").count() >= 3
            assert page.get_by_text("Per-level results").count() == 0  # nothing graded
            assert "no Modic grade" in page.inner_text("body")
            if server["real"]:  # the shipped detector finds no sacral anchor on the phantom: the names are flagged
                assert "Level naming uncertain" in page.inner_text("body")
            page.screenshot(path=str(artifacts / "10_view_only.png"))
        finally:
            browser.close()


def test_two_browser_sessions_at_once_get_their_own_results(server, artifacts):
    """Two users at the same time: A keeps the demo case and raises the threshold while B uploads the
    phantom. Each sees their own study, table and settings."""
    from playwright.sync_api import sync_playwright

    files = [str(f) for s in ("t1", "t2") for f in sorted((PHANTOM / s).glob("*.dcm"))]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            a = browser.new_context(viewport={"width": 1400, "height": 1700}).new_page()
            b = browser.new_context(viewport={"width": 1400, "height": 1700}).new_page()
            for page in (a, b):
                page.goto(server["url"], wait_until="domcontentloaded")
            for page in (a, b):
                page.get_by_text("Per-level results").wait_for(timeout=120_000)
            # B starts its upload; A moves its threshold while B's study is being read and analysed
            choose_upload(b)
            b.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(files)
            slider = a.locator("[data-testid='stSidebar'] [data-testid='stSlider'] input[type='range']").first
            slider.focus()
            for _ in range(6):
                a.keyboard.press("ArrowRight")
            b.get_by_text("T1 TSE SAG (synthetic)").first.wait_for(timeout=120_000)
            b.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(a, 1200)
            settle(b, 1200)
            text_a, text_b = a.inner_text("body"), b.inner_text("body")
            assert "T1 series, 1 slice" in text_a and "t1.mha" not in text_a and "T1 TSE SAG" not in text_a
            assert "T1 TSE SAG (synthetic)" in text_b
            id_a = re.search(r"Study\s+(\w{8})\s+\(hashed ID\)", text_a).group(1)
            id_b = re.search(r"Study\s+(\w{8})\s+\(hashed ID\)", text_b).group(1)
            assert id_a != id_b
            assert float(slider.input_value()) == pytest.approx(0.8)
            slider_b = b.locator("[data-testid='stSidebar'] [data-testid='stSlider'] input[type='range']").first
            assert float(slider_b.input_value()) == pytest.approx(0.5)  # B's threshold untouched
            assert "Something went wrong" not in text_a + text_b
            a.screenshot(path=str(artifacts / "08_session_a.png"))
            b.screenshot(path=str(artifacts / "09_session_b.png"))
        finally:
            browser.close()
