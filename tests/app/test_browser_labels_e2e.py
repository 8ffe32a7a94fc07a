"""Issue 25's walk as a new user would do it, in Debian's Chromium, on SQLite and on PostgreSQL.

A reviewer opens the first demo case, types a name in the sidebar, reviews three levels (a click on "Agree",
the keys ``n`` and ``2``, a click on "MC1") and saves; the Review queue page counts them as reviewed
by that name, and a click on its first row (the top queued level) opens that level in the viewer's review panel;
``python -m modic_core.labels export --out DIR`` writes the three back as a cohort folder. The app's
store is chosen by one variable, as a user would: nothing (SQLite in ``MODIC_DATA_DIR``) or
``MODIC_DATABASE_URL`` (a new database on the session's throw-away PostgreSQL, ``tests/postgres_support.py``).
The app runs with the analysis double (``tests/app/serve_fake.py``): the walk does not depend on the models.
Screenshots: ``artifacts/browser/labels_e2e_<backend>_*.png``.
"""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modic_core.bench.serve import start_streamlit, stop
from modic_core.labels import LabelStore
from modic_core.labels.queue import review_queue
from modic_core.bench.browser import CHROMIUM, launch_chromium
from tests.app.helpers import settle
from tests.app.test_browser_review import _button, _open_demo
from tests.postgres_support import new_database

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_env(request, tmp_path) -> dict[str, str]:
    """The one variable a user sets to choose the store: none for SQLite, ``MODIC_DATABASE_URL`` for PostgreSQL."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT),
               MODIC_DATA_DIR=str(tmp_path / "data"))
    env.pop("MODIC_DATABASE_URL", None)
    if request.param == "postgresql":
        env["MODIC_DATABASE_URL"] = new_database(request.getfixturevalue("postgres_server"), prefix="e2e_")
    return env


def _review_three_levels(page) -> str:
    """Grade L1-L2 (Agree), L2-L3 (key 2) and L3-L4 (the MC1 button) and save; the model's grade of L1-L2."""
    box = page.locator("[data-testid='stSidebar']").get_by_label("Your name (for reviews)", exact=True)
    box.fill("Dr Ana")
    box.press("Enter")
    page.get_by_text("Reviewing as").wait_for(timeout=30_000)
    settle(page)
    agree = _button(page, "rv_agree_")
    model_grade = re.search(r"MC\d", agree.inner_text()).group(0)
    agree.click()
    settle(page, 300)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # keys act when no widget has focus
    for key in ("n", "2", "n"):
        page.keyboard.press(key)
        settle(page, 300)
    _button(page, "rv_g_MC1").click()
    settle(page, 300)
    _button(page, "rv_save_").click()
    page.get_by_text(re.compile(r"Saved 3 levels as Dr Ana")).wait_for(timeout=30_000)
    return model_grade


def _top_of_queue(env: dict[str, str]) -> str:
    """The level at the top of Dr Ana's queue, read from the app's store."""
    data = Path(env["MODIC_DATA_DIR"])
    url = env.get("MODIC_DATABASE_URL") or f"sqlite:///{data / 'labels.sqlite3'}"
    with LabelStore.open(url, data_dir=data) as store:
        return review_queue(store, reviewer="Dr Ana")[0].level


def test_review_three_levels_see_them_in_the_queue_and_export_them(store_env, tmp_path, artifacts, request):
    from playwright.sync_api import sync_playwright

    backend = request.node.callspec.params["store_env"]
    proc, url = start_streamlit(ROOT, tmp_path / "streamlit.log", env=store_env,
                                command=[str(ROOT / "tests" / "app" / "serve_fake.py")], timeout_s=90)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1800})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                _open_demo(page, url)
                model_grade = _review_three_levels(page)
                page.screenshot(path=str(artifacts / f"labels_e2e_{backend}_saved.png"), full_page=True)

                page.locator("[data-testid='stSidebarNav']").get_by_text("Review queue", exact=True).click()
                page.get_by_text(re.compile(r"3 of \d+ levels reviewed by Dr Ana")).wait_for(timeout=60_000)
                settle(page)
                page.screenshot(path=str(artifacts / f"labels_e2e_{backend}_queue.png"), full_page=True)
                top = _top_of_queue(store_env)
                grid = page.locator("[data-testid='stDataFrame']").first.bounding_box()
                page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 17)  # the first row's box (header and rows: 35 px)
                page.get_by_text(re.compile(rf"^{re.escape(top)} · model: ")).wait_for(timeout=60_000)
                settle(page)
                page.get_by_text("Your review").scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / f"labels_e2e_{backend}_opened_from_queue.png"))
                assert page.get_by_text("Traceback").count() == 0
                assert not errors, errors
            finally:
                browser.close()
    finally:
        stop(proc)
    out = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "modic_core.labels", "export", "--out", str(out)], env=store_env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "1 study and 3 levels written" in done.stdout, done.stdout
    with open(out / "levels.csv", newline="") as f:
        rows = [(r["level"], r["modic"]) for r in csv.DictReader(f)]
    assert rows == [("L1-L2", model_grade[-1]), ("L2-L3", "2"), ("L3-L4", "1")], rows
    (study,) = (out / "studies").iterdir()
    assert sorted(p.name for p in study.iterdir()) == ["t1.mha", "t2.mha"]
