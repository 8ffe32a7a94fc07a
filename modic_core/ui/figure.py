"""The case viewer's picture as a small local Streamlit component (one plotly.js figure kept alive).

The slice, window/level (presets, level and width sliders, dragging), the Boxes and Grad-CAM
switches and the Grad-CAM opacity act inside the browser on the series the server sent once per
study (16-bit codes, :func:`modic_core.export.display.series_payload`) and on per-level Grad-CAM
patches, so moving them needs no server round trip; the component reports the view back
(``{"z", "win", "opacity", "boxes", "cam", "have"}``) once the input has rested for ``sync_ms``
(the PDF, the focus crops and the checkerboard read it). ``have`` names the series the browser
holds, so a rerun for another reason (threshold, method, focus) sends ``None`` instead of the same
voxels again; a browser that lacks a series asks at once. The page's folder ``figure_static/``
(index.html, viewer.js) is copied once per process into a temporary folder (removed at exit) beside the installed plotly
package's ``plotly.min.js``, so plotly.js is served by Streamlit from 127.0.0.1 and never kept in git.
"""
from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import streamlit.components.v1 as components
import plotly

from modic_core.io.tempdirs import FIGURE_PREFIX, process_temp_dir

__all__ = ["case_figure", "component_dir"]

STATIC = Path(__file__).with_name("figure_static")


def _fill(out: Path) -> None:
    for f in STATIC.iterdir():
        if f.is_file():
            shutil.copy2(f, out / f.name)
    shutil.copy2(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", out / "plotly.min.js")


def component_dir() -> Path:
    """A folder with index.html, viewer.js and plotly.min.js: one per process, made under a lock
    (concurrent first loads share it), removed at exit, swept at start-up if a killed process left
    it (:mod:`modic_core.io.tempdirs`)."""
    return process_temp_dir(FIGURE_PREFIX, fill=_fill)


@lru_cache(maxsize=1)
def _component():
    return components.declare_component("modic_case_figure", path=str(component_dir()))


def case_figure(spec: dict[str, Any], *, key: str) -> dict[str, Any]:
    """Mount the picture; returns the view the browser last reported (``spec["state"]`` until then)."""
    value = _component()(spec=spec, key=key, default=None)
    got = dict(value) if isinstance(value, dict) else dict(spec["state"])
    got.pop("have", None)
    return got
