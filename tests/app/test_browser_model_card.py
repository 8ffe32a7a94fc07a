"""The model card's first screen is plain language (issue 26, item 5): in a real browser at 1400x1000, the plain
headline (what the models find, how often they are wrong, on what data) is inside the first screen and no technical
table (ECE, temperature, kappa) is; screenshot ``artifacts/browser/model_card_first_screen.png``. The app runs with
the analysis double (``tests/app/serve_fake.py``); the model card reads the shipped records in ``weights/``."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from modic_core.bench.browser import CHROMIUM, launch_chromium
from modic_core.bench.serve import start_streamlit, stop
from modic_core.ui.modelinfo import card_headline
from tests.app.helpers import settle

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                                                              "(apt-get install chromium; .ci/run does it)")


def test_model_card_first_screen_is_plain_language(tmp_path):
    from playwright.sync_api import sync_playwright

    headline = card_headline()
    assert headline, "the shipped records give a plain headline"
    first_words = headline[0].replace("*", "").lstrip("- ").split(":")[0]  # "What it finds" (a markdown list item)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MKL_NUM_THREADS="1")
    proc, url = start_streamlit(ROOT, tmp_path / "streamlit.log", env=env,
                                command=[str(ROOT / "tests" / "app" / "serve_fake.py")], timeout_s=90)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url, wait_until="domcontentloaded")
                page.get_by_text("Per-level results").wait_for(timeout=120_000)
                page.get_by_role("link", name="Model card").click()
                page.get_by_role("heading", name="Model card").wait_for(timeout=60_000)
                page.get_by_text("Shipped models").wait_for(timeout=60_000)
                settle(page, 800)
                page.evaluate("window.scrollTo(0, 0)")
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "model_card_first_screen.png"))
                # the plain headline is on the first screen ...
                box = page.get_by_text(first_words, exact=False).first.bounding_box()
                assert box is not None and 0 <= box["y"] < 1000, box
                # ... and no technical table or term is
                first_screen = page.evaluate("""() => {
                  const out = [];
                  for (const el of document.querySelectorAll('[data-testid="stMarkdownContainer"], [data-testid="stDataFrame"], th')) {
                    const r = el.getBoundingClientRect();
                    if (r.top < window.innerHeight && r.bottom > 0) out.push(el.innerText || "");
                  }
                  return out.join("\\n"); }""")
                for term in ("ECE", "temperature", "kappa", "macro-F1"):
                    assert term not in first_screen, term
                tables = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
                  .filter((el) => el.getBoundingClientRect().top < window.innerHeight).length""")
                assert tables == 0
            finally:
                browser.close()
    finally:
        stop(proc)
