"""The Modic signal probe: endplate marrow against the same vertebra's central marrow, on T1 and T2.

For one detected level (its region box (x0, y0, x1, y1) in T1 pixel-edge coordinates, covering the
disc with both adjacent endplates, and its inclusive slice range), the probe averages four bands of
the arrays (z, y, x) = (slice, row superior -> inferior, column anterior -> posterior) on the T1 grid:

- the disc is the central :data:`~modic_core.classification.bands.DISC_FRACTION` of the box height
  (the convention of :mod:`modic_core.classification.bands`);
- **upper endplate**: the marrow of the vertebra above the disc, rows from the disc's top edge up
  :data:`ENDPLATE_BAND_MM` mm; **lower endplate**: the vertebra below, from the disc's bottom edge
  down :data:`ENDPLATE_BAND_MM` mm;
- **upper / lower centre**: the same vertebra's central marrow, rows :data:`CENTRE_FROM_MM` to
  :data:`CENTRE_TO_MM` mm beyond the disc edge (about the middle of a ~25-28 mm lumbar body);
- columns: the central :data:`COLUMN_FRACTION` of the box width (off the cortical rims); slices:
  the level's z range. A pixel belongs to a band when its centre lies inside it; bands are clipped
  to the image.

Band sizes are fixed constants (not settings), chosen before any result was looked at.

**ROI probe** (:func:`roi_signal`): a rectangle the reader draws on one slice is compared with the
centre band of the nearest level (the level whose box is nearest the rectangle's centre, in mm)
on the rectangle's side of that level's disc: above the disc's middle row, the vertebra above (the
"upper centre" band), else the vertebra below ("lower centre"), over that level's slices, exactly as
:func:`probe_level` measures it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modic_core.classification.bands import DISC_FRACTION

__all__ = ["ENDPLATE_BAND_MM", "CENTRE_FROM_MM", "CENTRE_TO_MM", "COLUMN_FRACTION", "SIGNAL_COLUMNS", "BandSignal",
           "LevelSignal", "RoiSignal", "probe_level", "roi_signal", "signal_columns"]

#: Height (mm, superior-inferior) of each endplate band, measured from the disc edge into the vertebra.
ENDPLATE_BAND_MM = 5.0
#: The vertebral-centre band runs from this many mm beyond the disc edge ...
CENTRE_FROM_MM = 11.0
#: ... to this many mm (a 4 mm band around the middle of a lumbar vertebral body).
CENTRE_TO_MM = 15.0
#: Central share of the box width the bands span (columns).
COLUMN_FRACTION = 0.8

#: Flat names of a probe's numbers (report JSON, CSV): ``<seq>_<side>_<band>`` means in normalized units,
#: ``<seq>_<side>_ratio`` endplate / centre ratios (raw signal, dimensionless).
SIGNAL_COLUMNS = tuple(f"{seq}_{side}_{band}" for side in ("upper", "lower") for band in ("endplate", "centre")
                       for seq in ("t1", "t2")) + tuple(f"{seq}_{side}_ratio" for side in ("upper", "lower") for seq in ("t1", "t2"))


@dataclass(frozen=True)
class BandSignal:
    """Mean signal of one band: ``t1`` / ``t2`` in the normalization method's units, ``pixels`` the
    number of voxels averaged; all None (with ``reason``, one sentence) when the band lies outside
    the image or is empty."""

    t1: float | None
    t2: float | None
    pixels: int
    reason: str = ""


@dataclass(frozen=True)
class LevelSignal:
    """Probe of one level: four bands and the endplate / centre ratios on T1 and T2.

    Ratios (dimensionless) compare the band's mean *raw* signal (the study's arrays) with its
    vertebra's centre: a ratio of offset-shifted units (a z-score's mean can be 0 or negative) would
    mean nothing, while MR magnitudes are positive and their ratio does not depend on the scanner's
    scale. A ratio is None (with a sentence in ``notes``) when either band is empty or the centre's
    raw mean is not positive. 1.0 = same signal as the centre; Modic type 1: T1 < 1, T2 > 1;
    type 2: T1 > 1, T2 >= 1; type 3: both < 1.
    """

    upper_endplate: BandSignal
    upper_centre: BandSignal
    lower_endplate: BandSignal
    lower_centre: BandSignal
    upper_ratio_t1: float | None
    upper_ratio_t2: float | None
    lower_ratio_t1: float | None
    lower_ratio_t2: float | None
    notes: tuple[str, ...] = ()

    def columns(self, *, digits: int = 4) -> dict[str, float | None]:
        """Every :data:`SIGNAL_COLUMNS` name -> its number rounded to ``digits`` (None where there is none)."""
        out: dict[str, float | None] = {}
        for side in ("upper", "lower"):
            for band in ("endplate", "centre"):
                b = getattr(self, f"{side}_{band}")
                out[f"t1_{side}_{band}"], out[f"t2_{side}_{band}"] = b.t1, b.t2
        for side in ("upper", "lower"):
            for seq in ("t1", "t2"):
                out[f"{seq}_{side}_ratio"] = getattr(self, f"{side}_ratio_{seq}")
        return {k: (None if out[k] is None else round(float(out[k]), digits)) for k in SIGNAL_COLUMNS}

    def to_dict(self) -> dict:
        """The report's ``signal`` entry (schema ``LevelSignalRecord``): the numbers there are, and ``notes``."""
        return {**{k: v for k, v in self.columns().items() if v is not None}, "notes": list(self.notes)}


