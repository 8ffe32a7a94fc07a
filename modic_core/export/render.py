"""Slice viewer maths and figures: window/level, heat-map compositing, boxes, crops.

Conventions: arrays are (z, y, x) = (slice, row, column); a box is (x0, y0, x1, y1) in T1
pixel-edge coordinates (pixel i spans [i, i+1)), as in :class:`modic_core.analysis.report.LevelResult`.
Plotly draws pixel i centred on i, so boxes are shifted by -0.5 when drawn.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from modic_core.export.style import class_color

__all__ = [
    "Window",
    "window_defaults",
    "window_slider_range",
    "to_display",
    "apply_colormap",
    "compose_rgb",
    "slice_heatmap",
    "box_label",
    "box_on_slice",
    "default_slice",
    "slice_positions_mm",
    "crop_bounds",
    "crop",
    "png_data_uri",
    "slice_figure",
    "crop_figure",
]


@dataclass(frozen=True)
class Window:
    """Display window: intensities <= ``low`` are black, >= ``high`` white."""

    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def level(self) -> float:
        return (self.high + self.low) / 2.0

    @classmethod
    def from_level_width(cls, level: float, width: float) -> "Window":
        width = max(float(width), 1e-6)
        return cls(float(level) - width / 2.0, float(level) + width / 2.0)


def _sample(array: np.ndarray, max_values: int = 400_000) -> np.ndarray:
    flat = np.asarray(array, dtype=np.float32).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size > max_values:
        flat = flat[:: int(np.ceil(flat.size / max_values))]
    return flat


def window_defaults(array: np.ndarray, *, low_pct: float = 0.5, high_pct: float = 99.5) -> Window:
    """Default window from the data: the ``low_pct``..``high_pct`` percentiles of the body.

    The body is every value above the background floor (the minimum), when it is at least
    5 % of the voxels; otherwise all voxels. A degenerate window (constant image) is widened
    to width 1.
    """
    flat = _sample(array)
    if flat.size == 0:
        return Window(0.0, 1.0)
    lo_all = float(flat.min())
    body = flat[flat > lo_all]
    values = body if body.size >= 0.05 * flat.size else flat
    lo, hi = (float(v) for v in np.percentile(values, [low_pct, high_pct]))
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    if not hi > lo:
        hi = lo + 1.0
    return Window(lo, hi)


def window_slider_range(array: np.ndarray) -> tuple[float, float, float]:
    """(min, max, step) for a window slider covering the data (step ~ 1/500 of the range)."""
    flat = _sample(array)
    lo = float(flat.min()) if flat.size else 0.0
    hi = float(flat.max()) if flat.size else 1.0
    if not hi > lo:
        hi = lo + 1.0
    span = hi - lo
    step = 10 ** np.floor(np.log10(span / 500.0)) if span > 0 else 0.01
    step = float(step)
    lo = float(np.floor(lo / step) * step)
    hi = float(np.ceil(hi / step) * step)
    return lo, hi, step


def to_display(image: np.ndarray, window: Window) -> np.ndarray:
    """Map a 2D image to uint8 grey through ``window``."""
    img = np.asarray(image, dtype=np.float32)
    scale = 255.0 / max(window.high - window.low, 1e-6)
    out = (img - window.low) * scale
    return np.clip(np.nan_to_num(out, nan=0.0), 0, 255).astype(np.uint8)


def apply_colormap(values: np.ndarray, name: str = "inferno") -> np.ndarray:
    """(..., 3) float RGB in [0, 1] of ``values`` in [0, 1] through a matplotlib colormap."""
    from matplotlib import colormaps

    lut = colormaps[name].resampled(256)(np.arange(256))[:, :3]
    idx = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)) * 255.0, 0, 255).astype(np.int64)
    return lut[idx]


def compose_rgb(grey: np.ndarray, heatmap: np.ndarray | None = None, opacity: float = 0.5, cmap: str = "inferno") -> np.ndarray:
    """Grey uint8 (H, W) image with an optional heat map (H, W) in [0, 1] blended on top.

    Per pixel: rgb = grey * (1 - a) + colour(h) * a with a = opacity * h, so the map is
    transparent where the heat map is 0 and at most ``opacity`` opaque where it is 1.
    """
    g = np.asarray(grey, dtype=np.float32) / 255.0
    rgb = np.repeat(g[..., None], 3, axis=-1)
    if heatmap is not None and opacity > 0:
        h = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
        if h.shape != g.shape:
            raise ValueError(f"heatmap shape {h.shape} != image shape {g.shape}")
        a = (float(np.clip(opacity, 0.0, 1.0)) * h)[..., None]
        rgb = rgb * (1.0 - a) + apply_colormap(h, cmap) * a
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def slice_heatmap(levels: Iterable, z: int, shape_yx: tuple[int, int]) -> np.ndarray | None:
    """Maximum over levels of their Grad-CAM on slice ``z``, (y, x) float32 (None if no level has one there).

    Each level's crop-local map (``LevelResult.gradcam``) is pasted onto this one slice only.
    """
    out = None
    for lv in levels:
        cam = getattr(lv, "gradcam", None)
        if cam is None or tuple(cam.shape[1:]) != tuple(shape_yx):
            continue
        out = cam.max_into(out, z)
    return out


def box_label(lv, *, with_level: bool = True) -> str:
    """'L4-L5 · MC2 0.87': level, predicted class and its probability."""
    p = float(lv.probabilities.get(lv.prediction, float("nan"))) if getattr(lv, "probabilities", None) else float("nan")
    text = f"{lv.prediction} {p:.2f}" if np.isfinite(p) else str(lv.prediction)
    return f"{lv.level} · {text}" if with_level else text


def box_on_slice(lv, z: int) -> bool:
    """True when slice ``z`` lies in the level's slab ``z_range`` (inclusive)."""
    zr = getattr(lv, "z_range", None)
    if not zr:
        return True
    return int(zr[0]) <= int(z) <= int(zr[1])


