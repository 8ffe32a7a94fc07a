"""Does the image *content* of a placed T2 fit its T1? Checks that geometry alone cannot make.

The disc-centre check (:mod:`modic_core.pairing.alignment`) passes a T2 that lies where the T1's
discs are, whatever it shows. These checks look at the pixels, on the T1 grid, with the T2 as
placed and the T1 disc boxes (x0, y0, x1, y1 in T1 pixels, x = column, y = row, plus each
box's slice):

- :func:`contrast_score`: contrast direction. Per disc, the vertebral marrow bands above and
  below the box, the disc interior and the canal band just posterior to the disc are compared:
  on T1 marrow is brighter than disc and CSF is dark; on T2 CSF is bright and the disc is
  brighter relative to marrow than on T1. The score is, in natural-log units,
  ``median_k [(m1 - d1) - (m2 - d2) + (m1 - c1) - (m2 - c2)]`` with m, d, c the log medians of
  marrow, disc and canal; a correct pair scores > 0, the same pair swapped scores < 0.
- :func:`similarity`: normalised correlation of the two series over their overlap; T2 = T1
  (or nearly) scores ~1, a real T1/T2 pair far lower.
- :func:`flip_gain`: normalised mutual information of T1 with the T2 turned head-to-foot (and
  moved so its discs meet the T1's again) minus that of the T2 as placed: > 0 when the turned
  T2 fits better, i.e. the T2 pixels are upside down with respect to their header.

Thresholds (:data:`MIN_CONTRAST_SCORE`, :data:`MAX_SIMILARITY`, :data:`MAX_FLIP_GAIN`) were set on
the 153 real pairs of the SPIDER-derived cohort (README, "Pairing"; ``modic_core.train.pairing_audit``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["MAX_FLIP_GAIN", "MAX_SIMILARITY", "MIN_CONTRAST_SCORE", "contrast_score", "flip_gain",
           "posterior_sign", "similarity"]

#: A pair whose contrast score (log units) is below this looks like T1 and T2 swapped.
MIN_CONTRAST_SCORE = 0.0
#: Normalised correlation of T1 and the placed T2 above this: the "T2" is (nearly) the T1 itself.
MAX_SIMILARITY = 0.98
#: The T2 turned head-to-foot fits the T1 better by more than this (NMI units): it is upside down.
MAX_FLIP_GAIN = 0.0


def posterior_sign(direction: Any) -> float:
    """+1 when the column index runs anterior to posterior (LPS y grows), else -1.

    ``direction``: the 3x3 direction matrix of the T1 (columns: x, y, z index axes in LPS)."""
    return 1.0 if float(np.asarray(direction, float)[1, 0]) >= 0 else -1.0


def _band(img: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    h, w = img.shape
    xa, xb = int(np.clip(np.floor(min(x0, x1)), 0, w)), int(np.clip(np.ceil(max(x0, x1)), 0, w))
    ya, yb = int(np.clip(np.floor(min(y0, y1)), 0, h)), int(np.clip(np.ceil(max(y0, y1)), 0, h))
    return img[ya:yb, xa:xb].ravel()


def _tissues(img: np.ndarray, box: Sequence[float], post: float) -> tuple[float, float, float] | None:
    """(log marrow, log disc, log canal) medians around one disc box on one slice, or None."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    if w < 2 or h < 2:
        return None
    xa, xb = x0 + 0.3 * w, x1 - 0.3 * w  # central AP part of the disc / vertebral bodies
    cy = (y0 + y1) / 2
    disc = _band(img, xa, xb, cy - 0.1 * h, cy + 0.1 * h + 1)
    marrow = np.concatenate([_band(img, xa, xb, y0 - 0.6 * h, y0 - 0.1 * h), _band(img, xa, xb, y1 + 0.1 * h, y1 + 0.6 * h)])
    edge = x1 if post > 0 else x0  # the disc's posterior edge; the canal lies behind it
    canal = _band(img, edge, edge + post * 0.35 * w, cy - 0.2 * h, cy + 0.2 * h + 1)
    if min(disc.size, marrow.size, canal.size) == 0:
        return None
    vals = [float(np.median(v)) for v in (marrow, disc, canal)]
    if min(vals) <= 0:  # outside the T2 field of view (zeros), or no signal
        return None
    m, d, c = np.log(vals)
    return m, d, c


def contrast_score(t1: np.ndarray, t2: np.ndarray, boxes: Any, zs: Any, *, posterior: float = 1.0) -> tuple[float | None, int]:
    """(score in log units, discs used) of the contrast-direction check; see the module docstring.

    ``t1``, ``t2``: (z, y, x) arrays on the T1 grid (T2 as placed); ``boxes``: (N, 4) T1 disc
    boxes; ``zs``: the slice of each; ``posterior``: :func:`posterior_sign`. None when no disc
    has all three regions inside both images."""
    per = []
    for b, z in zip(np.asarray(boxes, float).reshape(-1, 4), np.asarray(zs, int).reshape(-1)):
        a = _tissues(np.asarray(t1[z], np.float64), b, posterior)
        c = _tissues(np.asarray(t2[z], np.float64), b, posterior)
        if a is None or c is None:
            continue
        (m1, d1, c1), (m2, d2, c2) = a, c
        per.append((m1 - d1) - (m2 - d2) + (m1 - c1) - (m2 - c2))
    return (float(np.median(per)) if per else None), len(per)


def similarity(t1: np.ndarray, t2: np.ndarray) -> float | None:
    """Pearson correlation of the two arrays (same shape) over voxels where both are non-zero;
    None with fewer than 100 such voxels or a constant image."""
    a, b = np.asarray(t1, np.float64).ravel(), np.asarray(t2, np.float64).ravel()
    keep = (a != 0) & (b != 0)
    if keep.sum() < 100:
        return None
    a, b = a[keep] - a[keep].mean(), b[keep] - b[keep].mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return None if den == 0 else float((a * b).sum() / den)


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
    from modic_core.pairing.alignment import translation_from_centres

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
