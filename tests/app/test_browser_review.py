"""Real-browser test of the case viewer's review panel (modic_core/ui/review.py) in Debian's Chromium.

A reviewer types a name in the sidebar, reviews three levels of the first demo case (a click on "Agree",
the keys ``n`` and ``2``, a click on a grade) and saves: "Saved 3 levels" appears and the server's label
store (its own temp ``MODIC_DATA_DIR``) holds exactly those reviews. A viewer account, signed in through the
sidebar's sign-in form (``MODIC_AUTH_FILE``), cannot save. The app runs with the analysis double
(``tests/app/serve_fake.py``): the panel does not depend on the models. Screenshots go to ``artifacts/browser/``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from modic_core.bench.serve import start_streamlit, stop
from modic_core.labels import LabelStore
from modic_core.bench.browser import CHROMIUM, launch_chromium
from tests.app.helpers import settle

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                                                              "(apt-get install chromium; .ci/run does it)")


def _serve(tmp: Path, **env_extra: str):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT), MODIC_DATA_DIR=str(tmp / "data"),
               **env_extra)
    return start_streamlit(ROOT, tmp / "streamlit.log", env=env, command=[str(ROOT / "tests" / "app" / "serve_fake.py")],
                           timeout_s=90)


def _button(page, key_prefix: str):
    """The Streamlit button whose widget key starts with ``key_prefix`` (keys end with the study's fingerprint)."""
    return page.locator(f"[class*='st-key-{key_prefix}'] button").first


def _open_demo(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("Per-level results").wait_for(timeout=120_000)
    page.get_by_text("Your review").wait_for(timeout=60_000)
    settle(page)


def _stored(data: Path) -> list:
    with LabelStore.open(f"sqlite:///{data / 'labels.sqlite3'}", data_dir=data) as store:  # the server's store
        return [(r.level, r.grade, r.reviewer) for s in store.list_studies() for r in store.reviews(s.id)]


def test_review_three_levels_with_keys_and_save(tmp_path, artifacts):
    from playwright.sync_api import expect, sync_playwright

    proc, url = _serve(tmp_path)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 2200})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                _open_demo(page, url)
                box = page.locator("[data-testid='stSidebar']").get_by_label("Your name (for reviews)", exact=True)
                box.fill("Dr Ana")
                box.press("Enter")
                page.get_by_text("Reviewing as").wait_for(timeout=30_000)
                settle(page)

                agree = _button(page, "rv_agree_")
                model_grade = re.search(r"MC\d", agree.inner_text()).group(0)
                agree.click()                                   # L1-L2: the model's grade, one click
                settle(page, 300)
                page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no widget has the focus
                page.keyboard.press("n")                        # L2-L3
                settle(page, 300)
                page.keyboard.press("2")                        # graded MC2 by key
                settle(page, 300)
                page.keyboard.press("n")                        # L3-L4
                settle(page, 300)
                _button(page, "rv_g_not_gradable").click()      # picked with the mouse
                settle(page, 300)
                summary = page.locator("[data-testid='stMarkdownContainer'] table").filter(has_text="your grade").first
                text = summary.inner_text()
                assert "not gradable" in text and "MC2" in text, text
                _button(page, "rv_save_").click()
                page.get_by_text(re.compile(r"Saved 3 levels as Dr Ana · \d\d:\d\d UTC")).wait_for(timeout=30_000)
                settle(page, 300)
                page.get_by_text("Your review").scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / "review_saved.png"), full_page=True)
                expect(page.get_by_text("Traceback")).to_have_count(0)
                assert not errors, errors
            finally:
                browser.close()
    finally:
        stop(proc)
    assert _stored(tmp_path / "data") == [("L1-L2", model_grade, "Dr Ana"), ("L2-L3", "MC2", "Dr Ana"),
                                          ("L3-L4", "not_gradable", "Dr Ana")]


def test_a_signed_in_viewer_cannot_save(tmp_path, artifacts):
    import bcrypt
    from playwright.sync_api import sync_playwright

    accounts = tmp_path / "accounts.toml"
    hashed = bcrypt.hashpw(b"viewer-pass", bcrypt.gensalt(rounds=4)).decode()
    accounts.write_text(f'[[user]]\nname = "vic"\nrole = "viewer"\npassword = "{hashed}"\n')
    proc, url = _serve(tmp_path, MODIC_AUTH_FILE=str(accounts))
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 2200})
                page.goto(url, wait_until="domcontentloaded")
                page.get_by_text("Sign in (in the sidebar) to use the dashboard").wait_for(timeout=120_000)
                assert page.get_by_text("Your review").count() == 0  # signed out: no page, so nothing to save
                sidebar = page.locator("[data-testid='stSidebar']")
                form = sidebar.locator("[data-testid='stForm']").filter(has_text="Sign in")
                form.get_by_label("User name", exact=True).fill("vic")
                form.get_by_label("Password", exact=True).fill("viewer-pass")
                form.get_by_role("button", name="Sign in").click()
                sidebar.get_by_text("vic").first.wait_for(timeout=30_000)
                page.get_by_text("Per-level results").wait_for(timeout=120_000)
                page.get_by_text("Your review").wait_for(timeout=60_000)
                settle(page)
                _button(page, "rv_g_MC2").click()
                settle(page, 300)
                _button(page, "rv_save_").click()
                page.get_by_text("viewer account").first.wait_for(timeout=30_000)
                page.screenshot(path=str(artifacts / "review_viewer_refused.png"), full_page=True)
                assert page.get_by_text(re.compile("Saved \\d+ level")).count() == 0
            finally:
                browser.close()
    finally:
        stop(proc)
    assert _stored(tmp_path / "data") == []