def default_slice(n_slices: int, levels: Sequence = ()) -> int:
    """The slice to open on: the median slab centre of the levels, else the middle slice."""
    if n_slices <= 1:
        return 0
    centres = [0.5 * (lv.z_range[0] + lv.z_range[1]) for lv in levels if getattr(lv, "z_range", None)]
    z = int(round(float(np.median(centres)))) if centres else n_slices // 2
    return int(np.clip(z, 0, n_slices - 1))


def slice_positions_mm(volume) -> np.ndarray:
    """Signed position (mm) of each slice along the slice normal, 0 at the middle slice.

    Because T2 is resampled onto the T1 grid, one index is one physical position for both
    series: the viewers share this one slider.
    """
    n = volume.shape[0]
    idx = np.zeros((n, 3))
    idx[:, 0] = np.arange(n)
    pts = volume.index_to_physical(idx)
    d = (pts - pts[n // 2]) @ np.asarray(volume.slice_normal)
    # Report along the patient's left-right axis sign (LPS x: + = left) when sagittal.
    return np.round(d, 2)


def crop_bounds(box: Sequence[float], shape_yx: tuple[int, int], *, margin: float = 0.6, min_size: int = 24) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) integer crop around ``box`` with ``margin`` x its size on each side.

    The crop is square in pixels when possible, at least ``min_size`` and clipped to the image.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    h, w = int(shape_yx[0]), int(shape_yx[1])
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    side = max(x1 - x0, y1 - y0, 1.0) * (1.0 + 2.0 * margin)
    side = max(side, float(min_size))
    half = side / 2.0
    ya, yb = int(np.floor(cy - half)), int(np.ceil(cy + half))
    xa, xb = int(np.floor(cx - half)), int(np.ceil(cx + half))
    ya, xa = max(ya, 0), max(xa, 0)
    yb, xb = min(yb, h), min(xb, w)
    if yb <= ya:
        ya, yb = 0, h
    if xb <= xa:
        xa, xb = 0, w
    return ya, yb, xa, xb


def crop(image: np.ndarray, bounds: tuple[int, int, int, int]) -> np.ndarray:
    ya, yb, xa, xb = bounds
    return np.asarray(image)[ya:yb, xa:xb]


def png_data_uri(rgb: np.ndarray) -> str:
    """PNG data URI of an (H, W, 3) uint8 image (compact for the browser)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _image_layout(fig, *, height: int, width_px: int, height_px: int, aspect: float, title: str | None) -> None:
    fig.update_xaxes(visible=False, range=[-0.5, width_px - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[height_px - 0.5, -0.5], scaleanchor="x", scaleratio=aspect, constrain="domain")
    fig.update_layout(
        height=height,
        margin=dict(l=4, r=4, t=34 if title else 4, b=4),
        title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
        plot_bgcolor="black",
        paper_bgcolor="rgba(0,0,0,0)",
        dragmode="pan",
        showlegend=False,
    )


def slice_figure(
    rgb: np.ndarray,
    levels: Sequence = (),
    *,
    z: int = 0,
    title: str | None = None,
    spacing_yx: tuple[float, float] = (1.0, 1.0),
    show_boxes: bool = True,
    highlight: str | None = None,
    height: int = 480,
):
    """Plotly figure of one slice (RGB uint8) with the detected boxes, labelled and coloured by class.

    Boxes whose slab holds slice ``z`` are solid; others are dotted (the level exists, but
    not on this slice). The ``highlight`` level is drawn thicker.
    """
    import plotly.graph_objects as go

    h, w = rgb.shape[:2]
    fig = go.Figure(go.Image(source=png_data_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    aspect = float(spacing_yx[0]) / float(spacing_yx[1]) if spacing_yx[1] else 1.0
    if show_boxes:
        for lv in levels:
            x0, y0, x1, y1 = (float(v) - 0.5 for v in lv.box)
            color = class_color(lv.prediction)
            on = box_on_slice(lv, z)
            width = 4 if lv.level == highlight else 2
            fig.add_shape(
                type="rect", x0=x0, y0=y0, x1=x1, y1=y1,
                line=dict(color=color, width=width, dash="solid" if on else "dot"),
                fillcolor="rgba(0,0,0,0)",
            )
            fig.add_annotation(
                x=x1, y=(y0 + y1) / 2.0, text=box_label(lv), showarrow=False, xanchor="left", xshift=4,
                font=dict(color="black", size=12), bgcolor=color, opacity=1.0 if on else 0.6,
                borderpad=2,
            )
    # Room for the labels on the right of the boxes.
    _image_layout(fig, height=height, width_px=w, height_px=h, aspect=aspect, title=title)
    if show_boxes and levels:
        fig.update_xaxes(range=[-0.5, w - 0.5 + 0.18 * w])
    return fig


def crop_figure(rgb: np.ndarray, *, title: str | None = None, box_in_crop: Sequence[float] | None = None,
                color: str = "#FFFFFF", spacing_yx: tuple[float, float] = (1.0, 1.0), height: int = 260):
    """A small plotly figure of a crop, with the level's box outline."""
    import plotly.graph_objects as go

    h, w = rgb.shape[:2]
    fig = go.Figure(go.Image(source=png_data_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    if box_in_crop is not None:
        x0, y0, x1, y1 = (float(v) - 0.5 for v in box_in_crop)
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=color, width=2))
    aspect = float(spacing_yx[0]) / float(spacing_yx[1]) if spacing_yx[1] else 1.0
    _image_layout(fig, height=height, width_px=w, height_px=h, aspect=aspect, title=title)
    return fig
