"""The README's picture of the case viewer, regenerated from the running app.

    python -m modic_core.bench.screenshot [--out docs/img/case_viewer.png] [--width 1500] [--height 1380]

Starts ``streamlit run app.py`` on 127.0.0.1 with the installed models (as ``make run`` does and as the
browser benchmark does), opens it in Debian's Chromium (``/usr/bin/chromium``, driven by Playwright with
the browser tests' flags; Playwright never downloads a browser), waits for the first demo case the app
shows without any click (picture and per-level table drawn, no Streamlit run in progress), and saves a
screenshot of the viewport. The PNG is reduced to a 256-colour palette so it stays small (well under
300 KB at the default size, which shows the sidebar, the picture and the per-level table).
"""
from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

from PIL import Image

from modic_core.bench.browser import CHROMIUM, FIGURE, launch_chromium
from modic_core.bench.serve import start_streamlit, stop
from modic_core.settings import project_root

__all__ = ["capture", "main"]

RUNNING = "[data-testid='stStatusWidgetRunningIcon']"


def _quiet(page, *, quiet_s: float = 3.0, timeout_s: float = 120.0) -> None:
    """Wait until no Streamlit run has been in progress and no element is stale for ``quiet_s`` seconds."""
    deadline = time.time() + timeout_s
    calm_since = time.time()
    while time.time() < deadline:
        busy = page.locator(RUNNING).count() > 0 or page.locator("[data-stale='true']").count() > 0
        if busy:
            calm_since = time.time()
        elif time.time() - calm_since >= quiet_s:
            return
        page.wait_for_timeout(250)
    raise TimeoutError(f"the page did not settle in {timeout_s:.0f} s")


def capture(*, out: Path, width: int = 1500, height: int = 1380, app_root: Path | None = None) -> Path:
    """Screenshot (``width`` x ``height`` CSS pixels, device scale 1) of the case viewer with its default demo
    case, written to ``out`` as a palette PNG; returns ``out``."""
    from playwright.sync_api import sync_playwright  # lazy: only this script and the browser tests need it

    if not CHROMIUM.exists():
        raise SystemExit("Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    root = Path(app_root or project_root())
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"modic_screenshot_{os.getpid()}.log"
    try:
        proc, url = start_streamlit(root, log, env=dict(os.environ, PYTHONPATH=str(root)))
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url, wait_until="domcontentloaded")
                page.get_by_text("Per-level results").wait_for(timeout=300_000)
                page.frame_locator(FIGURE).last.locator("#level_table tbody tr").first.wait_for(timeout=300_000)
                _quiet(page)
                png = page.screenshot(full_page=False)
            finally:
                browser.close()
    finally:
        stop(proc)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG", optimize=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=project_root() / "docs" / "img" / "case_viewer.png")
    ap.add_argument("--width", type=int, default=1500, help="viewport width in CSS pixels")
    ap.add_argument("--height", type=int, default=1380, help="viewport height in CSS pixels")
    args = ap.parse_args(argv)
    out = capture(out=args.out, width=args.width, height=args.height)
    print(f"{out} ({out.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
