""""Save figure": the case viewer's current view as one PNG for slides.

The same T1/T2 pair as the PDF report (:func:`modic_core.export.panels.draw_pair`: boxes in the predicted class's
colour, level labels in a column between the panels with leader lines, never on the anatomy, Grad-CAM at the
opacity on screen), of the slice and windows on screen, 16:9-friendly width, at :data:`DPI` dots per inch, with
the study's hashed ID, the method and the disclaimer in small type along the bottom. No patient identifier is
drawn; the caller names the file from the hashed study label.
"""
from __future__ import annotations

import io
from typing import Sequence

from modic_core.export.panels import pair_height, draw_pair
from modic_core.export.render import Window
from modic_core.export.style import NOTICE

__all__ = ["DPI", "PANEL_W_IN", "figure_png"]

#: Resolution of the PNG (dots per inch): 150 keeps a 1080-pixel-high slide sharp for a typical sagittal slice.
DPI = 150
#: Width of each image panel, inches (the label column between them is :data:`LABEL_W_IN`).
PANEL_W_IN = 4.6
LABEL_W_IN = 0.85
_MARGIN_IN = 0.25
_FOOTER_IN = 0.35


def figure_png(*, study, levels: Sequence, z: int, window_t1: Window, window_t2: Window, heat_opacity: float,
               study_label: str, method: str) -> bytes:
    """PNG bytes of slice ``z`` (0-based) of ``study`` (T1 left, T2 on the T1 grid right) with ``levels``' boxes and
    labels; ``window_t1``/``window_t2`` in the series' own units; ``heat_opacity`` in [0, 1] (0: no Grad-CAM);
    ``study_label`` (the hashed ID) and ``method`` (a label) go in the footer."""
    from matplotlib.figure import Figure  # lazy: matplotlib is heavy; only the figures need it

    ny, nx = study.t1.shape[1:]
    nz = study.t1.shape[0]
    spacing = (float(study.t1.spacing[1]), float(study.t1.spacing[2]))
    ph = pair_height((ny, nx), spacing, PANEL_W_IN)
    width = 2 * _MARGIN_IN + 2 * PANEL_W_IN + LABEL_W_IN
    height = _MARGIN_IN + ph + 0.3 + _FOOTER_IN + _MARGIN_IN
    fig = Figure(figsize=(width, height))
    fig.patch.set_facecolor("white")
    draw_pair(fig, study=study, levels=levels, z=z, window_t1=window_t1, window_t2=window_t2,
              heat_opacity=max(0.0, min(1.0, float(heat_opacity))), left=_MARGIN_IN, top=_MARGIN_IN, panel_w=PANEL_W_IN,
              label_w=LABEL_W_IN, titles=(f"T1 · slice {z + 1} of {nz}", "T2 (on the T1 grid)"), title_pt=10.0)
    fig.text(_MARGIN_IN / width, (_MARGIN_IN + 0.05) / height,
             f"Study {study_label} (hashed ID) · {method} · {NOTICE}", fontsize=7.5, color="#555555", ha="left",
             va="bottom", usetex=False, parse_math=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()
