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
    "HEAT_SCALE",
    "grey_png",
    "heat_png",
    "orientation_letters",
    "slice_lr_label",
    "window_presets",
    "window_preset_help",
    "NAMED_PRESETS",
    "level_color",
    "level_tag",
    "viewer_figure",
    "focus_figure",
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
    from matplotlib import colormaps  # lazy: matplotlib is heavy; only the PDF figures need it

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
    from PIL import Image  # lazy: Pillow is heavy; only image encoding needs it

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
    import plotly.graph_objects as go  # lazy: plotly is heavy; only the charts need it

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
    import plotly.graph_objects as go  # lazy: plotly is heavy; only the charts need it

    h, w = rgb.shape[:2]
    fig = go.Figure(go.Image(source=png_data_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    if box_in_crop is not None:
        x0, y0, x1, y1 = (float(v) - 0.5 for v in box_in_crop)
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=color, width=2))
    aspect = float(spacing_yx[0]) / float(spacing_yx[1]) if spacing_yx[1] else 1.0
    _image_layout(fig, height=height, width_px=w, height_px=h, aspect=aspect, title=title)
    return fig


# --------------------------------------------------------------------------- the case viewer's figures

HEAT_SCALE = ("Grad-CAM, 0-1 of each level's own maximum: one colour scale for all levels, but a level's map is "
              "scaled to its strongest evidence, so colours compare places within a level, not levels with each other.")
NEUTRAL_BOX = "#4FC3F7"  # boxes of detections without a grade (view-only mode)


def grey_png(image: np.ndarray, window: Window) -> str:
    """PNG data URI (8-bit grey) of a 2D image through ``window`` (encoded once per slice and window by the app)."""
    from PIL import Image  # lazy: Pillow is heavy; only image encoding needs it

    buf = io.BytesIO()
    Image.fromarray(to_display(image, window), mode="L").save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def heat_png(heatmap: np.ndarray, cmap: str = "inferno") -> str:
    """RGBA PNG data URI of a heat map (H, W) in [0, 1]: colour from ``cmap``, alpha = value.

    Drawn over the grey image with trace opacity ``o``, a pixel's blend weight is ``o * value``,
    as in :func:`compose_rgb`, so changing the opacity never re-encodes the image.
    """
    from PIL import Image  # lazy: Pillow is heavy; only image encoding needs it

    h = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    rgba = np.empty(h.shape + (4,), np.uint8)
    rgba[..., :3] = np.clip(apply_colormap(h, cmap) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = np.clip(h * 255.0 + 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) end of LPS x, y, z


def _letter(vector: np.ndarray) -> str:
    v = np.asarray(vector, dtype=np.float64)
    axis = int(np.argmax(np.abs(v)))
    return _LPS_LETTERS[axis][1 if v[axis] > 0 else 0]


def orientation_letters(direction: np.ndarray) -> dict[str, str]:
    """Patient-direction letters at the four edges of a slice: {"left", "right", "top", "bottom"}.

    ``direction``: the volume's 3x3 matrix whose columns are the LPS unit vectors of increasing
    column (x), row (y) and slice (z). Columns run left to right on screen and rows top to
    bottom, so the right edge gets the letter of +column and the bottom edge that of +row.
    """
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    col, row = d[:, 0], d[:, 1]
    return {"left": _letter(-col), "right": _letter(col), "top": _letter(-row), "bottom": _letter(row)}


def slice_lr_label(volume, z: int) -> str:
    """Where slice ``z`` lies: '12.0 mm L' / '3.5 mm R' (LPS x of the slice centre) for a sagittal
    series; for other orientations the signed distance along the slice normal from the middle slice."""
    _, ny, nx = volume.shape
    centre = volume.index_to_physical(np.array([[z, (ny - 1) / 2.0, (nx - 1) / 2.0]]))[0]
    if volume.orientation() == "sagittal":
        x = float(centre[0])
        return "0.0 mm L/R (x = 0)" if abs(x) < 0.05 else f"{abs(x):.1f} mm {'L' if x > 0 else 'R'}"
    return f"{float(slice_positions_mm(volume)[int(z)]):+.1f} mm along the slice normal"


#: Named window presets per sequence, in button (and key 1-4) order: (name, low percentile, high percentile
#: of the series' body, as :func:`window_defaults` takes them). "Full" (minimum to maximum) and "Scanner
#: window" (the DICOM's own WindowCenter / WindowWidth, when the series has them) follow these.
NAMED_PRESETS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "T1": (("Marrow", 20.0, 99.5), ("Disc", 2.0, 90.0)),
    "T2": (("Marrow", 2.0, 95.0), ("Fluid / CSF", 5.0, 99.9)),
}
_PRESET_USE = {("T1", "Marrow"): "vertebral-body marrow spread over the grey scale (dark tissue black)",
               ("T1", "Disc"): "the darker discs and endplates spread, bright fat and marrow white",
               ("T2", "Marrow"): "marrow and discs spread, bright fluid white",
               ("T2", "Fluid / CSF"): "bright CSF and disc fluid unclipped"}
