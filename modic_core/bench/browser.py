"""The case viewer's latency in a real browser (part of ``make bench``).

    python -m modic_core.bench.browser [--repeats 5] [--case phantom-dicom] [--json benchmarks/browser.json]
                                       [--app-root .] [--only review_save ...] [--synthetic 512] [--cold-starts 3]

Starts ``streamlit run app.py`` on 127.0.0.1 with the installed (real) models, as
``tests/app/test_browser.py`` does, opens it in Debian's Chromium (``/usr/bin/chromium``, driven by
Playwright; Playwright never downloads a browser), chooses a demo case and times each interaction
of the viewer: slice one step, detector threshold, window/level, Grad-CAM opacity, the Grad-CAM
and Boxes toggles, a normalization switch (to a method already computed, and to one that
needs the classifier), and saving a review ("review save": a reviewer name in the sidebar, levels graded
with the keys, then "Save review" clicked; timed to the first frame that shows "Saved ...", the first save
storing the study's de-identified copy in a throw-away label store). ``--only NAME ...`` measures only those
interactions and merges them into an existing ``--json`` file (the others are kept as they were measured).
Also: "row click" (a click on a row of the picture's level table, alternating between two levels, until the
level's focus crops are shown and the page has settled), "normalization n4" (the first switch to N4 + z-score:
one sample per server process, as later switches are cached) and "cold start" (from launching the server
process to the first case settled in a fresh browser page, ``--cold-starts`` servers started one after the
other, each with an empty cache). ``--synthetic SIZE`` serves, instead of the bundled demo phantom, a
real-size synthetic pair (15 slices of SIZE x SIZE over :data:`SYNTHETIC_FOV_MM`, seed :data:`SYNTHETIC_SEED`,
the bundled phantom's lesions) written as DICOM into a temporary demo folder (``MODIC_DEMO_DIR``) and chosen
as the case "phantom-dicom" there.

Settled = the last change to the DOM of the page or of its frames (the viewer's picture is a
component iframe, ``modic_core/ui/figure.py``) after the input, once Streamlit reports no run in
progress, no element is marked stale, and nothing has changed for 400 ms; the time is from just
before the input to that last change. The slice, opacity and the two toggles live in the picture and
act in the browser; the view reaches the server 0.7 s after the input rests (a rerun that falls
after the 400 ms of quiet, so it is not in these times). Writes a
:class:`modic_core.schema.BrowserBenchmark`. Targets (2 CPU cores): 300 ms for picture-only
controls and the threshold, 1000 ms for a normalization switch that needs the classifier, 2000 ms for
the first switch to N4 + z-score, 300 ms for a table-row click and 8000 ms for a cold start.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from modic_core.bench.serve import start_streamlit, stop
from modic_core.schema import BrowserBenchmark, InteractionTiming
from modic_core.normalization.methods import NORMALIZATIONS
from modic_core.ui.comparison import shipped_best_method
from modic_core.ui.session import models_status

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "SYNTHETIC_FOV_MM", "SYNTHETIC_SEED", "TARGETS_MS", "launch_chromium", "main",
           "merged", "run", "write_synthetic_demo"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def launch_chromium(playwright):
    """Debian's Chromium (:data:`CHROMIUM`), headless, with the flags this closed network needs
    (:data:`CHROMIUM_ARGS`); ``playwright`` is the object ``sync_playwright()`` gives. Never downloads a browser."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


TARGETS_MS = {"slice": 300.0, "threshold": 300.0, "threshold_table": 300.0, "window_level": 300.0, "opacity": 300.0, "gradcam_toggle": 300.0,
              "boxes_toggle": 300.0, "normalization_cached": 300.0, "normalization_new": 1000.0, "review_save": 300.0,
              "normalization_n4": 2000.0, "row_click": 300.0, "cold_start": 8000.0}
SYNTHETIC_SEED = 7
SYNTHETIC_FOV_MM = 249.6  # in-plane field of view of the synthetic pair: the bundled phantom's (192 px x 1.3 mm)
SETTLED = ("last DOM change (page or its frames, e.g. the picture component) after the input, once no Streamlit run is in "
           "progress, no element is stale and nothing has changed for 400 ms; timed from just before the input "
           "(performance clock of the page)")

