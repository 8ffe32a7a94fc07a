"""Real-browser test of the focus crops (issue 26 item 6): a click on a level's row draws its T1, T2 and Grad-CAM
crops in the picture itself (``modic_core/ui/figure_static/focus.js``), within two animation frames and with no
server round trip; the server then adds the level's sentence and draws no second set of crops.

Runs the real ``app.py`` with the analysis double (``tests/app/serve_fake.py``): the crops are drawn from what the
page holds, whichever model produced it. Skipped when ``/usr/bin/chromium`` is absent.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from modic_core.bench.browser import CHROMIUM, FIGURE, launch_chromium
from modic_core.bench.serve import start_streamlit, stop
from tests.app.helpers import settle

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")

_CLICK_AND_LOOK = """async (n) => {
  const row = document.querySelectorAll("#level_table tbody tr")[n];
  row.click();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const canvases = [...document.querySelectorAll("#focus_crops canvas")];
  const spread = canvases.map((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
    return hi - lo;
  });
  return {level: row.dataset.level, n: canvases.length, spread: spread, width: canvases.length ? canvases[0].width : 0,
          captions: [...document.querySelectorAll("#focus_crops figcaption")].map((f) => f.textContent)};
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("browser_focus") / "streamlit.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MKL_NUM_THREADS="1")
    proc, url = start_streamlit(ROOT, log_path, env=env, command=[str(ROOT / "tests" / "app" / "serve_fake.py")], timeout_s=90)
    try:
        yield url
    finally:
        stop(proc)


def test_a_row_click_draws_the_levels_crops_in_the_page_at_once(server, artifacts):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(server, wait_until="domcontentloaded")
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            page.frame_locator(FIGURE).last.locator("#level_table tbody tr").nth(1).wait_for(timeout=60_000)
            settle(page, 800)
            frame = next(f for f in page.frames if f.url and "modic_case_figure" in f.url)
            got = frame.evaluate(_CLICK_AND_LOOK, 1)  # drawn within two frames: no server round trip
            assert got["n"] == 3, got  # T1, T2 and Grad-CAM over T1
            assert got["captions"][:2] == [f"T1 · {got['level']}", f"T2 · {got['level']}"]
            assert got["captions"][2].startswith("Grad-CAM (")
            assert all(s > 40 for s in got["spread"][:2]), got  # grey anatomy through the window, not a blank canvas
            assert got["width"] >= 200  # readable: the crop is scaled up to 240 px
            page.get_by_text(re.compile(rf"{re.escape(got['level'])}: MC\d")).first.wait_for(timeout=60_000)  # the server's sentence
            settle(page, 800)
            assert page.locator("[data-testid='stPlotlyChart']").count() == 0  # the server drew no second set of crops
            assert frame.locator("#focus_crops canvas").count() == 3
            page.frame_locator(FIGURE).last.locator("#focus_crops").screenshot(path=str(artifacts / "focus_crops.png"))
            again = frame.evaluate(_CLICK_AND_LOOK, 1)  # the same row again: focus off, crops gone
            assert again["n"] == 0, again
        finally:
            browser.close()