#: Keys of :func:`window_presets` besides the named ones ("default" is the reset window, not a button).
FULL, SCANNER = "full", "Scanner window"


def window_presets(array: np.ndarray, *, series: str, scanner: tuple[float, float] | None = None) -> dict[str, Window]:
    """Named windows of one series, in the array's units, in button order.

    "default" (0.5-99.5th percentile of the body: the reset window), then the sequence's
    :data:`NAMED_PRESETS` (T1: "Marrow" 20-99.5th, "Disc" 2-90th; T2: "Marrow" 2-95th, "Fluid / CSF"
    5-99.9th; another series: "Marrow" of T1), :data:`FULL` (minimum to maximum) and, when ``scanner``
    = (WindowCenter, WindowWidth) is given with a positive width, :data:`SCANNER` (centre +- width / 2).
    MRI intensities have no absolute unit, so the named presets are percentiles of this series' body
    (see :func:`window_defaults`); none has zero width."""
    flat = _sample(array)
    lo, hi = (float(flat.min()), float(flat.max())) if flat.size else (0.0, 1.0)
    out = {"default": window_defaults(array)}
    for name, low_pct, high_pct in NAMED_PRESETS.get(series.upper(), NAMED_PRESETS["T1"][:1]):
        out[name] = window_defaults(array, low_pct=low_pct, high_pct=high_pct)
    out[FULL] = Window(lo, hi if hi > lo else lo + 1.0)
    if scanner is not None and all(np.isfinite(v) for v in scanner) and scanner[1] > 0:
        out[SCANNER] = Window.from_level_width(float(scanner[0]), float(scanner[1]))
    return out


def window_preset_help(series: str) -> dict[str, str]:
    """One tooltip sentence per button of :func:`window_presets` (what it shows, the percentiles used)."""
    out = {name: f"{name}: percentiles {low:g}-{high:g} of this series' body"
           + (f" ({_PRESET_USE[(series.upper(), name)]})" if (series.upper(), name) in _PRESET_USE else "")
           for name, low, high in NAMED_PRESETS.get(series.upper(), NAMED_PRESETS["T1"][:1])}
    out[FULL] = "Full range: minimum to maximum of this series"
    out[SCANNER] = "Scanner window: the window stored in the DICOM files (first WindowCenter / WindowWidth)"
    return out


def level_color(lv) -> str:
    """Box colour: the predicted class's colour, or a neutral blue for an ungraded detection."""
    pred = getattr(lv, "prediction", None)
    return class_color(pred) if pred and str(pred).startswith("MC") else NEUTRAL_BOX


def level_tag(lv) -> str:
    """Short label of a level for the figure: 'L4-L5 MC2 0.87', or 'L4-L5' when not graded."""
    probs = getattr(lv, "probabilities", None) or {}
    pred = getattr(lv, "prediction", None)
    if pred in probs and np.isfinite(float(probs[pred])):
        return f"{lv.level} {pred} {float(probs[pred]):.2f}"
    return str(lv.level)