_OBSERVE = """() => {
  if (window.__modicObs) return;
  window.__lastMut = 0;
  window.__modicObs = new MutationObserver(() => { window.__lastMut = performance.timeOrigin + performance.now(); });
  window.__modicObs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""
_STATE = """() => [performance.timeOrigin + performance.now(), window.__lastMut,
  document.querySelector("[data-testid='stStatusWidget'] [data-testid='stStatusWidgetRunningIcon'], "
                         + "[data-testid='stStatusWidgetRunningIcon']") !== null,
  document.querySelector("[data-stale='true']") !== null]"""
FIGURE = "iframe[title*='modic_case_figure']"  # the case viewer's picture (modic_core/ui/figure.py)


def _observe(page) -> None:
    """Watch DOM changes in the page and in its frames (the viewer's picture is a component iframe)."""
    for frame in page.frames:
        try:
            frame.evaluate(_OBSERVE)
        except Exception:  # a frame that is going away
            pass


def _state(page) -> tuple[float, float, bool, bool]:
    """(now, last DOM change in any frame, a run in progress, an element stale); times in ms since the epoch."""
    _observe(page)
    now, last, running, stale = page.evaluate(_STATE)
    for frame in page.frames[1:]:
        try:
            last = max(last, frame.evaluate("() => window.__lastMut || 0"))
        except Exception:
            pass
    return now, last, running, stale


def _start(app_root: Path, log_path: Path, data_dir: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    try:
        return start_streamlit(app_root, log_path, env=dict(os.environ, PYTHONPATH=str(app_root), MODIC_DATA_DIR=str(data_dir),
                                                           **(extra_env or {})))
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def _settle(page, *, quiet_ms: float = 400.0, timeout_s: float = 60.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        now, last, running, stale = _state(page)
        if not running and not stale and now - last >= quiet_ms:
            return
        page.wait_for_timeout(50)
    raise TimeoutError("the page did not settle")


def _timed(page, action, *, quiet_ms: float = 400.0) -> float:
    """Milliseconds from just before ``action()`` to the last DOM change once the page has settled."""
    _settle(page)
    for frame in page.frames:
        frame.evaluate("() => { window.__lastMut = 0; }")
    t0 = page.evaluate("() => performance.timeOrigin + performance.now()")
    action()
    deadline = time.time() + 60
    while time.time() < deadline:
        now, last, running, stale = _state(page)
        if last > t0 and not running and not stale and now - last >= quiet_ms:
            return float(last - t0)
        page.wait_for_timeout(30)
    raise TimeoutError("the page did not settle after the input")


def write_synthetic_demo(folder: Path, *, size: int = 512, app_root: Path | None = None) -> Path:
    """A demo folder (for ``MODIC_DEMO_DIR``) holding the checkout's demo cases, its "phantom-dicom" replaced by a
    real-size synthetic pair: 15 sagittal slices of ``size`` x ``size`` over :data:`SYNTHETIC_FOV_MM` mm (4 mm apart), seed
    :data:`SYNTHETIC_SEED`, the bundled phantom's lesions, written as DICOM with its ground truth. Returns ``folder``."""
    from unittest import mock  # lazy: only the --synthetic bench option needs it

    from modic_core.datasets import demo  # lazy: only the --synthetic bench option writes a demo folder

    root = Path(app_root or Path(__file__).resolve().parents[2])
    shutil.copytree(root / "demo", folder, ignore=shutil.ignore_patterns("phantom_dicom"), dirs_exist_ok=True)
    pixel = SYNTHETIC_FOV_MM / int(size)
    params = {"shape": (15, int(size), int(size)), "spacing": (4.0, pixel, pixel), "seed": SYNTHETIC_SEED}
    with mock.patch.dict(demo.PHANTOM_PARAMS, params):
        demo.write_demo_phantom(folder / "phantom_dicom")
    return folder


_FROM_START = """window.__lastMut = 0; window.__modicObs = true;
new MutationObserver(() => { window.__lastMut = performance.timeOrigin + performance.now(); })
  .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});"""


def _cold_start(browser, root: Path, data_dir: Path, extra_env: dict[str, str]) -> float:
    """Milliseconds from launching a fresh server process to the last DOM change of the first case, settled
    (its "Per-level results" shown), in a new browser page watched from its first frame."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"modic_bench_cold_{os.getpid()}.log"
    context = browser.new_context(viewport={"width": 1500, "height": 1400})
    page = context.new_page()
    page.add_init_script(_FROM_START)
    t0 = time.time() * 1000.0
    proc, url = _start(root, log, data_dir, extra_env)
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("Per-level results").wait_for(timeout=300_000)
        page.locator(FIGURE).last.wait_for(timeout=120_000)
        _settle(page, timeout_s=120.0)
        return float(_state(page)[1] - t0)
    finally:
        context.close()
        stop(proc)


def _slider(page, label: str, *, sidebar: bool = False):
    if label in ("Slice", "Grad-CAM opacity") or label.endswith(("window level", "window width")):  # in the picture component
        return page.frame_locator(FIGURE).last.get_by_label(re.compile(label)).first
    scope = page.locator("[data-testid='stSidebar']") if sidebar else page.locator("[data-testid='stMain'], section.main").first
    box = scope.locator("[data-testid='stSlider']").filter(has_text=label).first
    return box.locator("[role='slider'], input[type='range']").first


def _press(page, target, key: str):
    def go() -> None:
        target.focus()
        page.keyboard.press(key)
    return go


def _pick_method(page, label_text: str):
    sidebar = page.locator("[data-testid='stSidebar']")

    def go() -> None:
        radio = sidebar.locator("[data-testid='stRadio'] label").filter(has_text=label_text)
        if radio.count():
            radio.first.click()
            return
        sidebar.locator("[data-testid='stSelectbox']").first.click()  # older layout: a selectbox
        page.get_by_role("option").filter(has_text=label_text).first.click()
    return go


def _stats(samples: list[float], target: float, note: str | None = None) -> InteractionTiming:
    med = statistics.median(samples)
    return InteractionTiming(median_ms=round(med, 1), min_ms=round(min(samples), 1), max_ms=round(max(samples), 1),
                             n=len(samples), target_ms=target, within_target=bool(med <= target),
                             samples_ms=[round(s, 1) for s in samples], note=note)


_SAVED_AT = """() => {
  const el = [...document.querySelectorAll("[data-testid='stAlertContentSuccess'], [data-testid='stAlert']")]
    .find(e => e.innerText.trim().startsWith("Saved "));
  return el ? performance.timeOrigin + performance.now() : false;
}"""
SAVE = "[class*='st-key-rv_save_'] button"  # the review panel's "Save review" (modic_core/ui/review.py)


def _keys(page, *keys: str) -> None:
    """Press ``keys`` with no widget focused (the review panel's shortcuts), letting each rerun settle."""
    def press(key: str):
        def go() -> None:
            page.evaluate("() => document.activeElement && document.activeElement.blur()")
            page.keyboard.press(key)
        return go

    for key in keys:
        _timed(page, press(key))  # waits for the key's rerun to show and settle, so no key lands on the previous level


def _review_save(page, repeats: int) -> InteractionTiming:
    """Name a reviewer, grade three levels with the keys, then time "Save review" to "Saved ..." ``repeats`` times
    (between saves the current level's grade is switched with a key, so each save appends one review)."""
    box = page.locator("[data-testid='stSidebar']").get_by_label("Your name (for reviews)", exact=True)
    box.fill("Bench Reviewer")
    box.press("Enter")
    page.get_by_text("Reviewing as").wait_for(timeout=60_000)
    _settle(page)
    _keys(page, "a", "n", "2", "n", "0")
    samples = []
    for i in range(repeats):
        if i:
            _keys(page, "2" if i % 2 else "0")
        _settle(page)
        t0 = page.evaluate("() => performance.timeOrigin + performance.now()")
        page.locator(SAVE).first.click()
        shown = page.wait_for_function(_SAVED_AT, polling="raf", timeout=60_000).json_value()
        samples.append(float(shown - t0))
        _settle(page)
    return _stats(samples, TARGETS_MS["review_save"],
                  note=f"first save, which also stores the study and its copy: {samples[0]:.0f} ms")


def run(*, repeats: int = 5, case: str = "phantom-dicom", app_root: Path | None = None,
        screenshots: Path | None = None, only: Sequence[str] | None = None, synthetic: int | None = None,
        cold_starts: int = 3) -> BrowserBenchmark:
    """Start the app, drive Chromium, return the timings (``only``: just these interactions; ``synthetic``: serve
    the real-size synthetic pair of that in-plane size as "phantom-dicom", :func:`write_synthetic_demo`)."""
    from playwright.sync_api import sync_playwright  # lazy: playwright is optional (browser benchmark only)

    unknown = sorted(set(only or ()) - set(TARGETS_MS))
    if unknown:
        raise SystemExit(f"unknown interaction(s) {', '.join(unknown)}; pick from {', '.join(TARGETS_MS)}")
    if not CHROMIUM.exists():
        raise SystemExit("Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)")

    def want(name: str) -> bool:
        return only is None or name in only

    status = models_status(None)
    trained = [m for m, ok in status["classifiers"].items() if ok]
    if not status["detector"] or len(trained) < 2:
        raise SystemExit("the browser benchmark needs the detector and two trained classifiers (weights/)")
    root = Path(app_root or Path(__file__).resolve().parents[2])
    load_before = os.getloadavg()[0]
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"modic_bench_browser_{os.getpid()}.log"
    data_dir = Path(tempfile.mkdtemp(prefix="modic_bench_labels_"))  # a throw-away label store for "review save"
    extra_env: dict[str, str] = {}
    notes: list[str] = []
    if synthetic:
        demo_folder = write_synthetic_demo(data_dir / "demo", size=synthetic, app_root=root)
        extra_env["MODIC_DEMO_DIR"] = str(demo_folder)
        case = "phantom-dicom"
        notes.append(f"Case: a real-size synthetic pair, 15 sagittal slices of {synthetic}x{synthetic} at "
                     f"{SYNTHETIC_FOV_MM / synthetic:.3f} mm, seed {SYNTHETIC_SEED}, the bundled phantom's lesions, as DICOM "
                     "(modic_core.bench.browser.write_synthetic_demo).")
    results: dict[str, InteractionTiming] = {}
    cold: list[float] = []
    if want("cold_start"):
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                cold = [_cold_start(browser, root, data_dir, extra_env) for _ in range(max(1, cold_starts))]
            finally:
                browser.close()
        results["cold_start"] = _stats(cold, TARGETS_MS["cold_start"],
                                       note="server process launched to the first case settled, a fresh process each time")
    proc, url = _start(root, log, data_dir, extra_env)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1400})
                page.goto(url, wait_until="domcontentloaded")
                page.get_by_text("Per-level results").wait_for(timeout=300_000)
                demo = page.locator("[data-testid='stSelectbox']").filter(has_text="Demo case").first
                demo.click()
                page.get_by_role("option").filter(has_text=case).first.click()
                page.frame_locator(FIGURE).last.get_by_text(re.compile(r"Slice \d+ of")).first.wait_for(timeout=300_000)
                page.get_by_text("Per-level results").wait_for(timeout=300_000)
                page.wait_for_timeout(1500)
                page.locator(FIGURE).last.wait_for(timeout=120_000)
                _observe(page)
                _settle(page)
                # warm up: one pass of each control so first-use costs (imports, caches) are not counted
                sidebar_thr = _slider(page, "Detector confidence threshold", sidebar=True)
                z = _slider(page, "Slice")
                opacity = _slider(page, "Grad-CAM opacity")
                win = _slider(page, "T1 window level")
                controls = {
                    "slice": (z, "ArrowRight", "ArrowLeft"),
                    "threshold": (sidebar_thr, "ArrowRight", "ArrowLeft"),
                    "window_level": (win, "ArrowRight", "ArrowLeft"),
                    "opacity": (opacity, "ArrowRight", "ArrowLeft"),
                }
                controls = {name: c for name, c in controls.items() if want(name)}
                for target, fwd, back in controls.values():
                    _timed(page, _press(page, target, fwd))
                    _timed(page, _press(page, target, back))
                for name, (target, fwd, back) in controls.items():
                    samples = [_timed(page, _press(page, target, fwd if i % 2 == 0 else back)) for i in range(repeats)]
                    results[name] = _stats(samples, TARGETS_MS[name])
                if want("threshold_table"):
                    # a threshold step that changes the table: 0.95 <-> 1.0 drops / brings back the levels scored below 1
                    sidebar_thr.focus()
                    page.keyboard.press("End")
                    _settle(page)
                    _timed(page, _press(page, sidebar_thr, "ArrowLeft"))
                    samples = [_timed(page, _press(page, sidebar_thr, "ArrowRight" if i % 2 == 0 else "ArrowLeft"))
                               for i in range(repeats + (repeats % 2))]
                    results["threshold_table"] = _stats(samples, TARGETS_MS["threshold_table"],
                                                        note="0.95 <-> 1.00: levels scored below 1 leave and come back")
                    sidebar_thr.focus()
                    for _ in range(9):  # back to 0.50 for the rest
                        page.keyboard.press("ArrowLeft")
                    _settle(page)
                figure = page.frame_locator(FIGURE).last
                for name, label in (("gradcam_toggle", "Grad-CAM"), ("boxes_toggle", "Boxes")):
                    if not want(name):
                        continue
                    target = figure.get_by_role("checkbox", name=label, exact=True)
                    samples = [_timed(page, target.click) for _ in range(repeats + (repeats % 2))]  # even: ends as it began
                    results[name] = _stats(samples, TARGETS_MS[name])
                if want("row_click"):
                    rows = figure.locator("tr[data-level]")
                    pick = [rows.nth(1), rows.nth(min(3, rows.count() - 1))]
                    _timed(page, pick[1].click)  # warm up: the first crops drawn
                    samples = [_timed(page, pick[i % 2].click) for i in range(repeats)]
                    results["row_click"] = _stats(samples, TARGETS_MS["row_click"],
                                                  note="a click on a level's row to the settled page: the crops drawn in the picture, then the server's rerun; two levels in turn")
                if screenshots:
                    screenshots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshots / "bench_viewer.png"))
                # normalization: each first visit of a method runs its classifier; later visits are cached
                default = shipped_best_method()
                current = NORMALIZATIONS[default].label
                others = [NORMALIZATIONS[m].label for m in trained if m not in (default, "n4_zscore")]  # N4: its own row
                if want("normalization_new") or want("normalization_cached"):
                    new = [_timed(page, _pick_method(page, lab)) for lab in others[:repeats]]
                    results["normalization_new"] = _stats(new, TARGETS_MS["normalization_new"],
                                                          note="first switch to each of " + ", ".join(others[:repeats]))
                    pair = [others[0], others[1] if len(others) > 1 else current]
                    cached = [_timed(page, _pick_method(page, pair[i % 2])) for i in range(repeats)]
                    results["normalization_cached"] = _stats(cached, TARGETS_MS["normalization_cached"],
                                                             note="between " + " and ".join(pair))
                if want("normalization_n4") and "n4_zscore" in trained and default != "n4_zscore":
                    n4 = [_timed(page, _pick_method(page, NORMALIZATIONS["n4_zscore"].label))]  # later switches are cached
                    results["normalization_n4"] = _stats(n4, TARGETS_MS["normalization_n4"],
                                                         note="the first switch to N4 + z-score, one per server process")
                if want("review_save"):
                    results["review_save"] = _review_save(page, repeats)
                    if screenshots:
                        page.screenshot(path=str(screenshots / "bench_review_saved.png"), full_page=True)
            finally:
                browser.close()
    finally:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    version = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True).stdout.strip()
    notes.append("The app runs as `make run` starts it (no thread limits); other processes on the machine share its cores.")
    return BrowserBenchmark(when=datetime.now(timezone.utc).isoformat(timespec="seconds"), commit=commit or None,
                            cpu_count=os.cpu_count() or 0, load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                            browser=version or "chromium", case=case, settled=SETTLED, interactions=results, notes=notes)