def signal_columns(signal: LevelSignal | None, *, digits: int = 4) -> dict[str, float | None]:
    """:meth:`LevelSignal.columns`, or every column None for a level without a probe (e.g. not graded)."""
    return dict.fromkeys(SIGNAL_COLUMNS) if signal is None else signal.columns(digits=digits)


def _rows(lo: float, hi: float, n: int) -> slice:
    """Rows whose centre (i + 0.5) lies in [lo, hi), clipped to 0..n."""
    a = int(np.ceil(lo - 0.5))
    b = int(np.ceil(hi - 0.5))
    return slice(min(max(a, 0), n), min(max(b, 0), n))


def _columns(box, nx: int) -> slice:
    """The bands' columns: the central :data:`COLUMN_FRACTION` of the box width."""
    x0, x1 = sorted((float(box[0]), float(box[2])))
    cx, hw = (x0 + x1) / 2, (x1 - x0) / 2 * COLUMN_FRACTION
    return _rows(cx - hw, cx + hw, nx)


def _disc_edges(box) -> tuple[float, float]:
    """(top, bottom) row of the disc: the central :data:`DISC_FRACTION` of the box height."""
    y0, y1 = sorted((float(box[1]), float(box[3])))
    cy, hh = (y0 + y1) / 2, (y1 - y0) / 2
    return cy - DISC_FRACTION * hh, cy + DISC_FRACTION * hh


def _centre_rows(box, sy: float, side: str, ny: int) -> slice:
    """Rows of the vertebral-centre band above ("upper") or below ("lower") the disc (``sy``: mm per row)."""
    top, bottom = _disc_edges(box)
    c_from, c_to = CENTRE_FROM_MM / sy, CENTRE_TO_MM / sy
    return _rows(top - c_to, top - c_from, ny) if side == "upper" else _rows(bottom + c_from, bottom + c_to, ny)


def _mean(a: np.ndarray, z: slice, r: slice, c: slice) -> tuple[float | None, int]:
    v = np.asarray(a[z, r, c], dtype=np.float64)
    v = v[np.isfinite(v)]
    return (float(v.mean()), int(v.size)) if v.size else (None, 0)


def _band(arrays: tuple[np.ndarray, ...], z: slice, r: slice, c: slice, name: str) -> tuple[BandSignal, tuple]:
    """The band's normalized means and its raw means (for the ratios)."""
    t1n, t2n, t1, t2 = arrays
    m1, n = _mean(t1n, z, r, c)
    m2, _ = _mean(t2n, z, r, c)
    raw = (_mean(t1, z, r, c)[0], _mean(t2, z, r, c)[0])
    if n == 0 or m1 is None or m2 is None:
        return BandSignal(None, None, 0, f"The {name} band lies outside the image or holds no finite pixel."), (None, None)
    return BandSignal(m1, m2, n), raw


def _ratio(ep: float | None, centre: float | None) -> float | None:
    if ep is None or centre is None or not centre > 0:
        return None
    return float(ep / centre)


