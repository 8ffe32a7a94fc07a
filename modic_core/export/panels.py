"""T1 and T2 of one slice side by side, the level labels between them: the figure of the PDF report and of
"save figure" (:mod:`modic_core.export.documents`, :mod:`modic_core.export.figure_png`).

Layout (inches, measured from the figure's top-left corner): the T1 panel, a label column, the T2 panel.
Each level's label ("L4-L5" / "MC2 0.78", on its class colour) sits in the column at the height of its box,
pushed apart so that labels never overlap, with a leader line to the box's right edge on T1 and to its left
edge on T2: no label is drawn over the images. Boxes are solid when the level's slab holds the slice,
dotted otherwise (as on screen). The Grad-CAM of the slice (every level's map, :func:`~modic_core.export.render.slice_heatmap`)
is blended over both panels at ``heat_opacity`` (0: none), as the viewer draws it.

Matplotlib's object API only (no pyplot state, safe in Streamlit's threads); every text is drawn plain
(no math or TeX parsing).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from modic_core.export.render import Window, compose_rgb, slice_heatmap, to_display
from modic_core.export.style import class_color

__all__ = ["LABEL_PT", "PairLayout", "draw_pair", "level_label", "pair_height"]

#: Font size (pt) of the level labels between the panels.
LABEL_PT = 8.0
_TITLE_H = 0.24  # inches above the panels for their titles
_LINE_H = LABEL_PT * 1.25 / 72  # one label line, inches


def level_label(lv) -> str:
    """Two lines: the level name, then the predicted class and its probability ("not graded" without one)."""
    if not getattr(lv, "graded", True):
        return f"{lv.level}\nnot graded"
    p = float((getattr(lv, "probabilities", None) or {}).get(lv.prediction, float("nan")))
    return f"{lv.level}\n{lv.prediction} {p:.2f}" if np.isfinite(p) else f"{lv.level}\n{lv.prediction}"


@dataclass
class PairLayout:
    """Where :func:`draw_pair` put things: the two image axes, the label texts, and the block's height (inches,
    titles included)."""

    t1_ax: object
    t2_ax: object
    labels: list = field(default_factory=list)
    height: float = 0.0


def pair_height(shape_yx: tuple[int, int], spacing_yx: tuple[float, float], panel_w: float) -> float:
    """Height (inches) of a panel ``panel_w`` inches wide showing an image of ``shape_yx`` pixels at ``spacing_yx`` mm."""
    h, w = shape_yx
    aspect = spacing_yx[0] / spacing_yx[1] if spacing_yx[1] else 1.0
    return panel_w * h * aspect / w


def _spread(ys: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Label centres (inches, top-down) moved as little as possible so that neighbours are ``gap`` apart, inside [lo, hi]."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = [0.0] * len(ys)
    prev = lo - gap
    for i in order:
        out[i] = max(ys[i], prev + gap)
        prev = out[i]
    overflow = prev - hi  # pushed past the bottom: shift the chain back up, keeping the gaps
    if overflow > 0:
        nxt = hi + gap
        for i in reversed(order):
            out[i] = min(out[i], nxt - gap)
            nxt = out[i]
    return out


def draw_pair(fig, *, study, levels: Sequence, z: int, window_t1: Window, window_t2: Window, heat_opacity: float,
              left: float, top: float, panel_w: float, label_w: float, titles: tuple[str, str],
              title_pt: float = 9.0) -> PairLayout:
    """Draw T1 (at ``left``), the label column (``label_w`` wide) and T2 of slice ``z`` on ``fig``; all lengths in
    inches, ``top`` below the figure's top edge. Panel height follows the image's physical aspect (:func:`pair_height`)."""
    from matplotlib.lines import Line2D  # lazy: matplotlib is heavy; only the figures need it
    from matplotlib.patches import Rectangle

    fw, fh = fig.get_size_inches()
    ny, nx = study.t1.shape[1:]
    spacing = (float(study.t1.spacing[1]), float(study.t1.spacing[2]))
    ph = pair_height((ny, nx), spacing, panel_w)
    aspect = spacing[0] / spacing[1] if spacing[1] else 1.0
    heat = slice_heatmap(levels, z, (ny, nx)) if heat_opacity > 0 else None
    y_img = top + _TITLE_H
    xs = (left, left + panel_w + label_w)
    axes = []
    for k, (vol, win, title) in enumerate(zip((study.t1, study.t2), (window_t1, window_t2), titles)):
        ax = fig.add_axes([xs[k] / fw, 1 - (y_img + ph) / fh, panel_w / fw, ph / fh])
        ax.imshow(compose_rgb(to_display(vol.array[z], win), heat, heat_opacity), aspect=aspect, interpolation="nearest",
                  extent=(-0.5, nx - 0.5, ny - 0.5, -0.5))
        ax.set_xlim(-0.5, nx - 0.5)
        ax.set_ylim(ny - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.text(xs[k] / fw, 1 - (top + _TITLE_H - 0.05) / fh, title, fontsize=title_pt, ha="left", va="bottom")
        for lv in levels:
            x0, y0, x1, y1 = (float(v) - 0.5 for v in lv.box)
            on = lv.z_range[0] <= z <= lv.z_range[1]
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=class_color(lv.prediction),
                                   linewidth=1.2, linestyle="-" if on else ":"))
        axes.append(ax)

    out = PairLayout(axes[0], axes[1], height=_TITLE_H + ph)
    if not levels:
        return out
    px_in = panel_w / nx  # inches per image column (the image fills the panel's width)
    py_in = ph / ny
    wanted = [y_img + ((float(lv.box[1]) + float(lv.box[3])) / 2) * py_in for lv in levels]
    placed = _spread(wanted, 2 * _LINE_H + 0.06, y_img + _LINE_H + 0.03, y_img + ph - _LINE_H - 0.03)
    cx = left + panel_w + label_w / 2
    for lv, y_box, y_lab in zip(levels, wanted, placed):
        on = lv.z_range[0] <= z <= lv.z_range[1]
        color = class_color(lv.prediction)
        t = fig.text(cx / fw, 1 - y_lab / fh, level_label(lv), fontsize=LABEL_PT, ha="center", va="center", weight="bold",
                     linespacing=1.1, color="black",
                     bbox=dict(facecolor=color, edgecolor="none", pad=1.5, alpha=1.0 if on else 0.6))
        out.labels.append(t)
        for x_box in (left + float(lv.box[2]) * px_in, xs[1] + float(lv.box[0]) * px_in):  # ends under the label
            x_lab = cx
            fig.add_artist(Line2D([x_box / fw, x_lab / fw], [1 - y_box / fh, 1 - y_lab / fh], transform=fig.transFigure,
                                  color=color, linewidth=0.9, linestyle="-" if on else ":"))
    return out
