"""Real-browser test of the picture's window/level (named presets, the DICOM's window, typed level/width,
keys 1-4 through ``applyPreset``) and the ROI signal probe, on a generated DICOM pair with known signal.

The pair (5 sagittal slices, 128 x 128, 1 mm pixels) is a uniform "marrow" (T1 400, T2 300) with a block of
known signal (T1 200, T2 600) and a ramp at the anterior edge (so percentile presets differ); integer values,
so the DICOM stores them exactly. The app runs with the analysis double (``tests/app/serve_fake.py``): its
levels sit at fixed fractions of the image, and the block lies between two of them, away from both
vertebral-centre bands. A rectangle drawn inside the block must read T1 0.5 and T2 2.0 times the centre
(within 2 %), and its means in the method's units must match the library's normalization of the same series.
"""
from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from modic_core.bench.browser import CHROMIUM, launch_chromium
from modic_core.bench.serve import start_streamlit, stop
from tests.app.helpers import choose_upload, default_method, settle

ROOT = Path(__file__).resolve().parents[2]
MARROW, BLOCK = (400.0, 300.0), (200.0, 600.0)  # (T1, T2) raw signal
ROWS, COLS = (48, 54), (50, 66)  # the block, rows and columns [start, stop)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                                                              "(apt-get install chromium; .ci/run does it)")


def _pair(folder: Path) -> dict[str, Path]:
    from modic_core.datasets.synthetic import make_phantom

    ph = make_phantom(seed=5, shape=(5, 128, 128), spacing=(4.0, 1.0, 1.0), variation=0.0)
    rng = np.random.default_rng(5)
    ramp = np.round(np.linspace(0, 1000, 30))[None, None, :] + rng.integers(0, 20, (5, 128, 30))
    arrays = []
    for k in range(2):
        a = np.full((5, 128, 128), MARROW[k], np.float32)
        a[:, :, :30] = ramp
        a[:, ROWS[0]:ROWS[1], COLS[0]:COLS[1]] = BLOCK[k]
        arrays.append(a)
    ph = dataclasses.replace(ph, t1=ph.t1.with_array(arrays[0]), t2=ph.t2.with_array(arrays[1]))
    return ph.write(folder)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("known_signal")
    paths = _pair(folder)
    log_path = folder / "streamlit.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MKL_NUM_THREADS="1")
    proc, url = start_streamlit(ROOT, log_path, env=env, command=[str(ROOT / "tests" / "app" / "serve_fake.py")],
                                timeout_s=90)
    try:
        yield {"url": url, "paths": paths, "log": log_path}
    finally:
        stop(proc)


def _state(plot, what: str):
    return plot.evaluate(f"el => JSON.parse(JSON.stringify({what}))")


def _wait(page, plot, what: str, predicate, timeout_s: float = 10.0):
    value = None
    for _ in range(int(timeout_s / 0.2)):
        value = _state(plot, what)
        if predicate(value):
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"{what} stayed {value!r}")


def _drag(page, plot, axis: str) -> None:
    """Drag a rectangle inside the block on the panel of plotly axes x{axis} / y{axis} ("" = T1, "2" = T2)."""
    box = plot.bounding_box()
    corners = plot.evaluate("""el => {
        const xa = el._fullLayout["xaxis%s"], ya = el._fullLayout["yaxis%s"];
        // pixel-edge (x, y) -> page offset inside the plot: plotly centres pixel i on i
        const at = (x, y) => [xa._offset + xa.d2p(x - 0.5), ya._offset + ya.d2p(y - 0.5)];
        return [at(%f, %f), at(%f, %f)];
    }""" % (axis, axis, COLS[0] + 2.2, ROWS[0] + 1.2, COLS[1] - 2.2, ROWS[1] - 1.2))
    (ax, ay), (bx, by) = corners
    page.mouse.move(box["x"] + ax, box["y"] + ay)
    page.mouse.down()
    page.mouse.move(box["x"] + bx, box["y"] + by, steps=8)
    page.mouse.up()