def viewer_figure(
    *,
    t1: str,
    t2: str | None,
    shape_yx: tuple[int, int],
    levels: Sequence = (),
    z: int = 0,
    heat: str | None = None,
    opacity: float = 0.45,
    spacing_yx: tuple[float, float] = (1.0, 1.0),
    show_boxes: bool = True,
    highlight: str | None = None,
    letters: dict[str, str] | None = None,
    titles: tuple[str, str] = ("T1", "T2 (on the T1 grid)"),
    revision: str = "",
    height: int = 560,
    heat_title: str = "Grad-CAM (per level)",
):
    """One plotly figure: T1 and T2 side by side (or T1 alone when ``t2`` is None) on linked axes,
    so zoom, pan and scroll act on both.

    ``t1``, ``t2``, ``heat``: data URIs (:func:`grey_png`, :func:`heat_png`) of one slice of the
    T1 grid, (rows, columns) = ``shape_yx``. The heat map is one image per panel drawn with trace
    opacity ``opacity``; its colour bar is titled ``heat_title`` (what 0-1 means: the report's ``heat_scale``,
    else :data:`HEAT_SCALE`). Boxes solid when slice ``z`` is in the
    level's slab, dotted otherwise; level tags sit outside the images (left of T1, right of T2).
    ``revision`` keeps the user's zoom across reruns of the same study (plotly ``uirevision``).
    """
    import plotly.graph_objects as go  # lazy: plotly is heavy; only the charts need it

    # Built as plain dicts and validated once, not with plotly's add_shape/add_annotation per item.
    h, w = int(shape_yx[0]), int(shape_yx[1])
    panels = [(t1, titles[0])] + ([(t2, titles[1])] if t2 is not None else [])
    n = len(panels)
    gap = 0.06 if n == 2 else 0.0
    width = (1.0 - gap * (n - 1)) / n
    domains = [[c * (width + gap), c * (width + gap) + width] for c in range(n)]
    aspect = float(spacing_yx[0]) / float(spacing_yx[1]) if spacing_yx[1] else 1.0
    xa = ["x" if c == 0 else f"x{c + 1}" for c in range(n)]
    ya = ["y" if c == 0 else f"y{c + 1}" for c in range(n)]
    data: list[dict] = []
    shapes: list[dict] = []
    notes: list[dict] = []
    layout: dict = {}
    for c, (uri, title) in enumerate(panels):
        data.append(dict(type="image", source=uri, x0=0, y0=0, dx=1, dy=1, hoverinfo="skip", xaxis=xa[c], yaxis=ya[c]))
        if heat is not None and opacity > 0:
            data.append(dict(type="image", source=heat, x0=0, y0=0, dx=1, dy=1, hoverinfo="skip", opacity=float(opacity),
                             xaxis=xa[c], yaxis=ya[c], name="Grad-CAM"))
        if show_boxes:
            for lv in levels:
                x0, y0, x1, y1 = (float(v) - 0.5 for v in lv.box)
                shapes.append(dict(type="rect", xref=xa[c], yref=ya[c], x0=x0, y0=y0, x1=x1, y1=y1,
                                   line=dict(color=level_color(lv), width=4 if lv.level == highlight else 2,
                                             dash="solid" if box_on_slice(lv, z) else "dot")))
        xkey, ykey = ("xaxis" if c == 0 else f"xaxis{c + 1}"), ("yaxis" if c == 0 else f"yaxis{c + 1}")
        layout[xkey] = dict(visible=False, range=[-0.5, w - 0.5], constrain="domain", domain=domains[c], anchor=ya[c],
                            **({"matches": "x"} if c else {}))
        layout[ykey] = dict(visible=False, range=[h - 0.5, -0.5], constrain="domain", anchor=xa[c],
                            **({"matches": "y", "scaleanchor": xa[c], "scaleratio": aspect} if c else
                               {"scaleanchor": "x", "scaleratio": aspect}))
        notes.append(dict(xref=f"{xa[c]} domain", yref="paper", x=0.0 if letters else 0.5, y=1.0, yanchor="bottom",
                          xanchor="left" if letters else "center", text=title, showarrow=False, font=dict(size=14)))
        if letters:
            # in the margins just outside the image, clear of the anatomy and of the level boxes
            for text, x, y, xan, yan, dx in ((letters["left"], 0, 0.5, "right", "middle", -2),
                                             (letters["right"], 1, 0.5, "left", "middle", 2),
                                             (letters["top"], 0.5, 1, "center", "bottom", 0),
                                             (letters["bottom"], 0.5, 0, "center", "top", 0)):
                notes.append(dict(xref=f"{xa[c]} domain", yref=f"{ya[c]} domain", x=x, y=y, xanchor=xan, yanchor=yan,
                                  xshift=dx, text=f"<b>{text}</b>", showarrow=False, font=dict(color="#C79100", size=14)))
    if show_boxes:  # level tags left of the T1 image, outside the anatomy
        for lv in levels:
            yc = (float(lv.box[1]) + float(lv.box[3])) / 2.0 - 0.5
            notes.append(dict(xref="x domain", yref="y", x=0, y=yc, xanchor="right", xshift=-18, text=level_tag(lv),
                              showarrow=False, font=dict(color="black", size=11), bgcolor=level_color(lv),
                              opacity=1.0 if box_on_slice(lv, z) else 0.55, borderpad=2))
    if heat is not None and opacity > 0:
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", hoverinfo="skip", showlegend=False,
                         xaxis=xa[-1], yaxis=ya[-1],
                         marker=dict(colorscale="Inferno", cmin=0.0, cmax=1.0, color=[0.0], showscale=True,
                                     colorbar=dict(title=dict(text=heat_title, side="right"),
                                                   tickvals=[0, 0.5, 1], thickness=12, len=0.8, x=1.03))))
    layout.update(height=height, margin=dict(l=124, r=72 if heat is not None else 24, t=30, b=24), plot_bgcolor="black",
                  paper_bgcolor="rgba(0,0,0,0)", dragmode="pan", showlegend=False, uirevision=revision or True,
                  shapes=shapes, annotations=notes)
    return go.Figure(data=data, layout=layout)


