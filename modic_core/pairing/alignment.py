"""How well a T2 series lines up with its T1, measured on disc centres, and a translation that fixes it.

The geometry here is pure: disc centres come in as (N, 3) LPS millimetre arrays (x, y, z), found
by the detector on each sequence separately (``modic_core.analysis.alignment`` runs it). A T2 is
*aligned* when enough of its disc centres lie close to the T1's after resampling; the thresholds
(:data:`OK_MIN_DISCS`, :data:`OK_MATCH_MM`, :data:`OK_MEDIAN_MM`) are the rule the SPIDER-derived
training data used to mark its pairs as aligned, checked on those pairs (README, "Pairing").
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "OK_MATCH_MM",
    "OK_MEDIAN_MM",
    "OK_MIN_DISCS",
    "Alignment",
    "fov_coverage",
    "match_centres",
    "measure",
    "peak_at_edge",
    "slab_centre",
    "translation_from_centres",
]

#: A disc of T1 and one of T2 are the same disc when their centres lie within this distance (mm).
OK_MATCH_MM = 4.0
#: The median distance of matched discs must not exceed this (mm).
OK_MEDIAN_MM = 3.0
#: At least this many discs must match (or all of them, when fewer were found on T1).
OK_MIN_DISCS = 4


@dataclass(frozen=True)
class Alignment:
    """Result of the T1/T2 alignment check.

    Attributes:
        method: how T2 was placed on T1: ``"header"`` (DICOM/ITK geometry as stored),
            ``"disc correspondence"`` (translated so that its discs meet the T1's) or
            ``"not checked"`` (no model to find discs).
        translation_mm: (x, y, z) LPS shift applied to the T2 on top of its header geometry, mm.
        residual_mm: median distance of matched disc centres after alignment (None if < 1 match).
        discs_matched: discs found on both sequences within :data:`OK_MATCH_MM`.
        discs_t1: discs found on T1 (the reference count).
        ok: the check passed; when False, grades need T2 and are unreliable.
        header_trusted: the headers share a frame of reference (or no frame is recorded).
        header_residual_mm / header_discs_matched: the same measures for the header geometry.
        through_plane_mm: multi-slice pairs only: how far (mm, along the T1 slice normal) the
            T2's spine midline lay from the T1's as first placed (T1 minus T2; the middle of the
            slices on which the detector finds discs, :func:`slab_centre`); when it exceeded half
            a slice spacing, T2 was moved by it (included in ``translation_mm``). None: not
            measurable (a single-slice series, or no discs on one of them).
        through_plane_residual_mm: the same offset re-measured after that move (= the offset when
            nothing was moved); above half a T1 slice spacing the check fails.
        contrast_score: the contrast-direction score of the placed pair (log units, > 0 for T1
            and T2 the right way round; :func:`modic_core.pairing.content.contrast_score`).
        similarity: correlation of T1 and placed T2 (~1: the "T2" is the T1 itself).
        flip_gain: how much better a head-to-foot turned T2 fits (> 0: the T2 is upside down).
        problems: plain sentences, one per failed content or through-plane check (``ok`` False).
        in_plane_ok: the disc-position check on its own (steps 1-2 of
            :mod:`modic_core.analysis.alignment`) passed; None when not recorded (older reports).
        through_plane_note: why ``through_plane_mm`` is None ("not measurable on single-slice
            series", "not checked: both series share the scanner's frame of reference", ...); "" otherwise.
    """

    method: str
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    residual_mm: float | None = None
    discs_matched: int = 0
    discs_t1: int = 0
    ok: bool = False
    header_trusted: bool = True
    header_residual_mm: float | None = None
    header_discs_matched: int = 0
    through_plane_mm: float | None = None
    through_plane_residual_mm: float | None = None
    contrast_score: float | None = None
    similarity: float | None = None
    flip_gain: float | None = None
    problems: tuple[str, ...] = ()
    in_plane_ok: bool | None = None
    through_plane_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["translation_mm"] = [round(float(v), 2) for v in self.translation_mm]
        for k in ("residual_mm", "header_residual_mm", "through_plane_mm", "through_plane_residual_mm"):
            d[k] = None if d[k] is None else round(float(d[k]), 2)
        for k in ("contrast_score", "similarity", "flip_gain"):
            d[k] = None if d[k] is None else round(float(d[k]), 4)
        d["problems"] = list(self.problems)
        return d

    def sentence(self) -> str:
        """One plain sentence for reports and the viewer."""
        if self.method == "not checked":
            return "T1/T2 alignment was not checked (no disc detector installed)."
        res = "n/a" if self.residual_mm is None else f"{self.residual_mm:.1f} mm"
        how = ("header geometry" if self.method == "header"
               else f"T2 moved by {np.linalg.norm(self.translation_mm):.0f} mm to match the T1 discs")
        if self.through_plane_mm is None:
            tp = f"; through-plane offset {self.through_plane_note}" if self.through_plane_note else ""
        elif self.through_plane_residual_mm is None:
            tp = "; through-plane offset not measurable"
        elif abs(self.through_plane_mm - (self.through_plane_residual_mm or 0.0)) > 1e-6:
            tp = (f"; through-plane offset {abs(self.through_plane_mm):.1f} mm moved, "
                  f"{abs(self.through_plane_residual_mm or 0.0):.1f} mm left")
        else:
            tp = f"; through-plane offset {abs(self.through_plane_mm):.1f} mm"
        verdict = "aligned" if self.ok else ("placed, but NOT usable as a pair" if self.problems and self.in_plane_ok
                                             else "NOT aligned")
        return (f"T1/T2 {verdict} ({how}; {self.discs_matched} of {self.discs_t1} discs matched, "
                f"median distance {res}{tp}).")


def _as_points(a: Any) -> np.ndarray:
    p = np.asarray(a, dtype=np.float64).reshape(-1, 3)
    return p[np.all(np.isfinite(p), axis=1)]


def match_centres(c1: Any, c2: Any, *, max_mm: float = OK_MATCH_MM) -> list[tuple[int, int, float]]:
    """One-to-one matches (i, j, distance_mm) between two sets of centres, closest first,
    each within ``max_mm`` (optimal assignment by :func:`scipy.optimize.linear_sum_assignment`)."""
    from scipy.optimize import linear_sum_assignment  # lazy: scipy is heavy; only this computation needs it

    a, b = _as_points(c1), _as_points(c2)
    if len(a) == 0 or len(b) == 0:
        return []
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    cost = np.where(d <= max_mm, d, 1e6)
    rows, cols = linear_sum_assignment(cost)
    out = [(int(i), int(j), float(d[i, j])) for i, j in zip(rows, cols) if d[i, j] <= max_mm]
    return sorted(out, key=lambda t: t[2])


def _in_plane(points: np.ndarray, normal: Any | None) -> np.ndarray:
    if normal is None:
        return points
    u = np.asarray(normal, float) / np.linalg.norm(normal)
    return points - np.outer(points @ u, u)


def measure(c1: Any, c2: Any, *, plane_normal: Any | None = None) -> tuple[int, float | None, bool]:
    """(discs matched, median distance mm or None, ok) for T1 centres ``c1`` and T2 centres ``c2``
    expressed in the same physical frame; with ``plane_normal`` (the sagittal slice normal)
    distances are measured within the slice plane only."""
    c1, c2 = _in_plane(_as_points(c1), plane_normal), _in_plane(_as_points(c2), plane_normal)
    n1 = len(c1)
    m = match_centres(c1, c2)
    med = float(np.median([t[2] for t in m])) if m else None
    need = min(OK_MIN_DISCS, n1) if n1 else OK_MIN_DISCS
    ok = bool(m) and len(m) >= max(need, 2) and med is not None and med <= OK_MEDIAN_MM
    return len(m), med, ok


def translation_from_centres(c1: Any, c2: Any, *, tol_mm: float = OK_MATCH_MM,
                             keep_axis: Any | None = None) -> tuple[np.ndarray, int]:
    """The translation t (mm, LPS) that moves T2 centres ``c2`` onto T1 centres ``c1`` (c2 + t ~ c1).

    Every pairing of a T1 and a T2 disc proposes a translation; the one under which most discs
    match within ``tol_mm`` wins (ties: smaller median distance), and is refined as the median of
    the matched differences. Robust to missed and extra discs and to shifts of any size.
    ``keep_axis``: a vector along which no shift is made and distances are not measured (the
    slice normal of single-slice series, where the through-plane offset is not measurable). Returns (t, discs matched).
    """
    a, b = _as_points(c1), _as_points(c2)
    if len(a) == 0 or len(b) == 0:
        return np.zeros(3), 0
    axis = None if keep_axis is None else np.asarray(keep_axis, float) / np.linalg.norm(keep_axis)

    def project(t: np.ndarray) -> np.ndarray:
        return t if axis is None else t - np.outer(t @ axis, axis).reshape(t.shape)

    if axis is not None:  # compare positions within the plane only
        a, b = project(a), project(b)

    best: tuple[int, float, np.ndarray] = (0, np.inf, np.zeros(3))
    for i in range(len(a)):
        for j in range(len(b)):
            t = project(a[i] - b[j])
            m = match_centres(a, b + t, max_mm=tol_mm)
            if not m:
                continue
            med = float(np.median([x[2] for x in m]))
            if (len(m), -med) > (best[0], -best[1]):
                best = (len(m), med, t)
    n, _, t = best
    if n == 0:
        return np.zeros(3), 0
    m = match_centres(a, b + t, max_mm=tol_mm)
    t = project(t + np.median(np.array([a[i] - (b[j] + t) for i, j, _ in m]), axis=0))
    return t, len(match_centres(a, b + t, max_mm=tol_mm))


def slab_centre(weights: Any, *, floor: float = 0.25) -> float | None:
    """Where the spine's midline lies across the slices: the weighted mean slice index.

    ``weights``: one value per slice (the detector's disc evidence on it: sum of score x box
    width of the discs found). Slices below ``floor`` x the largest weight are left out (stray
    lateral detections); None when no slice has any weight."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) == 0 or not np.isfinite(w).all() or w.max() <= 0:
        return None
    w = np.where(w >= floor * w.max(), w, 0.0)
    return float((np.arange(len(w)) * w).sum() / w.sum())


def peak_at_edge(weights: Any, covered: Any | None = None) -> bool:
    """True when the disc evidence is largest on the first or last slice a series covers: its
    slab ends before the spine's midline, so :func:`slab_centre` would stop at that edge.

    ``weights``: per slice (as :func:`slab_centre`); ``covered``: per slice, whether the series has
    image data there (a T2 resampled onto the T1 grid covers only some of its slices)."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    cov = np.ones(len(w), bool) if covered is None else np.asarray(covered, bool).reshape(-1)
    idx = np.flatnonzero(cov)
    if len(idx) < 3 or w.max() <= 0:
        return False
    return int(np.argmax(np.where(cov, w, -1.0))) in (int(idx[0]), int(idx[-1]))


def fov_coverage(t1: Any, t2: Any, boxes: Any, zs: Any, *, samples: int = 8) -> np.ndarray:
    """Fraction (0-1) of each region that lies inside the T2 series' field of view.

    ``t1``, ``t2``: :class:`~modic_core.volume.Volume` (T2 on its own grid, as placed);
    ``boxes``: (N, 4) (x0, y0, x1, y1) in T1 pixels; ``zs``: the T1 slice of each. Each box is
    sampled on a ``samples`` x ``samples`` grid of points, mapped to T2 voxel indices through
    both geometries. The through-plane index is checked unless both series are single-slice
    (2D exports: their slice positions may differ a little and T2 is projected onto T1); a
    single-slice T2 with a multi-slice T1 covers only the T1 slices within its own slice.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0)
    u = (np.arange(samples) + 0.5) / samples
    gx, gy = np.meshgrid(u, u)
    inv = np.linalg.inv(np.asarray(t2.direction, dtype=np.float64))
    sp2 = np.asarray(t2.spacing[::-1], dtype=np.float64)  # (x, y, z) mm
    size2 = np.asarray(t2.shape[::-1], dtype=np.float64)  # (x, y, z) voxels
    out = np.zeros(len(boxes))
    for k, (b, z) in enumerate(zip(boxes, np.asarray(zs).reshape(-1))):
        xs = b[0] + gx.ravel() * (b[2] - b[0])
        ys = b[1] + gy.ravel() * (b[3] - b[1])
        pts = t1.index_to_physical(np.stack([np.full_like(xs, float(z)), ys, xs], axis=1))
        ijk = ((pts - np.asarray(t2.origin)) @ inv.T) / sp2
        inside = np.all((ijk[:, :2] >= -0.5) & (ijk[:, :2] <= size2[:2] - 0.5), axis=1)
        if t2.shape[0] > 1 or t1.shape[0] > 1:
            inside &= (ijk[:, 2] >= -0.5) & (ijk[:, 2] <= size2[2] - 0.5)
        out[k] = float(inside.mean())
    return out
