"""What the browser picture needs to window, scroll and overlay a study on its own.

* :func:`series_payload`: a series' voxels once per study, as 16-bit codes (zlib, base64), so
  window/level is applied in the browser and never costs a server round trip (radiology viewers
  window on the client as well). Studies larger than a byte budget are sent with an in-plane
  stride (display only; the analysis always uses every voxel).
* :func:`heat_patches`: each level's Grad-CAM as small crop-local RGBA PNGs per slice, placed on
  the T1 grid by the browser, so a threshold change shows or hides levels without re-encoding.

Axis order is (z, y, x) = (slice, row, column); pixel (row, column) has its centre at plot
coordinates (column, row), as in :func:`modic_core.export.render.viewer_figure`.
"""
from __future__ import annotations

import base64
import zlib
from typing import Any, Iterable

import numpy as np

from modic_core.export.render import heat_png

__all__ = ["CODE_MAX", "decode_series", "heat_patches", "series_payload", "series_stride"]

CODE_MAX = 65535  # 16-bit codes: value = offset + code * scale


def series_stride(shape_zyx: tuple[int, int, int], *, max_bytes: int) -> int:
    """Smallest in-plane stride (1, 2, 3, ...) whose 16-bit codes fit in ``max_bytes``."""
    nz, ny, nx = (max(1, int(v)) for v in shape_zyx)
    stride = 1
    while nz * (-(-ny // stride)) * (-(-nx // stride)) * 2 > max_bytes and stride < max(ny, nx):
        stride += 1
    return stride


def series_payload(array: np.ndarray, *, max_bytes: int) -> dict[str, Any]:
    """A (z, y, x) series as 16-bit codes for the browser.

    Returns ``{"shape": [nz, ny', nx'], "stride": s, "offset": lo, "scale": k, "data": base64}``
    where ``data`` is zlib-compressed little-endian uint16 codes in (z, y, x) order, the value of a
    code ``c`` is ``lo + c * k`` (the series' own units, so windows stay in those units), and ``s``
    is the in-plane stride taken to fit ``max_bytes`` (pixel (r, c) of the payload is pixel
    (r * s, c * s) of the series). Non-finite voxels are sent as the minimum.
    """
    a = np.asarray(array)
    if a.ndim != 3 or a.size == 0:
        raise ValueError(f"series_payload needs a non-empty (z, y, x) array, got shape {a.shape}")
    stride = series_stride(a.shape, max_bytes=max_bytes)
    a = a[:, ::stride, ::stride].astype(np.float32, copy=False)
    finite = np.isfinite(a)
    lo = float(a[finite].min()) if finite.any() else 0.0
    hi = float(a[finite].max()) if finite.any() else 1.0
    scale = (hi - lo) / CODE_MAX if hi > lo else 1.0
    codes = np.where(finite, np.rint((a - lo) / scale), 0.0)
    codes = np.clip(codes, 0, CODE_MAX).astype("<u2")
    data = base64.b64encode(zlib.compress(codes.tobytes(), 1)).decode("ascii")
    return {"shape": [int(v) for v in codes.shape], "stride": int(stride), "offset": lo, "scale": float(scale), "data": data}


def decode_series(payload: dict[str, Any]) -> np.ndarray:
    """The (z, y, x) float32 values of a :func:`series_payload` (what the browser reconstructs)."""
    codes = np.frombuffer(zlib.decompress(base64.b64decode(payload["data"])), dtype="<u2")
    values = payload["offset"] + codes.astype(np.float32) * payload["scale"]
    return values.reshape(payload["shape"])


def heat_patches(levels: Iterable[Any]) -> list[list[dict[str, Any]]]:
    """Per level (in order), its Grad-CAM patches: ``{"z", "x", "y", "w", "h", "uri"}``.

    ``x``, ``y`` are the plot coordinates of the patch's top-left pixel edge (column - 0.5,
    row - 0.5 on the T1 grid), ``w``, ``h`` its size in pixels, ``uri`` an RGBA PNG
    (:func:`~modic_core.export.render.heat_png`: colour = value, alpha = value). A level without a
    map gets an empty list.
    """
    out: list[list[dict[str, Any]]] = []
    for lv in levels:
        cam = getattr(lv, "gradcam", None)
        patches = []
        for p in getattr(cam, "patches", ()) or ():
            h, w = p.values.shape
            if h == 0 or w == 0 or not np.any(p.values > 0):
                continue
            patches.append({"z": int(p.z), "x": float(p.col0) - 0.5, "y": float(p.row0) - 0.5, "w": int(w), "h": int(h),
                            "uri": heat_png(p.values)})
        out.append(patches)
    return out