def probe_level(
    *,
    box: tuple[float, float, float, float],
    z_range: tuple[int, int],
    spacing_yx: tuple[float, float],
    t1: np.ndarray,
    t2: np.ndarray,
    t1_norm: np.ndarray,
    t2_norm: np.ndarray,
) -> LevelSignal:
    """Probe one level (see the module docstring for the bands).

    Args:
        box: (x0, y0, x1, y1) region box in T1 pixel-edge coordinates (columns, rows).
        z_range: (first, last) slice index, inclusive; clipped to the volume.
        spacing_yx: mm per T1 row and per column.
        t1, t2: the study's raw T1 and T2 (z, y, x) on the T1 grid (ratios are taken on these).
        t1_norm, t2_norm: the same arrays normalized by the chosen method (means are reported in these).

    Returns a :class:`LevelSignal`; never NaN (None with a reason instead).
    """
    shape, sy, sx = _checked(t1, t2, (t1_norm, t2_norm), spacing_yx)
    nz, ny, nx = shape
    z0, z1 = sorted(int(v) for v in z_range)
    z = slice(min(max(z0, 0), nz), min(max(z1 + 1, 0), nz))
    c = _columns(box, nx)
    top, bottom = _disc_edges(box)
    ep = ENDPLATE_BAND_MM / sy
    arrays = (t1_norm, t2_norm, t1, t2)
    up_ep, up_ep_raw = _band(arrays, z, _rows(top - ep, top, ny), c, "upper endplate")
    up_c, up_c_raw = _band(arrays, z, _centre_rows(box, sy, "upper", ny), c, "upper vertebra's centre")
    lo_ep, lo_ep_raw = _band(arrays, z, _rows(bottom, bottom + ep, ny), c, "lower endplate")
    lo_c, lo_c_raw = _band(arrays, z, _centre_rows(box, sy, "lower", ny), c, "lower vertebra's centre")
    ratios = (_ratio(up_ep_raw[0], up_c_raw[0]), _ratio(up_ep_raw[1], up_c_raw[1]),
              _ratio(lo_ep_raw[0], lo_c_raw[0]), _ratio(lo_ep_raw[1], lo_c_raw[1]))
    notes = [b.reason for b in (up_ep, up_c, lo_ep, lo_c) if b.reason]
    for side, pair in (("upper", ratios[:2]), ("lower", ratios[2:])):
        for seq, r in zip(("T1", "T2"), pair):
            if r is None:
                notes.append(f"No {side} {seq} endplate/centre ratio: a band is empty or the centre's signal is not positive.")
    return LevelSignal(up_ep, up_c, lo_ep, lo_c, *ratios, notes=tuple(notes))


@dataclass(frozen=True)
class RoiSignal:
    """The ROI probe of one rectangle (:func:`roi_signal`) against its vertebra's central marrow.

    Fields: ``roi`` (x0, y0, x1, y1) in T1 pixel-edge coordinates (columns, rows) on slice ``z``
    (0-based); ``pixels`` voxels averaged (centres inside the rectangle); ``level`` the nearest level's
    name and ``side`` "upper" (the vertebra above its disc) or "lower" (below); ``t1`` / ``t2`` the
    rectangle's mean and ``centre_t1`` / ``centre_t2`` the centre band's mean, both in the normalization
    method's units (None when the method's arrays are not available); ``ratio_t1`` / ``ratio_t2`` the
    rectangle's mean raw signal over the centre band's (dimensionless, 1.0 = same as the centre; raw for
    the reason :class:`LevelSignal` gives). Any number may be None, with a sentence in ``notes``.
    """

    roi: tuple[float, float, float, float]
    z: int
    pixels: int
    level: str
    side: str
    t1: float | None
    t2: float | None
    centre_t1: float | None
    centre_t2: float | None
    ratio_t1: float | None
    ratio_t2: float | None
    notes: tuple[str, ...] = ()


def _box_distance_mm(box, x: float, y: float, spacing_yx: tuple[float, float]) -> float:
    """Distance (mm) from the point (x, y) to the box (0 inside)."""
    dx = max(float(min(box[0], box[2])) - x, 0.0, x - float(max(box[0], box[2])))
    dy = max(float(min(box[1], box[3])) - y, 0.0, y - float(max(box[1], box[3])))
    return float(np.hypot(dx * spacing_yx[1], dy * spacing_yx[0]))


