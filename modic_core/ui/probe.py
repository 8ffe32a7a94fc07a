"""The Modic signal probe as the case viewer shows it.

Two table columns, one per sequence, each "upper 0.52 · lower 1.01": the endplate / vertebral-centre signal
ratio of the marrow above the disc (upper: the vertebra above) and below it (lower: the vertebra below), as
:mod:`modic_core.analysis.signal_probe` measures them (1.00 = same signal as the vertebra's centre).

The ROI probe: in the picture's Probe mode (figure_static/probe.js) the reader drags a rectangle; the
browser reports ``roi`` = {"z", "x0", "y0", "x1", "y1", "n"} (slice, 0-based; T1 pixel-edge coordinates;
``n`` counts the rectangles drawn) and :func:`probe_roi` reads it with
:func:`~modic_core.analysis.signal_probe.roi_signal` on the study's raw arrays and on the same arrays
normalized by the report's method (computed once per study and method, held by :func:`normalized_pair`).
"""
from __future__ import annotations

import math
from typing import Any

import streamlit as st

from modic_core.analysis.signal_probe import RoiSignal, roi_signal
from modic_core.normalization import normalize
from modic_core.ui import runtime as rt

__all__ = ["PROBE_COLUMNS", "PROBE_HELP", "NO_ROI_UNITS", "probe_cells", "roi_of_view", "normalized_pair", "probe_roi", "roi_label",
           "roi_line", "roi_spec"]

#: The table's probe columns (T1, then T2).
PROBE_COLUMNS = ("T1 endplate/centre", "T2 endplate/centre")
#: What the columns mean, one sentence for a caption or tooltip.
PROBE_HELP = ("Endplate/centre: mean marrow signal beside the disc's upper and lower endplate divided by the same "
              "vertebra's central marrow (1.00 = no difference; Modic 1 reads T1 below 1 and T2 above 1). A research "
              "measurement with fixed band sizes, not yet checked on real levels: levels without Modic change do not "
              "always read 1.00 (a band can catch the endplate's cortex or the disc), so read it beside the images.")


def _ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def probe_cells(signal) -> dict[str, str | None]:
    """{column: "upper 0.52 · lower 1.01"} for a level's :class:`~modic_core.analysis.signal_probe.LevelSignal`;
    None cells (shown as "—") for a level without a probe (e.g. not graded)."""
    if signal is None:
        return dict.fromkeys(PROBE_COLUMNS)
    return {col: f"upper {_ratio(getattr(signal, f'upper_ratio_{seq}'))} · lower {_ratio(getattr(signal, f'lower_ratio_{seq}'))}"
            for col, seq in zip(PROBE_COLUMNS, ("t1", "t2"))}


def roi_of_view(value: Any, shape: tuple[int, int, int]) -> tuple[int, tuple[float, float, float, float]] | None:
    """(z, (x0, y0, x1, y1)) of the rectangle the browser reported, or None for anything else (no ROI, a
    damaged value, a slice outside ``shape`` = (z, y, x), a rectangle under one pixel wide or tall)."""
    if not isinstance(value, dict):
        return None
    try:
        z = int(value["z"])
        x0, y0, x1, y1 = (float(value[k]) for k in ("x0", "y0", "x1", "y1"))
    except (KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(v) and abs(v) < 1e6 for v in (x0, y0, x1, y1)) or not 0 <= z < shape[0]:
        return None
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    return (z, (x0, y0, x1, y1)) if x1 - x0 >= 1.0 and y1 - y0 >= 1.0 else None


#: Methods whose units a drawn rectangle is not read in: N4 takes about 15 s per study on one core (measured on the
#: 15-slice DICOM phantom), too long to wait for after a drag; the ratios (raw signal) are read all the same.
NO_ROI_UNITS = frozenset({"n4_zscore"})


def _landmarks(fp: str, method: str):
    """The classifier's Nyul landmarks for ``method`` through the session's analysis (None when there are none)."""
    analysis = rt.get_store().peek(fp)
    try:
        return analysis._classifier(method).landmarks  # noqa: SLF001 - the analysis keeps the loaded classifier
    except Exception:  # noqa: BLE001 - no analysis, a double without classifiers, or no landmarks: no normalized units
        return None


@st.cache_resource(max_entries=2, show_spinner=False)
def normalized_pair(key: tuple, method: str, _study, _fp: str):
    """(T1, T2) arrays of ``_study`` normalized by ``method`` as the classifier sees them, or None when the
    method cannot run here (e.g. Nyul without landmarks). ``key`` names the study (fingerprint, T2 placement);
    shared, never mutated. None for :data:`NO_ROI_UNITS`."""
    if method in NO_ROI_UNITS:
        return None
    try:
        lm = _landmarks(_fp, method)
        return (normalize(_study.t1, method, landmarks=lm).array, normalize(_study.t2, method, landmarks=lm).array)
    except Exception:  # noqa: BLE001 - the ratios (raw signal) are still read
        return None


def probe_roi(study, levels, value: Any, *, key: tuple, fp: str, method: str) -> RoiSignal | None:
    """The ROI probe of the rectangle in ``value`` (the browser's ``roi``) against its vertebra's central
    marrow, in ``method``'s units and as ratios; None when ``value`` is no usable rectangle."""
    got = roi_of_view(value, study.t1.shape)
    if got is None:
        return None
    pair = normalized_pair(key, method, study, fp)
    return roi_signal(roi=got[1], z=got[0], levels=levels, spacing_yx=tuple(study.t1.spacing[1:]), t1=study.t1.array,
                      t2=study.t2.array, t1_norm=None if pair is None else pair[0], t2_norm=None if pair is None else pair[1])


def _num(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def roi_label(sig: RoiSignal) -> str:
    """The short label drawn by the rectangle: "T1 0.62 · T2 1.40 × centre"."""
    return f"T1 {_num(sig.ratio_t1)} · T2 {_num(sig.ratio_t2)} × centre"


def roi_line(sig: RoiSignal, *, method: str) -> str:
    """One plain line for under the picture: the rectangle's mean T1 / T2 in ``method``'s units, its vertebra's
    centre, and the ratios."""
    where = (f"against the {'upper' if sig.side == 'upper' else 'lower'} vertebra's centre at {sig.level}"
             if sig.level else "with no level to compare with")
    units = (f" · mean T1 {_num(sig.t1, 3)}, T2 {_num(sig.t2, 3)} ({method} units; centre T1 {_num(sig.centre_t1, 3)}, "
             f"T2 {_num(sig.centre_t2, 3)})") if sig.t1 is not None else ""
    return (f"Probe, slice {sig.z + 1}, {sig.pixels} pixels, {where}: T1 ratio {_num(sig.ratio_t1)}, "
            f"T2 ratio {_num(sig.ratio_t2)}{units}." + (" " + " ".join(sig.notes) if sig.notes else ""))


def roi_spec(sig: RoiSignal | None, value: Any, *, method: str) -> dict | None:
    """What the picture shows for the rectangle: {"n", "label", "line", "ratio_t1", "ratio_t2", "t1", "t2"}
    (``n`` the browser's rectangle count, so it labels only the rectangle the numbers belong to)."""
    if sig is None:
        return None
    return {"n": int(value.get("n", 0) or 0), "label": roi_label(sig), "line": roi_line(sig, method=method),
            "ratio_t1": sig.ratio_t1, "ratio_t2": sig.ratio_t2, "t1": sig.t1, "t2": sig.t2}
