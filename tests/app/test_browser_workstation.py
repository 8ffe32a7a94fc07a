"""Real-browser tests of the case viewer's picture as a reading workstation (issue 26, items 1 and 2).

The app runs with the analysis double (``tests/app/serve_fake.py``), so these tests need no trained
models: the layout at 1280x800 (both panels inside the viewport, screenshot under ``artifacts/browser/``),
the wheel and keys paging slices, ctrl+wheel zoom, the shortcuts (b, g, n, ?, c, x, r), the linked
cross-hair between T1 and T2, and "T2 does not cover this slice" on an uploaded pair whose T2 is a
thin slab. Skipped only when ``/usr/bin/chromium`` is absent (``.ci/run`` installs it).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from modic_core.bench.browser import CHROMIUM, launch_chromium
from modic_core.bench.serve import start_streamlit, stop
from tests.app.helpers import choose_upload, settle

ROOT = Path(__file__).resolve().parents[2]
FIGURE = "iframe[title*='modic_case_figure']"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                                                              "(apt-get install chromium; .ci/run does it)")

PANELS_JS = """el => { const fl = el._fullLayout, r = el.getBoundingClientRect();
  return ["", "2"].filter((s) => fl["xaxis" + s]).map((s) => {
    const xa = fl["xaxis" + s], ya = fl["yaxis" + s];
    return {x: r.left + xa._offset, y: r.top + ya._offset, width: xa._length, height: ya._length}; }); }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("workstation") / "streamlit.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MKL_NUM_THREADS="1")
    proc, url = start_streamlit(ROOT, log_path, env=env, command=[str(ROOT / "tests" / "app" / "serve_fake.py")],
                                timeout_s=90)
    try:
        yield {"url": url, "log": log_path}
    finally:
        stop(proc)


def _open(browser, url: str, *, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("Per-level results").wait_for(timeout=120_000)
    page.frame_locator(FIGURE).last.locator("#level_table tbody tr").first.wait_for(timeout=60_000)
    settle(page, 1000)
    return page, errors


def _panels(page) -> list[dict]:
    """The image panels' boxes in the page's coordinates (the frame's offset added)."""
    frame = page.locator(FIGURE).last.bounding_box()
    boxes = page.frame_locator(FIGURE).last.locator("#plot").evaluate(PANELS_JS)
    return [dict(b, x=b["x"] + frame["x"], y=b["y"] + frame["y"]) for b in boxes]


def _slice(picture) -> int:
    return int(re.match(r"Slice (\d+) of", picture.locator("#caption").inner_text()).group(1))


def _wait_slice(page, picture, want: int, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s * 10)):
        if _slice(picture) == want:
            return
        page.wait_for_timeout(100)
    assert _slice(picture) == want


def test_both_panels_fit_a_1280x800_screen_without_scrolling(server, artifacts):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page, errors = _open(browser, server["url"], width=1280, height=800)
            page.screenshot(path=str(artifacts / "workstation_1280x800.png"))
            panels = _panels(page)
            assert len(panels) == 2
            for b in panels:  # each panel entirely inside the viewport, and large (not a thumbnail)
                assert b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= 1280 and b["y"] + b["height"] <= 800, panels
                assert b["width"] >= 300 and b["height"] >= 300, panels
            # the downloads come after the picture
            frame = page.locator(FIGURE).last.bounding_box()
            csv = page.get_by_role("button", name="Per-level table (CSV)").bounding_box()
            assert csv["y"] > frame["y"]
        finally:
            browser.close()
    assert not errors, errors


