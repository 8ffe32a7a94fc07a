"""Real-browser test of hostile uploads: the dashboard refuses them clearly and stays healthy.

``streamlit run app.py`` headless on 127.0.0.1 (as ``tests/app/test_browser.py`` starts it), driven by
Debian's Chromium through Playwright (the system browser at /usr/bin/chromium, nothing downloaded). Two uploads:

1. a decode bomb: one JPEG 2000 DICOM slice of a few KB declaring 8192 x 8192 pixels, uploaded with
   the phantom T2 series so the app pairs and loads it (before the limits it decoded to ~0.8 GB of
   float arrays per copy);
2. a MetaImage header whose ``ElementDataFile`` is ``/etc/services`` (the server's own file).

Each must end in a clear message; the server's resident memory (``/proc/<pid>/status`` VmRSS of the
streamlit process) must be back under 2 GB within 10 s, and a second browser session must still be
served. Screenshots go to ``artifacts/browser/`` (``MODIC_ARTIFACTS`` overrides).
"""
from __future__ import annotations

import os
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from modic_core.bench.serve import start_streamlit, stop
from modic_core.bench.browser import CHROMIUM, launch_chromium
from tests.app.helpers import choose_upload

ROOT = Path(__file__).resolve().parents[2]
PHANTOM = ROOT / "demo" / "phantom_dicom"
GIB = 1 << 30

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")


def _rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its children (VmRSS, /proc), in bytes."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class _RssSampler(threading.Thread):
    """Samples the server's RSS every 100 ms; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, _rss_bytes(self.pid))
            time.sleep(0.1)

    def stop(self) -> int:
        self._done.set()
        self.join(2)
        return self.peak


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("browser_hostile") / "streamlit.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MKL_NUM_THREADS="1")
    for var in [v for v in env if v.startswith("MODIC_MAX_") or v == "MODIC_PARSE_SECONDS"]:
        env.pop(var)  # the default limits are under test
    proc, url = start_streamlit(ROOT, log_path, env=env, timeout_s=90)
    try:
        yield {"url": url, "pid": proc.pid, "log": log_path}
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory) -> dict[str, list[Path]]:
    import pydicom
    import SimpleITK as sitk

    folder = tmp_path_factory.mktemp("hostile")
    # A JPEG 2000 slice of 8192 x 8192 zeros: GDCM compresses it to a few KB.
    w = sitk.ImageFileWriter()
    w.SetImageIO("GDCMImageIO")
    w.SetFileName(str(folder / "codec.dcm"))
    w.SetCompressor("JPEG2000")
    w.UseCompressionOn()
    w.Execute(sitk.Image(8192, 8192, sitk.sitkUInt8))
    codec = pydicom.dcmread(folder / "codec.dcm")
    t1 = pydicom.dcmread(sorted((PHANTOM / "t1").glob("*.dcm"))[7])  # a sagittal T1 slice's geometry and tags
    t1.file_meta.TransferSyntaxUID = codec.file_meta.TransferSyntaxUID
    t1.PixelData = codec.PixelData
    t1["PixelData"].VR = "OB"
    t1.BitsAllocated, t1.BitsStored, t1.HighBit, t1.PixelRepresentation = 8, 8, 7, 0
    t1.Rows = t1.Columns = 8192
    bomb = folder / "bomb_t1.dcm"
    t1.save_as(bomb, enforce_file_format=False)
    assert bomb.stat().st_size < 50_000
    mhd = folder / "t1.mhd"
    mhd.write_text(
        "ObjectType = Image\nNDims = 3\nTransformMatrix = 0 1 0 0 0 -1 -1 0 0\nElementSpacing = 0.8 0.8 4\n"
        "DimSize = 64 64 2\nElementType = MET_UCHAR\nElementDataFile = /etc/services\n"
    )
    return {"bomb": [bomb, *sorted((PHANTOM / "t2").glob("*.dcm"))], "server_file": [mhd]}


def _upload(page, files: list[Path]) -> None:
    choose_upload(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files([str(f) for f in files])


def _wait_rss_below(pid: int, limit: int, seconds: float) -> int:
    deadline = time.time() + seconds
    rss = _rss_bytes(pid)
    while rss >= limit and time.time() < deadline:
        time.sleep(0.25)
        rss = _rss_bytes(pid)
    return rss


@pytest.mark.parametrize(
    ("case", "phrase"),
    [("bomb", "not decoded"), ("server_file", "outside its own folder")],
)
def test_hostile_upload_is_refused_and_the_server_stays_healthy(server, artifacts, hostile_files, case, phrase):
    from playwright.sync_api import sync_playwright

    sampler = _RssSampler(server["pid"])
    sampler.start()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(server["url"], wait_until="domcontentloaded")
            page.get_by_text("Per-level results").wait_for(timeout=120_000)  # the demo case is served first
            _upload(page, hostile_files[case])
            alert = page.locator("[data-testid='stAlert']").filter(has_text=phrase).first
            alert.wait_for(timeout=120_000)
            message = alert.inner_text()
            page.screenshot(path=str(artifacts / f"hostile_{case}.png"), full_page=True)
            body = page.inner_text("body")
            assert "Traceback" not in body and "Something went wrong" not in body
            if case == "server_file":
                assert "tcpmux" not in body and "/etc/services" not in body  # no byte or name of the server file
            rss = _wait_rss_below(server["pid"], 2 * GIB, 10)
            peak = sampler.stop()
            print(f"{case}: message {message!r}; server RSS {rss / 2**20:.0f} MiB after, peak {peak / 2**20:.0f} MiB")
            assert rss < 2 * GIB, f"server RSS {rss / GIB:.2f} GiB 10 s after the refusal"

            other = browser.new_context().new_page()  # another session is still served
            other.goto(server["url"], wait_until="domcontentloaded")
            other.get_by_text("Per-level results").wait_for(timeout=120_000)
            assert urllib.request.urlopen(f"{server['url']}/_stcore/health", timeout=5).read() == b"ok"
        finally:
            sampler.stop()
            browser.close()
