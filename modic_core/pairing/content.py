"""Does the image *content* of a placed T2 fit its T1? Checks that geometry alone cannot make.

The disc-centre check (:mod:`modic_core.pairing.alignment`) passes a T2 that lies where the T1's
discs are, whatever it shows. These checks look at the pixels, on the T1 grid, with the T2 as
placed and the T1 disc boxes (x0, y0, x1, y1 in T1 pixels, x = column, y = row, plus each
box's slice):

- :func:`contrast_score`: contrast direction. Around every T1 disc box (its rows; from the
  disc's middle back through the spinal canal) each image's pixels are ranked. Water (CSF, a
  hydrated nucleus) ranks far higher on T2 than on T1; nothing there ranks far higher on T1 than
  on T2 (fat, marrow included, is bright on both, cortex and ligaments dark on both). Score =
  the 98th percentile of (rank T2 - rank T1) minus the 98th percentile of (rank T1 - rank T2):
  > 0 for a T1/T2 pair, and the same pair swapped scores its negative. (Medians of marrow bands,
  disc interior and canal band compared as log ratios separated worse on the real pairs: 24 of
  153 came out reversed, mostly degenerated discs that are dark on T2 and parasagittal slices
  without CSF; README, "Pairing".)
- :func:`similarity`: correlation of the two series around the discs (where T1 and T2 contrast
  differ most); T2 = T1 (or nearly) scores ~1, the real pairs at most 0.89.
- :func:`flip_gain`: normalised mutual information of T1 with the T2 turned head-to-foot (and
  moved so its discs meet the T1's again) minus that of the T2 as placed: > 0 when the turned
  T2 fits better, i.e. the T2 pixels are upside down with respect to their header.

Thresholds (:data:`MIN_CONTRAST_SCORE`, :data:`MAX_SIMILARITY`, :data:`MAX_FLIP_GAIN`) were set on
the 153 real pairs of the SPIDER-derived cohort (README, "Pairing"; ``modic_core.train.pairing_audit``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from modic_core.pairing.alignment import translation_from_centres

__all__ = ["MAX_FLIP_GAIN", "MAX_SIMILARITY", "MIN_CONTRAST_SCORE", "TAIL_PERCENTILE", "contrast_score", "flip_gain",
           "posterior_sign", "similarity"]

#: A pair whose contrast score is below this looks like T1 and T2 swapped (symmetric: a swap negates the score).
MIN_CONTRAST_SCORE = 0.0
#: The tail of the rank differences compared by :func:`contrast_score` (percent).
TAIL_PERCENTILE = 98.0
#: Normalised correlation of T1 and the placed T2 above this: the "T2" is (nearly) the T1 itself.
MAX_SIMILARITY = 0.98
#: The T2 turned head-to-foot fits the T1 better by more than this (NMI units): it is upside down.
MAX_FLIP_GAIN = 0.0


def posterior_sign(direction: Any) -> float:
    """+1 when the column index runs anterior to posterior (LPS y grows), else -1.

    ``direction``: the 3x3 direction matrix of the T1 (columns: x, y, z index axes in LPS)."""
    return 1.0 if float(np.asarray(direction, float)[1, 0]) >= 0 else -1.0


def _region(shape: tuple[int, int], box: Sequence[float], post: float) -> tuple[slice, slice]:
    """Rows of the box; columns from the disc's middle back through the canal (one box width
    behind the disc's posterior edge)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w = x1 - x0
    xa, xb = (x0 + 0.5 * w, x1 + 1.0 * w) if post > 0 else (x0 - 1.0 * w, x1 - 0.5 * w)
    h, wd = shape
    return (slice(int(np.clip(np.floor(y0), 0, h)), int(np.clip(np.ceil(y1), 0, h))),
            slice(int(np.clip(np.floor(xa), 0, wd)), int(np.clip(np.ceil(xb), 0, wd))))


def contrast_score(t1: np.ndarray, t2: np.ndarray, boxes: Any, zs: Any, *, posterior: float = 1.0,
                   tail: float = TAIL_PERCENTILE) -> tuple[float | None, int]:
    """(score, discs used) of the contrast-direction check; see the module docstring.

    ``t1``, ``t2``: (z, y, x) arrays on the T1 grid (T2 as placed); ``boxes``: (N, 4) T1 disc
    boxes; ``zs``: the slice of each; ``posterior``: :func:`posterior_sign`. Pixels of all the
    discs' regions where both images have data are ranked (0-1, ties averaged) within each
    image; score = ``tail``-th percentile of (rank T2 - rank T1) minus that of (rank T1 - rank T2),
    in -1..1. None when fewer than 50 such pixels."""
    from scipy.stats import rankdata  # lazy: scipy is heavy; only this computation needs it

    masks: dict[int, np.ndarray] = {}
    used = 0
    for b, z in zip(np.asarray(boxes, float).reshape(-1, 4), np.asarray(zs, int).reshape(-1)):
        if b[2] - b[0] < 2 or b[3] - b[1] < 2 or not 0 <= z < t1.shape[0]:
            continue
        m = masks.setdefault(int(z), np.zeros(t1.shape[1:], bool))
        m[_region(m.shape, b, posterior)] = True
        used += 1
    v1 = [np.asarray(t1[z], np.float64)[m] for z, m in masks.items()]
    v2 = [np.asarray(t2[z], np.float64)[m] for z, m in masks.items()]
    a, c = (np.concatenate(v) if v else np.zeros(0) for v in (v1, v2))
    keep = (a > 0) & (c > 0)  # outside the T2 field of view the resampled T2 is 0
    if keep.sum() < 50:
        return None, used
    r1, r2 = (rankdata(v[keep]) / keep.sum() for v in (a, c))
    d = r2 - r1
    return float(np.percentile(d, tail) - np.percentile(-d, tail)), used