def test_wheel_keys_shortcuts_cine_and_cross_reference(server, artifacts):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page, errors = _open(browser, server["url"], width=1400, height=1000)
            page.locator("[data-testid='stSelectbox']").first.click()
            page.get_by_text("phantom-dicom — synthetic phantom").click()
            picture = page.frame_locator(FIGURE).last
            picture.locator("#caption").get_by_text(re.compile(r"Slice \d+ of 15")).wait_for(timeout=120_000)
            settle(page, 1500)
            caption = picture.locator("#caption")
            assert re.search(r"T2 slice \d+ of 15 \(.+\) lies here", caption.inner_text())  # the original T2 slice here
            t1, t2 = _panels(page)

            # the wheel over the images pages slices (one notch, one slice); the zoom stays
            z0 = _slice(picture)
            page.mouse.move(t1["x"] + t1["width"] * 0.5, t1["y"] + t1["height"] * 0.5)
            page.mouse.wheel(0, 100)
            _wait_slice(page, picture, z0 + 1)
            page.mouse.wheel(0, -100)
            _wait_slice(page, picture, z0)
            full = picture.locator("#plot").evaluate("el => el._fullLayout.xaxis.range.slice()")
            # ctrl + wheel zooms both panels about the pointer and leaves the slice alone
            page.keyboard.down("Control")
            page.mouse.wheel(0, -300)
            page.keyboard.up("Control")
            page.wait_for_timeout(400)
            zoomed = picture.locator("#plot").evaluate("el => [el._fullLayout.xaxis.range.slice(), el._fullLayout.xaxis2.range.slice()]")
            assert zoomed[0][1] - zoomed[0][0] < 0.8 * (full[1] - full[0]) and zoomed[1] == pytest.approx(zoomed[0])
            assert _slice(picture) == z0

            # keys, once a click on the picture gave the frame focus (the hint says so)
            page.mouse.click(t1["x"] + t1["width"] * 0.5, t1["y"] + t1["height"] * 0.5)
            expect(picture.locator("#key_hint")).to_have_text(re.compile("Keys on"), timeout=5_000)
            page.keyboard.press("ArrowDown")
            _wait_slice(page, picture, z0 + 1)
            page.keyboard.press("ArrowUp")
            _wait_slice(page, picture, z0)
            page.keyboard.press("End")
            _wait_slice(page, picture, 15)
            page.keyboard.press("Home")
            _wait_slice(page, picture, 1)
            page.keyboard.press("PageDown")
            _wait_slice(page, picture, 6)
            page.keyboard.press("r")  # reset: the zoom goes back to the whole image
            page.wait_for_timeout(400)
            assert picture.locator("#plot").evaluate("el => el._fullLayout.xaxis.range.slice()") == pytest.approx(full, abs=0.01)

            # b and g toggle the boxes and Grad-CAM checkboxes
            n_boxes = picture.locator("#plot .shapelayer path").count()
            page.keyboard.press("b")
            expect(picture.get_by_role("checkbox", name="Boxes", exact=True)).not_to_be_checked(timeout=5_000)
            assert picture.locator("#plot .shapelayer path").count() < n_boxes
            page.keyboard.press("b")
            expect(picture.get_by_role("checkbox", name="Boxes", exact=True)).to_be_checked(timeout=5_000)
            page.keyboard.press("g")
            expect(picture.get_by_role("checkbox", name="Grad-CAM", exact=True)).not_to_be_checked(timeout=5_000)
            page.keyboard.press("g")
            expect(picture.get_by_role("checkbox", name="Grad-CAM", exact=True)).to_be_checked(timeout=5_000)

            # ? lists the keys; Esc closes the list
            page.keyboard.press("?")
            expect(picture.get_by_role("dialog", name="Keyboard shortcuts list")).to_be_visible(timeout=5_000)
            assert "cine" in picture.locator("#help").inner_text()
            page.screenshot(path=str(artifacts / "workstation_keys.png"))
            page.keyboard.press("Escape")
            expect(picture.locator("#help")).to_be_hidden(timeout=5_000)

            # c plays the slices (~8 per second, looping) until c again
            page.keyboard.press("c")
            expect(picture.get_by_role("button", name="Cine")).to_have_attribute("aria-pressed", "true", timeout=5_000)
            seen = set()
            for _ in range(12):
                seen.add(_slice(picture))
                page.wait_for_timeout(100)
            page.keyboard.press("c")
            expect(picture.get_by_role("button", name="Cine")).to_have_attribute("aria-pressed", "false", timeout=5_000)
            assert len(seen) >= 4, seen

            # the cross-reference cursor: hovering T1 draws a cross-hair at the same image position on T2
            page.mouse.move(t1["x"] + t1["width"] * 0.3, t1["y"] + t1["height"] * 0.6)
            v, h = picture.locator("#xref_v"), picture.locator("#xref_h")
            expect(v).to_be_visible(timeout=5_000)
            frame = page.locator(FIGURE).last.bounding_box()
            vb, hb = v.bounding_box(), h.bounding_box()
            assert vb["x"] == pytest.approx(t2["x"] + t2["width"] * 0.3, abs=3)
            assert hb["y"] == pytest.approx(t2["y"] + t2["height"] * 0.6, abs=3)
            assert t2["y"] - 1 <= vb["y"] and vb["y"] + vb["height"] <= t2["y"] + t2["height"] + 1 and frame["x"] < vb["x"]
            page.keyboard.press("x")  # off: no cross-hair while hovering
            page.mouse.move(t1["x"] + t1["width"] * 0.5, t1["y"] + t1["height"] * 0.5)
            expect(v).to_be_hidden(timeout=5_000)
            page.keyboard.press("x")

            # n focuses the next level as a table row click does: its crops appear under the picture
            page.keyboard.press("n")
            page.get_by_text(re.compile(r"(L\d|T\d+)-[LS]\d: MC\d")).first.wait_for(timeout=60_000)
            settle(page, 1000)
            assert picture.locator("#level_table tbody tr.focus").count() == 1
            first = picture.locator("#level_table tbody tr.focus").get_attribute("data-level")
            page.mouse.click(t1["x"] + t1["width"] * 0.5, t1["y"] + t1["height"] * 0.5)
            page.keyboard.press("n")
            expect(picture.locator("#level_table tbody tr.focus")).not_to_have_attribute("data-level", first, timeout=60_000)
            page.screenshot(path=str(artifacts / "workstation_level_focus.png"))
        finally:
            browser.close()
    assert not errors, errors
    assert "Traceback" not in server["log"].read_text()