def roi_signal(
    *,
    roi: tuple[float, float, float, float],
    z: int,
    levels,
    spacing_yx: tuple[float, float],
    t1: np.ndarray,
    t2: np.ndarray,
    t1_norm: np.ndarray | None = None,
    t2_norm: np.ndarray | None = None,
) -> RoiSignal:
    """Mean T1 and T2 signal in a rectangle drawn on slice ``z``, against the same vertebra's central marrow.

    Args:
        roi: (x0, y0, x1, y1) in T1 pixel-edge coordinates (pixel i spans [i, i+1)); the voxels whose
            centres lie inside are averaged.
        z: the slice (0-based) the rectangle was drawn on.
        levels: the detected levels, each with ``level`` (name), ``box`` (x0, y0, x1, y1) and ``z_range``.
        spacing_yx: mm per T1 row and per column (to find the nearest level and size the centre band).
        t1, t2: raw (z, y, x) arrays on the T1 grid (the ratios); ``t1_norm``, ``t2_norm``: the same
            normalized by the chosen method (the means), or None when they are not available.

    Returns a :class:`RoiSignal` (see the module docstring for the reference band); never NaN.
    """
    norm = (t1_norm, t2_norm) if t1_norm is not None and t2_norm is not None else (t1, t2)
    shape, sy, sx = _checked(t1, t2, norm, spacing_yx)
    nz, ny, nx = shape
    x0, x1 = sorted((float(roi[0]), float(roi[2])))
    y0, y1 = sorted((float(roi[1]), float(roi[3])))
    z = int(z)
    box = (x0, y0, x1, y1)
    if not 0 <= z < nz:
        return RoiSignal(box, z, 0, "", "", None, None, None, None, None, None,
                         (f"Slice {z + 1} is outside the series (1-{nz}).",))
    zs, rows, cols = slice(z, z + 1), _rows(y0, y1, ny), _rows(x0, x1, nx)
    arrays = (norm[0], norm[1], t1, t2)
    got, got_raw = _band(arrays, zs, rows, cols, "drawn rectangle")
    notes = [got.reason] if got.reason else []
    if not levels:
        notes.append("No detected level to compare with: lower the detector threshold or draw elsewhere.")
        return RoiSignal(box, z, got.pixels, "", "", *_units(got, t1_norm), None, None, None, None, tuple(notes))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    lv = min(levels, key=lambda lv: _box_distance_mm(lv.box, cx, cy, (sy, sx)))
    side = "upper" if cy < (float(lv.box[1]) + float(lv.box[3])) / 2 else "lower"
    a, b = sorted(int(v) for v in lv.z_range)
    centre, centre_raw = _band(arrays, slice(min(max(a, 0), nz), min(max(b + 1, 0), nz)), _centre_rows(lv.box, sy, side, ny),
                               _columns(lv.box, nx), f"{side} vertebra's centre")
    if centre.reason:
        notes.append(centre.reason)
    ratios = (_ratio(got_raw[0], centre_raw[0]), _ratio(got_raw[1], centre_raw[1]))
    for seq, r in zip(("T1", "T2"), ratios):
        if r is None:
            notes.append(f"No {seq} ratio: the rectangle or the centre band is empty, or the centre's signal is not positive.")
    if t1_norm is None or t2_norm is None:
        notes.append("The means in the method's units are not available; the ratios are on the raw signal.")
    return RoiSignal(box, z, got.pixels, str(lv.level), side, *_units(got, t1_norm), *_units(centre, t1_norm), *ratios,
                     tuple(notes))


def _units(b: BandSignal, norm) -> tuple[float | None, float | None]:
    """A band's means in the method's units, or (None, None) when only raw arrays were given."""
    return (None, None) if norm is None else (b.t1, b.t2)


def _checked(t1, t2, norm: tuple, spacing_yx) -> tuple[tuple[int, int, int], float, float]:
    """(shape, sy, sx) of the probe's inputs: every array (z, y, x) of one shape, spacings positive mm; else ValueError."""
    shape = np.shape(t1)
    if len(shape) != 3 or any(np.shape(a) != shape for a in (t2, *norm)):
        raise ValueError(f"t1, t2 (and t1_norm, t2_norm) must be (z, y, x) arrays of one shape, got "
                         f"{[np.shape(a) for a in (t1, t2, *norm)]}")
    sy, sx = (float(v) for v in spacing_yx)
    if not (sy > 0 and sx > 0):
        raise ValueError(f"spacing_yx must be positive mm, got {spacing_yx!r}")
    return shape, sy, sx