def similarity(t1: np.ndarray, t2: np.ndarray, boxes: Any = None, zs: Any = None, *, posterior: float = 1.0) -> float | None:
    """Pearson correlation of the two (z, y, x) arrays (same shape) over voxels where both are
    non-zero, within the discs' neighbourhood when ``boxes``/``zs`` are given (each box's rows,
    from its anterior edge to one box width behind it: where T1 and T2 contrast differ most;
    the whole arrays otherwise). None with fewer than 100 such voxels or a constant image."""
    a, b = np.asarray(t1, np.float64), np.asarray(t2, np.float64)
    keep = (a != 0) & (b != 0)
    if boxes is not None and len(np.asarray(boxes).reshape(-1)):
        near = np.zeros(a.shape, bool)
        for bx, z in zip(np.asarray(boxes, float).reshape(-1, 4), np.asarray(zs, int).reshape(-1)):
            x0, y0, x1, y1 = bx
            w = x1 - x0
            lo, hi = (x0, x1 + w) if posterior > 0 else (x0 - w, x1)
            if 0 <= z < a.shape[0]:
                h, wd = a.shape[1:]
                near[z, int(np.clip(np.floor(y0), 0, h)):int(np.clip(np.ceil(y1), 0, h)),
                     int(np.clip(np.floor(lo), 0, wd)):int(np.clip(np.ceil(hi), 0, wd))] = True
        keep &= near
    if keep.sum() < 100:
        return None
    x, y = a[keep] - a[keep].mean(), b[keep] - b[keep].mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return None if den == 0 else float((x * y).sum() / den)


def _nmi(a: np.ndarray, b: np.ndarray, *, bins: int = 32) -> float | None:
    """Normalised mutual information (H(A) + H(B)) / H(A, B) - 1 over pixels where both are
    non-zero (0 = independent, 1 = one determines the other)."""
    keep = (a != 0) & (b != 0)
    if keep.sum() < 100:
        return None
    x, y = a[keep], b[keep]
    h, _, _ = np.histogram2d(x, y, bins=bins, range=[[x.min(), x.max() + 1e-6], [y.min(), y.max() + 1e-6]])
    p = h / h.sum()
    px, py = p.sum(1), p.sum(0)

    def ent(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    hj = ent(p.ravel())
    return None if hj == 0 else (ent(px) + ent(py)) / hj - 1.0


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``img`` moved by whole pixels (rows dy, columns dx), zeros where nothing moved in."""
    out = np.zeros_like(img)
    h, w = img.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dy) < h and abs(dx) < w:
        out[yd, xd] = img[ys, xs]
    return out


def flip_gain(t1: np.ndarray, t2: np.ndarray, c1_yx: Any, c2_yx: Any) -> float | None:
    """NMI gain of turning the placed T2 slice head-to-foot; see the module docstring.

    ``t1``, ``t2``: one (y, x) slice each on the T1 grid (T2 as placed); ``c1_yx``, ``c2_yx``:
    (N, 2) disc centres (row, column) found on each. The turned T2 is moved by whole pixels so
    that its discs meet the T1's (:func:`~modic_core.pairing.alignment.translation_from_centres`
    on the flipped centres). None when either measure is undefined."""
    a, b = np.asarray(t1, np.float64), np.asarray(t2, np.float64)
    c1 = np.asarray(c1_yx, float).reshape(-1, 2)
    c2 = np.asarray(c2_yx, float).reshape(-1, 2)
    if len(c1) < 2 or len(c2) < 2:
        return None
    asis = _nmi(a, b)
    flipped = b[::-1]
    c2f = np.column_stack([b.shape[0] - 1 - c2[:, 0], c2[:, 1]])
    pad = lambda c: np.column_stack([c, np.zeros(len(c))])  # noqa: E731  (row, col) -> 3D points for the matcher
    t, n = translation_from_centres(pad(c1), pad(c2f), tol_mm=8.0)
    if n < 2:
        return None
    turned = _nmi(a, _shifted(flipped, int(round(t[0])), int(round(t[1]))))
    return None if asis is None or turned is None else float(turned - asis)