def _thin_t2_pair(folder: Path) -> list[Path]:
    """A seeded 12-slice T1 and a 4-slice T2 covering only the middle of its slab (MHA files)."""
    import SimpleITK as sitk

    rng = np.random.default_rng(26)
    out = []
    for name, nz, x0 in (("t1.mha", 12, -16.5), ("t2.mha", 4, -4.5)):
        arr = (rng.random((nz, 96, 96)) * 400 + 300).astype(np.float32)
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing((1.0, 1.0, 3.0))
        img.SetDirection((0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0))  # sagittal: slices along LPS x
        img.SetOrigin((x0, -48.0, 48.0))
        path = folder / name
        sitk.WriteImage(img, str(path))
        out.append(path)
    return out


def test_t2_panel_says_where_the_t2_does_not_cover_the_slice(server, artifacts, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    files = _thin_t2_pair(tmp_path)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page, errors = _open(browser, server["url"], width=1400, height=1000)
            choose_upload(page)
            page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files([str(f) for f in files])
            picture = page.frame_locator(FIGURE).last
            picture.locator("#caption").get_by_text(re.compile(r"Slice \d+ of 12")).wait_for(timeout=120_000)
            settle(page, 1500)
            t1, _ = _panels(page)
            page.mouse.click(t1["x"] + t1["width"] * 0.5, t1["y"] + t1["height"] * 0.5)
            page.keyboard.press("Home")  # slice 1: 15 mm away from the T2 slab
            _wait_slice(page, picture, 1)
            label = picture.locator("#plot .annotation-text", has_text="T2 does not cover this slice")
            expect(label).to_have_count(1, timeout=5_000)
            assert "outside the T2 slab" in picture.locator("#caption").inner_text()
            page.screenshot(path=str(artifacts / "workstation_t2_uncovered.png"))
            page.keyboard.press("PageDown")  # slice 6: inside the T2 slab
            _wait_slice(page, picture, 6)
            expect(label).to_have_count(0, timeout=5_000)
            assert re.search(r"T2 slice \d of 4", picture.locator("#caption").inner_text())
        finally:
            browser.close()
    assert not errors, errors