def focus_figure(*, t1: np.ndarray, t2: np.ndarray | None, heat: np.ndarray | None, box_in_crop: Sequence[float],
                 color: str, titles: Sequence[str], spacing_yx: tuple[float, float] = (1.0, 1.0), height: int = 380,
                 heat_opacity: float = 0.6):
    """Crops of one level side by side on linked axes: T1, T2 and the Grad-CAM over T1 (grey uint8 crops)."""
    # lazy: plotly is heavy; only the charts need it
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = [compose_rgb(t1)] + ([compose_rgb(t2)] if t2 is not None else []) + [compose_rgb(t1, heat, heat_opacity)]
    n = len(panels)
    fig = make_subplots(rows=1, cols=n, horizontal_spacing=0.02, subplot_titles=list(titles)[:n])
    h, w = panels[0].shape[:2]
    x0, y0, x1, y1 = (float(v) - 0.5 for v in box_in_crop)
    aspect = float(spacing_yx[0]) / float(spacing_yx[1]) if spacing_yx[1] else 1.0
    for c, rgb in enumerate(panels, start=1):
        fig.add_trace(go.Image(source=png_data_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"), row=1, col=c)
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=color, width=2), row=1, col=c)
        fig.update_xaxes(visible=False, range=[-0.5, w - 0.5], constrain="domain", row=1, col=c,
                         **({"matches": "x"} if c > 1 else {}))
        fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], constrain="domain", row=1, col=c,
                         **({"matches": "y"} if c > 1 else {"scaleanchor": "x", "scaleratio": aspect}))
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=30, b=4), plot_bgcolor="black",
                      paper_bgcolor="rgba(0,0,0,0)", dragmode="pan", showlegend=False)
    return fig
