"""Which original T2 slice lies at each T1 slice, and which T1 slices the T2 covers.

The viewer shows T2 resampled onto the T1 grid (:func:`modic_core.pairing.study.resample_to`), so
both panels are the same sagittal plane and a classic plane-intersection reference line does not
exist. What a reader still wants to know is *which* T2 slice is shown at a T1 slice (the T2 may have
fewer, thicker slices) and where the T2 has no data at all.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["T2SliceInfo", "t2_coverage", "t2_slice_map"]

# a T1 slice centre further than this from the nearest T2 slice centre, in T2 slice spacings, lies outside the T2 slab
_SLAB_HALF = 0.5 + 1e-3


@dataclass(frozen=True)
class T2SliceInfo:
    """The original T2 slice nearest to one T1 slice.

    ``index``: 0-based index of that slice in the original T2 series; ``count``: the T2's slice count;
    ``distance_mm``: distance (mm, >= 0) between the T1 slice centre and that T2 slice centre along
    the T2 slice normal; ``inside``: the T1 slice lies within the T2 slab (at most half a T2 slice
    spacing from a T2 slice centre)."""

    index: int
    count: int
    distance_mm: float
    inside: bool

    def sentence(self, position: str) -> str:
        """One phrase for the viewer's caption, e.g. "T2 slice 4 of 8 (3.5 mm L) lies here";
        ``position``: where that T2 slice lies, e.g. :func:`modic_core.export.render.slice_lr_label`."""
        name = f"T2 slice {self.index + 1} of {self.count} ({position})"
        if not self.inside:
            return f"outside the T2 slab (nearest: {name}, {self.distance_mm:.1f} mm away)"
        if self.distance_mm < 0.05:
            return f"{name} lies here"
        return f"nearest original {name}, {self.distance_mm:.1f} mm away"


def t2_slice_map(t1, t2_native) -> list[T2SliceInfo]:
    """Per T1 slice (in order), the nearest slice of the original T2 series ``t2_native``.

    ``t1``, ``t2_native``: :class:`~modic_core.volume.Volume` objects in one patient (LPS) space.
    The T1 slice centre is projected on the T2 slice normal; the fractional T2 index is
    ``(centre - t2.origin) . normal / t2 slice spacing``."""
    _, ny, nx = t1.shape
    n1 = t1.shape[0]
    n2 = int(t2_native.shape[0])
    idx = np.zeros((n1, 3))
    idx[:, 0] = np.arange(n1)
    idx[:, 1] = (ny - 1) / 2.0
    idx[:, 2] = (nx - 1) / 2.0
    centres = t1.index_to_physical(idx)
    normal = np.asarray(t2_native.slice_normal, dtype=np.float64)
    dz = float(t2_native.spacing[0]) or 1.0
    frac = (centres - np.asarray(t2_native.origin)) @ normal / dz
    out = []
    for f in frac:
        k = int(min(max(round(float(f)), 0), n2 - 1))
        gap = abs(float(f) - k)
        out.append(T2SliceInfo(index=k, count=n2, distance_mm=round(gap * dz, 2), inside=gap <= _SLAB_HALF))
    return out


def t2_coverage(t2_on_t1: np.ndarray) -> list[bool]:
    """Per slice of a T2 resampled on the T1 grid (z, y, x): True where it holds data (some finite,
    non-zero voxel); False on slices outside the T2's field of view (resampling fills them with 0)."""
    a = np.asarray(t2_on_t1)
    finite = np.isfinite(a)
    return [bool(np.any(finite[z] & (a[z] != 0))) for z in range(a.shape[0])]