def test_presets_typed_window_and_roi_probe_on_known_signal(served, artifacts):
    from playwright.sync_api import expect, sync_playwright

    from modic_core.io import load_series
    from modic_core.normalization import normalize

    files = sorted(served["paths"]["t1"].glob("*.dcm")) + sorted(served["paths"]["t2"].glob("*.dcm"))
    head = pydicom.dcmread(files[0], stop_before_pixels=True)
    scanner = (float(head.WindowCenter), float(head.WindowWidth))
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1500})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(served["url"], wait_until="domcontentloaded")
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(page)
            choose_upload(page)
            page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files([str(f) for f in files])
            page.get_by_text("T1 TSE SAG (synthetic)", exact=False).first.wait_for(timeout=120_000)
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            settle(page)
            picture = page.frame_locator("iframe[title*='modic_case_figure']").last
            picture.locator("#caption").get_by_text(re.compile(r"Slice \d+ of 5")).wait_for(timeout=60_000)
            plot = picture.locator("#plot")
            _wait(page, plot, "Object.keys(spec.windows)", lambda v: v == ["T1", "T2"], 30)

            # 1. named presets: a button sets the series' window to the server's preset; the DICOM's own window is one
            presets = _state(plot, "spec.windows.T1.presets")
            assert [b["key"] for b in _state(plot, "spec.windows.T1.named")] == ["Marrow", "Disc", "full", "Scanner window"]
            assert [b["key"] for b in _state(plot, "spec.windows.T2.named")][:2] == ["Marrow", "Fluid / CSF"]
            readout = picture.locator("#wl_T1")
            before = readout.inner_text()
            picture.get_by_role("button", name="T1 Disc", exact=True).click()
            # the server's presets as the picture holds them now (a rerun after the upload may have sent them again)
            _wait(page, plot, "state.win.T1", lambda v: v == _state(plot, "spec.windows.T1.presets")["Disc"])
            presets = _state(plot, "spec.windows.T1.presets")
            expect(readout).not_to_have_text(before, timeout=5_000)
            picture.get_by_role("button", name="T1 Scanner window", exact=True).click()
            want = [scanner[0] - scanner[1] / 2, scanner[0] + scanner[1] / 2]
            _wait(page, plot, "state.win.T1", lambda v: v == pytest.approx(want, abs=1e-6))
            assert presets["Marrow"] != presets["Disc"] != presets["default"]
            # keys 1-4 go through applyPreset(index): index 0 is Marrow on both series
            assert plot.evaluate("el => applyPreset(0)") is True
            _wait(page, plot, "state.win.T1", lambda v: v == presets["Marrow"])
            _wait(page, plot, "state.win.T2", lambda v: v == _state(plot, "spec.windows.T2.presets.Marrow"))

            # 2. typed level / width: Enter applies; an invalid width keeps the window and shows the old value again
            level, width = picture.get_by_label("T1 window level value"), picture.get_by_label("T1 window width value")
            level.fill("500")
            level.press("Enter")
            width.fill("300")
            width.press("Enter")
            _wait(page, plot, "state.win.T1", lambda v: v == pytest.approx([350.0, 650.0]))
            for bad in ("-5", "abc", ""):
                width.fill(bad) if bad != "abc" else width.press_sequentially(bad)
                width.press("Enter")
                page.wait_for_timeout(200)
                assert _state(plot, "state.win.T1") == pytest.approx([350.0, 650.0])
                assert float(width.input_value()) == pytest.approx(300.0)
            picture.get_by_role("button", name="T1 reset window", exact=True).click()
            _wait(page, plot, "state.win.T1", lambda v: v == presets["default"])
            page.screenshot(path=str(artifacts / "wl_01_presets.png"))

            # 3. the ROI probe: Probe mode, drag a rectangle inside the block on the T1 panel (slice 3)
            picture.get_by_role("checkbox", name="Probe (m)").check()
            z = _state(plot, "state.z")
            _drag(page, plot, "")
            started = time.perf_counter()
            roi = _wait(page, plot, "state.roi", lambda v: bool(v))
            assert roi["z"] == z and COLS[0] < roi["x0"] < roi["x1"] < COLS[1] and ROWS[0] < roi["y0"] < roi["y1"] < ROWS[1]
            got = _wait(page, plot, "spec.roi", lambda v: bool(v) and v["n"] == roi["n"], 60)
            print(f"rectangle drawn -> reading in the picture: {time.perf_counter() - started:.2f} s")
            assert abs(got["ratio_t1"] - BLOCK[0] / MARROW[0]) <= 0.02 * BLOCK[0] / MARROW[0], got
            assert abs(got["ratio_t2"] - BLOCK[1] / MARROW[1]) <= 0.02 * BLOCK[1] / MARROW[1], got
            # the means in the method's units: the library's normalization of the same series, over the same voxels
            method = default_method()
            rows = slice(int(np.ceil(roi["y0"] - 0.5)), int(np.ceil(roi["y1"] - 0.5)))
            cols = slice(int(np.ceil(roi["x0"] - 0.5)), int(np.ceil(roi["x1"] - 0.5)))
            for key in ("t1", "t2"):
                vol = load_series(served["paths"][key])
                want = float(normalize(vol, method).array[z, rows, cols].mean())
                assert abs(got[key] - want) <= 0.02 * abs(want), (key, got[key], want)
            expect(picture.locator("#probe_line")).to_contain_text("T1 ratio 0.50", timeout=5_000)
            page.get_by_text(re.compile(r"Probe, slice \d+, \d+ pixels")).first.wait_for(timeout=30_000)  # under the picture
            assert picture.locator("#plot .annotation-text", has_text="× centre").count() >= 1  # the label by the rectangle
            page.screenshot(path=str(artifacts / "wl_02_probe.png"))
            # the same rectangle drawn on the T2 panel (the T2 is on the T1 grid) reads the same
            _drag(page, plot, "2")
            started = time.perf_counter()
            again = _wait(page, plot, "spec.roi", lambda v: bool(v) and v["n"] == roi["n"] + 1, 60)
            print(f"second rectangle (T2 panel) -> reading: {time.perf_counter() - started:.2f} s")
            assert again["ratio_t1"] == pytest.approx(got["ratio_t1"], rel=0.02) and again["ratio_t2"] == pytest.approx(got["ratio_t2"], rel=0.02)
            # the key m turns Probe mode off (and clears the rectangle)
            picture.locator("#caption").click()
            page.keyboard.press("m")
            expect(picture.get_by_role("checkbox", name="Probe (m)")).not_to_be_checked(timeout=5_000)
            assert not errors, errors
            assert "Traceback" not in page.inner_text("body")
        finally:
            browser.close()
