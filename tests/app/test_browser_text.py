"""Real-browser test (issue #21): a SeriesDescription holding markdown is drawn as text.

The phantom's DICOM T1 and T2 are uploaded through Debian's Chromium (Playwright, /usr/bin/chromium,
nothing downloaded) with the T1's SeriesDescription set to markdown: an image whose URL points at a
tiny HTTP server this test runs on 127.0.0.1, bold text and a colour directive. The page must show
the characters literally (no picture, no link, no bold), and the browser must never request the
image (the old page rendered the markdown: the browser fetched the picture from the given host). Screenshot:
``artifacts/browser/hostile_series_description.png`` (``MODIC_ARTIFACTS`` overrides).
"""
from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from modic_core.bench.serve import start_streamlit, stop
from modic_core.bench.browser import CHROMIUM, launch_chromium
from tests.app.helpers import choose_upload

ROOT = Path(__file__).resolve().parents[2]
PHANTOM = ROOT / "demo" / "phantom_dicom"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def pixel_host():
    """An HTTP server on a free 127.0.0.1 port that records every request."""
    _Recorder.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], _Recorder.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def _hostile_upload(folder: Path, description: str) -> list[Path]:
    import pydicom

    out = []
    for series in ("t1", "t2"):
        for f in sorted((PHANTOM / series).glob("*.dcm")):
            ds = pydicom.dcmread(f)
            if series == "t1":
                ds.SeriesDescription = description
            path = folder / f"{series}_{f.name}"
            ds.save_as(path, enforce_file_format=True)
            out.append(path)
    return out


def test_series_description_markdown_is_drawn_as_text(tmp_path, pixel_host):
    from playwright.sync_api import sync_playwright

    port, requests = pixel_host
    description = f"T1 ![p](http://127.0.0.1:{port}/pixel.png) **ALERT** :red[x]"
    files = _hostile_upload(tmp_path, description)
    artifacts = Path(os.environ.get("MODIC_ARTIFACTS", ROOT / "artifacts")) / "browser"
    artifacts.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc, url = start_streamlit(ROOT, tmp_path / "streamlit.log", env=env, timeout_s=90)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1200})
                page.goto(url, wait_until="domcontentloaded")
                choose_upload(page)
                page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files([str(f) for f in files])
                shown = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="(hashed ID)").first
                shown.wait_for(timeout=180_000)  # the study line: "Study ... · T1: T1 ![p](...) **ALERT** :red[x] (T1 series, ...)"
                time.sleep(3)  # time for an image request to arrive, if the page had rendered one
                text = shown.inner_text().replace("\u2060", "")  # the word joiner that keeps the URL from being linked
                page.screenshot(path=str(artifacts / "hostile_series_description.png"), full_page=True)
                assert requests == [], f"the browser fetched {requests} from the description's URL"
                assert f"![p](http://127.0.0.1:{port}/pixel.png) **ALERT** :red[x]" in text, text
                assert page.locator(f"img[src*='127.0.0.1:{port}']").count() == 0
                assert page.locator(f"a[href*='127.0.0.1:{port}']").count() == 0  # not even a link to the host
                assert page.locator("strong", has_text="ALERT").count() == 0
            finally:
                browser.close()
    finally:
        stop(proc)