def merged(old: BrowserBenchmark, new: BrowserBenchmark) -> BrowserBenchmark:
    """``old`` with ``new``'s interactions replacing or added to its own (an ``--only`` run), and a note
    saying when, at which commit and under which load those were measured."""
    names = ", ".join(new.interactions)
    note = (f"{names}: measured separately (--only) on {new.when[:10]} at commit {new.commit}, load average "
            f"{new.load_average[0]:.1f} at the start; the other rows at commit {old.commit}.")
    keep = [n for n in old.notes if not n.startswith(f"{names}: measured separately")]
    return old.model_copy(update={"interactions": {**old.interactions, **new.interactions}, "notes": keep + [note]})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--case", default="phantom-dicom", help="demo case to open (needs several slices for the slice slider)")
    ap.add_argument("--app-root", type=Path, default=None, help="checkout whose app.py to serve (default: this one)")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/browser.json"))
    ap.add_argument("--screenshots", type=Path, default=None)
    ap.add_argument("--synthetic", type=int, default=None, metavar="SIZE",
                    help="serve a real-size synthetic pair (15 slices of SIZE x SIZE) as the case phantom-dicom")
    ap.add_argument("--cold-starts", type=int, default=3, help="fresh server processes timed for the cold start")
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME",
                    help=f"measure only these ({', '.join(TARGETS_MS)}) and merge them into an existing --json file")
    args = ap.parse_args(argv)
    doc = run(repeats=args.repeats, case=args.case, app_root=args.app_root, screenshots=args.screenshots, only=args.only,
              synthetic=args.synthetic, cold_starts=args.cold_starts)
    for name, t in doc.interactions.items():
        flag = "ok" if t.within_target else "OVER"
        print(f"{name:22s} median {t.median_ms:7.1f} ms  (min {t.min_ms:.0f}, max {t.max_ms:.0f}, n={t.n})  "
              f"target {t.target_ms:.0f} ms  {flag}")
    print(f"load average {doc.load_average[0]} -> {doc.load_average[1]} on {doc.cpu_count} cores")
    if args.json:
        if args.only and args.json.is_file():
            doc = merged(BrowserBenchmark.load(args.json), doc)
        doc.save(args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
