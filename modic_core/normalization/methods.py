"""Intensity normalization of one MRI series (Cina et al. 2024 compare these methods).

One call shape for every method::

    normalize(volume, "zscore", mask=None, landmarks=None) -> Volume

applied to T1 and T2 *separately* by the caller. The output is a float32
:class:`~modic_core.volume.Volume` with the input's geometry and metadata.

Methods (registry :data:`NORMALIZATIONS`, in display order):

=============  ====================================================================
``none``       y = x (the input volume itself is returned)
``minmax``     y = (x - min x) / (max x - min x), over the whole image, in [0, 1]
``percentile`` y = (clip(x, p1, p99) - p1) / (p99 - p1); p1, p99 = 1st/99th
               percentiles of the foreground; in [0, 1]
``zscore``     y = (x - mean_F x) / std_F x over the foreground F
``histeq``     y = CDF_F(x), the empirical CDF of the foreground (mid-rank,
               4096 bins, piecewise linear), in [0, 1]
``nyul``       Nyul-Udupa piecewise-linear map of the image's foreground
               percentiles (1, 10, ..., 90, 99) onto standard landmarks learned
               on a training cohort (one set per sequence), scale ~[0, 100]
``n4_zscore``  N4 bias-field correction (SimpleITK), then ``zscore``
=============  ====================================================================

Foreground mask (when ``mask`` is None) -- :func:`foreground_mask`:
the body, not air or zero padding. Rule: (1) take every s-th row and column,
s = ceil(max(rows, cols) / 192), and smooth with a 3 x 3 in-plane mean filter;
(2) threshold at ``lo + 0.1 * (p99 - lo)`` where lo and p99 are the minimum and
99th percentile of the smoothed image (affine invariant, robust to 8-bit
min-max stretched exports whose background is 0); (3) binary opening (3 x 3,
in-plane), keep 3D connected components with >= 5 % of the largest one's
voxels, fill holes slice by slice; (4) upsample to the full grid (nearest) and
drop voxels <= the threshold from the mask's outermost (coarse) pixels.
If cleaning empties the mask the raw threshold mask is used; if that is empty
every voxel is used. The mask is signal-bearing body, not an anatomical body
outline: very dark tissue (e.g. anterior abdomen far from the spine coil) can fall
outside it.

Every method raises :class:`~modic_core.errors.InputError` for an empty image,
non-finite values, values beyond +-:data:`MAX_ABS_INTENSITY` (not a physical MR signal: two
such pixels would dominate the mean and standard deviation of a z-score, or overflow min-max's
range, and change the grades), a constant image or an empty / constant foreground.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from modic_core.errors import InputError
from modic_core.schema import NyulLandmarks, SchemaError
from modic_core.volume import Volume

__all__ = [
    "NORMALIZATIONS",
    "NYUL_PERCENTILES",
    "NYUL_STANDARD_RANGE",
    "MAX_ABS_INTENSITY",
    "LandmarksError",
    "NormalizationMethod",
    "fit_nyul",
    "foreground_mask",
    "load_landmarks",
    "normalize",
    "save_landmarks",
]

#: Foreground percentiles used as Nyul landmarks (torchio's layout: cut-offs 1/99,
#: quartiles and deciles). torchio's mapping uses all but the quartiles (25, 75).
NYUL_PERCENTILES: tuple[float, ...] = (1.0, 10.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 90.0, 99.0)
#: Landmarks used by the piecewise-linear map (indices into NYUL_PERCENTILES).
NYUL_USED = (0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12)
#: Standard scale onto which [p1, p99] of each training image is mapped.
NYUL_STANDARD_RANGE: tuple[float, float] = (0.0, 100.0)
LANDMARKS_FORMAT = "modic_core.nyul_landmarks/1"

HISTEQ_BINS = 4096  # power of two: integer-valued data (range < 8192) never falls on a bin edge
MASK_FRACTION = 0.1  # threshold = lo + MASK_FRACTION * (p99 - lo)
MASK_TARGET_SIZE = 192  # in-plane size of the smoothed image the mask is computed on
N4_SHRINK_INPLANE = 32  # N4 fits a series' bias field on a copy at most this many px in-plane (was 64: 3-4x slower)
N4_SHRINK_SLICES = 8  # ... and at most this many slices
N4_SHRINK_INPLANE_2D = 64  # a single slice's fit is cheap: it keeps the finer copy (and its affine invariance to 1e-4)
#: Largest |intensity| accepted. MR magnitude images are stored as (u)int16 (< 65536) or,
#: rescaled, well below 1e6; values beyond this are corrupt or padding (e.g. +-3.4e38, float32's
#: maximum) and are refused rather than allowed to set the statistics.
MAX_ABS_INTENSITY = 1e7


class LandmarksError(InputError):
    """Nyul normalization was asked for without usable landmarks."""


# --------------------------------------------------------------------------- validation


def _check_values(array: np.ndarray) -> None:
    if array.size == 0:
        raise InputError("The image is empty (it has no voxels); a non-empty MRI series is needed.")
    lo, hi = float(np.min(array)), float(np.max(array))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("The image contains invalid (NaN or infinite) values; it cannot be normalized.")
    if max(abs(lo), abs(hi)) > MAX_ABS_INTENSITY:
        raise InputError(
            f"The image contains intensities beyond +-{MAX_ABS_INTENSITY:g} (largest magnitude {max(abs(lo), abs(hi)):.3g}), "
            "which no MRI scanner produces; the file is damaged or was exported with invalid values. "
            "Please export the series again."
        )
    if hi <= lo:
        raise InputError(
            f"The image is constant (every voxel is {lo:g}); it has no contrast to normalize. "
            "Check that the right series was chosen."
        )


def _as_mask(mask: np.ndarray | Volume, shape: tuple[int, int, int]) -> np.ndarray:
    arr = mask.array if isinstance(mask, Volume) else np.asarray(mask)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape != shape:
        raise ValueError(f"mask shape {arr.shape} does not match the image shape {shape}")
    m = arr.astype(bool, copy=False)
    if not m.any():
        raise InputError("The foreground mask is empty; the image cannot be normalized over it.")
    return m


def _need_mask(mask: np.ndarray | None, method: str) -> np.ndarray:
    """The foreground mask a masked method needs (``normalize`` always passes one)."""
    if mask is None:
        raise ValueError(f"the '{method}' normalization needs a foreground mask; call normalize(), which computes one")
    return mask


def _foreground_values_check(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        raise InputError(
            f"The image is constant inside the body (every foreground voxel is {lo:g}); it cannot be normalized."
        )
    return lo, hi


# --------------------------------------------------------------------------- foreground mask


def _fill_holes_inplane(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the slice border, slice by slice."""
    from scipy import ndimage as ndi  # lazy: scipy is heavy; only this computation needs it

    inplane = np.zeros((3, 3, 3), bool)
    inplane[1] = ndi.generate_binary_structure(2, 1)
    labels, n = ndi.label(~mask, structure=inplane)
    if n == 0:
        return mask
    border = np.zeros(n + 1, bool)
    for edge in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        border[np.unique(edge)] = True
    border[0] = True  # label 0 is the mask itself
    return ~border[labels] | mask


def _clean_mask(raw: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi  # lazy: scipy is heavy; only this computation needs it

    opened = ndi.binary_opening(raw, structure=np.ones((1, 3, 3), bool))
    labels, n = ndi.label(opened)
    if n == 0:
        return opened
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= 0.05 * sizes.max()
    keep[0] = False
    return _fill_holes_inplane(keep[labels])


def foreground_mask(volume: Volume | np.ndarray, *, fraction: float = MASK_FRACTION) -> np.ndarray:
    """Boolean body mask (z, y, x) by the rule in the module docstring.

    Threshold t = lo + fraction * (p99 - lo) on an in-plane subsampled (to <= 192 px)
    and 3 x 3 mean-smoothed copy (lo = its minimum, p99 = its 99th percentile),
    then 3 x 3 opening, removal of 3D components < 5 % of the largest, in-plane
    hole filling, nearest upsampling, and removal of full-resolution voxels <= t
    in the mask's outermost coarse pixels. A 2D (y, x) input is taken as one
    slice: the mask is then (1, y, x).
    """
    from scipy import ndimage as ndi  # lazy: scipy is heavy; only this computation needs it

    array = volume.array if isinstance(volume, Volume) else np.asarray(volume, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    _check_values(array)
    z, h, w = array.shape
    s = max(1, math.ceil(max(h, w) / MASK_TARGET_SIZE))
    small = np.ascontiguousarray(array[:, ::s, ::s], dtype=np.float32)
    small = ndi.uniform_filter(small, size=(1, 3, 3), mode="nearest")
    lo = float(small.min())
    p99 = float(np.percentile(small, 99))
    if p99 <= lo:  # >99 % of the smoothed image at its minimum: use the maximum instead
        p99 = float(small.max())
    threshold = lo + fraction * (p99 - lo)
    raw = small > threshold
    mask = _clean_mask(raw)
    if not mask.any():
        mask = raw if raw.any() else np.ones_like(raw)
    # boundary band (outermost mask pixels of the coarse grid): refined at full resolution below
    band = mask & ~ndi.binary_erosion(mask, structure=np.ones((1, 3, 3), bool), border_value=1)
    if s > 1:
        mask = np.repeat(np.repeat(mask, s, axis=1), s, axis=2)[:, :h, :w]
        band = np.repeat(np.repeat(band, s, axis=1), s, axis=2)[:, :h, :w]
    refined = mask & ~(band & (array <= threshold))
    return np.ascontiguousarray(refined if refined.any() else mask)


# --------------------------------------------------------------------------- torchio helpers


def _tio_apply(transform: Any, array: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """Run a torchio intensity transform on a (z, y, x) array (axis order is irrelevant here).

    Returns (output, changed); ``changed`` is False when torchio handed the input
    tensor back untouched (it does so, with a warning, when it cannot rescale).
    """
    # lazy: torch and torchio are heavy; only the model path needs it
    import torch
    import torchio as tio

    eye = np.eye(4)
    subject = {"img": tio.ScalarImage(tensor=torch.from_numpy(np.ascontiguousarray(array)[None]), affine=eye)}
    if mask is not None:
        subject["mask"] = tio.LabelMap(tensor=torch.from_numpy(mask[None]), affine=eye)
    subject = tio.Subject(**subject)
    before = subject["img"].data
    out = transform(subject)["img"].data
    return out.numpy()[0].astype(np.float32, copy=False), out is not before


def _tio_rescale(array: np.ndarray, mask: np.ndarray | None, percentiles: tuple[float, float]) -> np.ndarray:
    import torchio as tio  # lazy: torchio is heavy; only the model path needs it

    transform = tio.RescaleIntensity(
        out_min_max=(0, 1), percentiles=percentiles, masking_method="mask" if mask is not None else None, copy=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # torchio's "not possible" warning, turned into InputError below
        out, changed = _tio_apply(transform, array, mask)
    if not changed:  # zero range between the percentiles: torchio returned the input unchanged
        raise InputError("The image has no contrast between its 1st and 99th percentile; it cannot be rescaled.")
    return out


# --------------------------------------------------------------------------- methods


def _none(array: np.ndarray, mask: np.ndarray | None, landmarks: Any) -> np.ndarray:
    """y = x."""
    return array


def _minmax(array: np.ndarray, mask: np.ndarray | None, landmarks: Any) -> np.ndarray:
    """y = (x - min x) / (max x - min x) over the whole image (mask unused); y in [0, 1].

    torchio ``RescaleIntensity(out_min_max=(0, 1))``.
    """
    return _tio_rescale(array, None, (0.0, 100.0))


def _percentile(array: np.ndarray, mask: np.ndarray | None, landmarks: Any) -> np.ndarray:
    """y = (clip(x, p1, p99) - p1) / (p99 - p1), p1/p99 = foreground percentiles; y in [0, 1].

    torchio ``RescaleIntensity(out_min_max=(0, 1), percentiles=(1, 99), masking_method=mask)``
    (it clips the whole image to [p1, p99] of the masked voxels, then rescales).
    """
    return _tio_rescale(array, mask, (1.0, 99.0))


def _std64(values: np.ndarray, mu: float, *, chunk: int = 1 << 18) -> float:
    """Population standard deviation (ddof 0) about ``mu``, summed in float64 one chunk at a time:
    ``values.std(dtype=np.float64)`` without its float64 copy of every value (500 MB for a
    64 Mi-voxel series); equal up to the order of summation."""
    total = 0.0
    for i in range(0, values.size, chunk):
        d = values[i : i + chunk].astype(np.float64)
        d -= mu
        d *= d
        total += float(d.sum())
    return math.sqrt(total / values.size)


def _zscore(array: np.ndarray, mask: np.ndarray | None, landmarks: Any) -> np.ndarray:
    """y = (x - mu) / sigma; mu, sigma = mean and population standard deviation (ddof 0) over the foreground.

    Same map as torchio ``ZNormalization(masking_method=mask)`` on numpy arrays
    (no torch tensors or Subject wrapping), except that torchio uses ddof = 1
    (a test checks this).
    """
    mask = _need_mask(mask, "zscore")
    values = array[mask]
    _foreground_values_check(values)
    mu = float(values.mean(dtype=np.float64))
    sigma = _std64(values, mu)
    del values
    if not sigma > 0:
        raise InputError("The image is constant inside the body; it cannot be standardized.")
    out = array - np.float32(mu)
    out *= np.float32(1.0 / sigma)  # in place: one full-size copy, not two (same values)
    return out.astype(np.float32, copy=False)


def _histeq(array: np.ndarray, mask: np.ndarray | None, landmarks: Any) -> np.ndarray:
    """Histogram equalization: y = CDF_F(x), the foreground's empirical CDF; y in [0, 1].

    Own implementation: torchio has no histogram equalization (MONAI's
    ``HistogramNormalize`` is not a dependency). The CDF is taken at the centres
    c_k = lo + k h (k = 0..K, K = 4096, h = (hi - lo) / K, lo/hi = foreground min/max)
    as the mid-rank value (N(< bin) + N(bin) / 2) / N, with 0 at lo - h/2 and 1 at
    hi + h/2, and interpolated linearly in between; x < lo - h/2 gives 0 and
    x > hi + h/2 gives 1. Bins are relative to [lo, hi], so y is invariant to
    x -> a x + b (a > 0). The binned CDF stands in for an exact sort-based one.
    """
    mask = _need_mask(mask, "histeq")
    values = array[mask]
    lo, hi = _foreground_values_check(values)
    k = HISTEQ_BINS
    h = (hi - lo) / k
    idx = np.floor((values.astype(np.float64) - lo) / h + 0.5).astype(np.intp)
    np.clip(idx, 0, k, out=idx)
    counts = np.bincount(idx, minlength=k + 1).astype(np.float64)
    cdf_mid = (np.cumsum(counts) - counts / 2.0) / values.size
    # The same piecewise-linear curve sampled every h/2 (knots and midpoints), so that
    # the lookup is a uniform-grid gather rather than a search over the knots (np.interp).
    grid = np.empty(2 * k + 4)
    grid[0] = 0.0
    grid[1:2 * k + 2:2] = cdf_mid
    grid[2:2 * k + 1:2] = (cdf_mid[:-1] + cdf_mid[1:]) / 2.0
    grid[2 * k + 2] = 1.0
    grid[2 * k + 3] = 1.0
    u = (array - np.float32(lo - h / 2.0)) * np.float32(2.0 / h)  # grid position, 0 at lo - h/2
    np.clip(u, 0.0, 2 * k + 2, out=u)
    i = u.astype(np.intp)
    frac = u - i
    g = grid.astype(np.float32)
    out = g[i]
    out += frac * (g[i + 1] - out)
    return out


def _nyul(array: np.ndarray, mask: np.ndarray | None, landmarks: Any) -> np.ndarray:
    """Nyul-Udupa: y = piecewise-linear map sending the foreground percentiles
    p1, p10, ..., p90, p99 of x onto the standard landmarks s1, s10, ..., s99
    (quartiles p25/p75 are stored but unused, as in torchio); the end segments
    extrapolate below p1 and above p99. Landmarks come from :func:`fit_nyul`.

    Same map as torchio ``HistogramStandardization`` (a test checks it), written
    out on numpy arrays without torchio's copies. Segments whose image percentiles coincide (width < 1e-5, as
    in torchio, e.g. a saturated 8-bit image) get slope 0.
    """
    mask = _need_mask(mask, "nyul")
    values = array[mask]
    _foreground_values_check(values)
    used = list(NYUL_USED)
    src = np.percentile(values, np.asarray(NYUL_PERCENTILES)[used])
    dst = np.asarray(landmarks, dtype=np.float64)[used]
    dsrc = np.diff(src)
    dsrc[dsrc < 1e-5] = np.inf
    slope = np.diff(dst) / dsrc
    icpt = dst[:-1] - slope * src[:-1]
    # segment index = number of inner knots <= x (np.digitize / searchsorted 'right', 8x faster here)
    seg = np.zeros(array.shape, np.uint8)
    for knot in src[1:-1].astype(np.float32):
        seg += array >= knot
    out = slope.astype(np.float32)[seg] * array
    out += icpt.astype(np.float32)[seg]
    return out


def _n4_zscore(array: np.ndarray, mask: np.ndarray | None, landmarks: Any, *, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """N4 bias-field correction, then z-score: y = zscore_F(x' / B), x' = 1 + 999 (x - min x) / (max x - min x).

    B = exp(log bias field) estimated by SimpleITK ``N4BiasFieldCorrectionImageFilter``
    (3 fitting levels x <= 20 iterations) on the foreground of a copy shrunk to
    <= :data:`N4_SHRINK_INPLANE` px in-plane and <= :data:`N4_SHRINK_SLICES` slices (the
    field is smooth, so N4 is usually fitted on a shrunk image), evaluated at full
    resolution; a single slice is corrected in 2D on <= :data:`N4_SHRINK_INPLANE_2D` px. x' makes intensities positive for the
    multiplicative model. CPU cost (2 shared cores): about 0.3-1 s per 15-slice series of
    any in-plane size (the fit's cost follows the shrunk voxel count; at 64 px in-plane it
    was 2-4 s; the 32 px result correlates r > 0.99 with it): run it once per series, not
    per augmentation. Invariant to x -> a x + b with a > 0
    (x' removes a and b before N4; a test checks it).
    """
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    mask = _need_mask(mask, "n4_zscore")
    lo, hi = float(array.min()), float(array.max())
    pos = (1.0 + 999.0 * (array.astype(np.float32) - lo) / (hi - lo)).astype(np.float32)
    single = pos.shape[0] == 1
    img = sitk.GetImageFromArray(pos[0] if single else pos)
    msk = sitk.GetImageFromArray((mask[0] if single else mask).astype(np.uint8))
    sp = (spacing[2], spacing[1]) if single else (spacing[2], spacing[1], spacing[0])
    img.SetSpacing(sp)
    msk.SetSpacing(sp)
    inplane = max(1, math.ceil(max(pos.shape[1:]) / (N4_SHRINK_INPLANE_2D if single else N4_SHRINK_INPLANE)))
    factors = [inplane, inplane] if single else [inplane, inplane, max(1, math.ceil(pos.shape[0] / N4_SHRINK_SLICES))]
    shrink = [max(1, min(f, n)) for f, n in zip(factors, img.GetSize())]
    small, small_mask = sitk.Shrink(img, shrink), sitk.Shrink(msk, shrink)
    if sitk.GetArrayViewFromImage(small_mask).sum() == 0:
        small_mask = sitk.Cast(small > 0, sitk.sitkUInt8)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([20, 20, 20])
    try:
        corrector.Execute(small, small_mask)
        log_bias = sitk.GetArrayFromImage(corrector.GetLogBiasFieldAsImage(img)).astype(np.float32)
    except RuntimeError as exc:  # ITK refuses degenerate (e.g. 1-pixel-wide) images
        raise InputError(
            f"N4 bias-field correction cannot run on an image of shape {array.shape}; choose another normalization."
        ) from exc
    if single:
        log_bias = log_bias[None]
    corrected = pos / np.exp(log_bias)
    return _zscore(corrected, mask, None)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class NormalizationMethod:
    """One entry of :data:`NORMALIZATIONS`.

    Attributes:
        name: registry key.
        label: human-readable name for the app.
        formula: one-line formula for the app.
        needs_landmarks: True if ``landmarks`` (Nyul) must be given.
        uses_mask: True if statistics are taken over the foreground mask.
        output_range: (min, max) guaranteed for the output, or None if unbounded.
        func: (array, mask, landmarks) -> array; use :func:`normalize`, not this.
    """

    name: str
    label: str
    formula: str
    needs_landmarks: bool
    uses_mask: bool
    output_range: tuple[float, float] | None
    func: Callable[..., np.ndarray]

    def __call__(self, volume: Volume, *, mask: np.ndarray | Volume | None = None, landmarks: Any = None) -> Volume:
        return normalize(volume, self, mask=mask, landmarks=landmarks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "formula": self.formula,
            "needs_landmarks": self.needs_landmarks,
            "uses_mask": self.uses_mask,
            "output_range": list(self.output_range) if self.output_range else None,
        }


NORMALIZATIONS: dict[str, NormalizationMethod] = {
    m.name: m
    for m in (
        NormalizationMethod("none", "None (raw intensities)", "y = x", False, False, None, _none),
        NormalizationMethod(
            "minmax", "Min-max to [0, 1]", "y = (x - min x) / (max x - min x)", False, False, (0.0, 1.0), _minmax
        ),
        NormalizationMethod(
            "percentile",
            "Percentile (1st-99th) to [0, 1]",
            "y = (clip(x, p1, p99) - p1) / (p99 - p1), percentiles of the body",
            False,
            True,
            (0.0, 1.0),
            _percentile,
        ),
        NormalizationMethod(
            "zscore", "Z-score (standardization)", "y = (x - mean) / std over the body", False, True, None, _zscore
        ),
        NormalizationMethod(
            "histeq",
            "Histogram equalization",
            "y = CDF(x), the empirical distribution of body intensities",
            False,
            True,
            (0.0, 1.0),
            _histeq,
        ),
        NormalizationMethod(
            "nyul",
            "Nyul-Udupa histogram standardization",
            "piecewise-linear map of body percentiles p1, p10..p90, p99 onto landmarks learned in training",
            True,
            True,
            None,
            _nyul,
        ),
        NormalizationMethod(
            "n4_zscore",
            "N4 bias-field correction + z-score",
            "y = zscore(x / B), B = N4 bias field (SimpleITK)",
            False,
            True,
            None,
            _n4_zscore,
        ),
    )
}


# --------------------------------------------------------------------------- Nyul landmarks


def _validate_landmarks(lm: Any, where: str = "") -> np.ndarray:
    arr = np.asarray(lm, dtype=np.float64).reshape(-1)
    if arr.shape != (len(NYUL_PERCENTILES),) or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) < 0):
        raise LandmarksError(
            f"Nyul landmarks{where} must be {len(NYUL_PERCENTILES)} finite non-decreasing values "
            f"(percentiles {list(NYUL_PERCENTILES)}); got {arr.shape[0]} values."
        )
    return arr


def _select_landmarks(landmarks: Any, volume: Volume) -> np.ndarray:
    if landmarks is None:
        raise LandmarksError(
            "Nyul normalization needs landmarks learned on the training cohort (a small JSON file saved "
            "beside the model weights, read with load_landmarks); none were given. Choose another "
            "normalization or supply the landmarks."
        )
    if isinstance(landmarks, Mapping):
        seq = (volume.meta.sequence or "").upper()
        table = {str(k).upper(): v for k, v in landmarks.items()}
        if seq not in table:
            raise LandmarksError(
                f"Nyul landmarks are available for {sorted(table)} but this series' sequence is "
                f"'{volume.meta.sequence}'; set Volume.meta.sequence to 'T1' or 'T2' or pass one landmark array."
            )
        return _validate_landmarks(table[seq], f" for {seq}")
    return _validate_landmarks(landmarks)


def fit_nyul(
    volumes: Sequence[Volume | np.ndarray],
    *,
    masks: Sequence[np.ndarray | Volume | None] | None = None,
) -> np.ndarray:
    """Learn Nyul-Udupa standard landmarks from a training cohort of ONE sequence.

    For each image i with foreground percentiles P_i = (p1, p10, p20, p25, ..., p90, p99)
    (:data:`NYUL_PERCENTILES`), map P_i linearly so that [p1, p99] -> [s1, s2] = [0, 100];
    the standard landmarks are the mean over images::

        s = mean_i( s1 + (P_i - p1_i) * (s2 - s1) / (p99_i - p1_i) )

    This is exactly torchio's ``HistogramStandardization.train`` mapping; it is
    re-implemented because torchio's ``train`` reads images and masks from file
    paths, whereas the cohort here is in memory with computed masks.

    Args:
        volumes: training series of one sequence (T1 or T2), Volume or (z, y, x) arrays.
        masks: optional foreground masks, one per volume (None entries use :func:`foreground_mask`).

    Returns:
        float64 array of 13 non-decreasing landmarks on the [0, 100] scale.
    """
    if len(volumes) == 0:
        raise InputError("Nyul landmarks need at least one training image.")
    if masks is not None and len(masks) != len(volumes):
        raise ValueError(f"{len(volumes)} volumes but {len(masks)} masks")
    s1, s2 = NYUL_STANDARD_RANGE
    mapped = []
    for i, vol in enumerate(volumes):
        v = vol if isinstance(vol, Volume) else Volume(np.asarray(vol, dtype=np.float32), (1.0, 1.0, 1.0))
        _check_values(v.array)
        given = None if masks is None else masks[i]
        mask = foreground_mask(v) if given is None else _as_mask(given, v.shape)
        pct = np.percentile(v.array[mask], NYUL_PERCENTILES)
        if pct[-1] <= pct[0]:
            raise InputError(f"Training image {i} has no contrast between its 1st and 99th percentile.")
        mapped.append(s1 + (pct - pct[0]) * (s2 - s1) / (pct[-1] - pct[0]))
    return np.mean(np.vstack(mapped), axis=0)


def save_landmarks(landmarks: Mapping[str, np.ndarray], path: str | Path, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write per-sequence Nyul landmarks (e.g. ``{"T1": ..., "T2": ...}``) as the small JSON file
    shipped beside the classifier weights: a ``nyul_landmarks`` document, version 1
    (:class:`~modic_core.schema.NyulLandmarks`), written atomically. ``extra``: free notes kept
    under ``"extra"`` (e.g. ``{"fitted_on": "145 studies of ..."}``). The one writer of the file;
    :func:`load_landmarks` is its one reader."""
    record = NyulLandmarks(
        format=LANDMARKS_FORMAT, method="nyul", percentiles=[float(p) for p in NYUL_PERCENTILES],
        standard_range=[float(v) for v in NYUL_STANDARD_RANGE],
        landmarks={str(k).upper(): [float(x) for x in _validate_landmarks(v, f" for {k}")] for k, v in landmarks.items()},
        info=dict(extra) if extra else None,
    )
    return record.save(path)


def load_landmarks(path: str | Path) -> dict[str, np.ndarray]:
    """Read landmarks written by :func:`save_landmarks`: ``{"T1": array(13), "T2": array(13)}``.

    Raises :class:`LandmarksError` (one sentence naming the file) when the file cannot be read, is
    not a ``nyul_landmarks`` document of version 1 with every field (``format``, ``method``,
    ``percentiles``, ``standard_range``, ``landmarks``) of the right type, or when its format,
    method, percentiles or standard range are not this program's, or a sequence's landmarks are
    not 13 finite non-decreasing values.
    """
    path = Path(path)
    try:
        rec = NyulLandmarks.load(path)
    except OSError as exc:
        raise LandmarksError(f"The Nyul landmarks file '{path.name}' could not be read.") from exc
    except SchemaError as exc:
        reason = str(exc)
        if reason.startswith(path.name) and ": " in reason:  # the schema's finding, without its file prefix
            reason = reason.split(": ", 1)[1]
        reason = reason.split(". ")[0].rstrip(".")  # and without its advice (the sentence below gives ours)
        raise LandmarksError(
            f"The Nyul landmarks file '{path.name}' cannot be used ({reason}); use the nyul_landmarks.json "
            "shipped with the classifier weights."
        ) from None
    if rec.format != LANDMARKS_FORMAT or rec.method != "nyul":
        raise LandmarksError(f"'{path.name}' is not a Nyul landmarks file of this program.")
    if [float(p) for p in rec.percentiles] != list(NYUL_PERCENTILES):
        raise LandmarksError(f"'{path.name}' uses other landmark percentiles than this program.")
    if [float(v) for v in rec.standard_range] != list(NYUL_STANDARD_RANGE):
        raise LandmarksError(f"'{path.name}' uses another standard intensity range than this program.")
    return {str(k).upper(): _validate_landmarks(v, f" for {k}") for k, v in rec.landmarks.items()}


# --------------------------------------------------------------------------- entry point


def normalize(
    volume: Volume,
    method: str | NormalizationMethod,
    *,
    mask: np.ndarray | Volume | None = None,
    landmarks: np.ndarray | Mapping[str, np.ndarray] | None = None,
) -> Volume:
    """Normalize one series' intensities; returns a float32 Volume with the same geometry.

    Args:
        volume: one series (T1 or T2); normalize the two separately.
        method: a key of :data:`NORMALIZATIONS` or one of its values.
        mask: foreground (body) mask, bool (z, y, x) or (y, x) for a single slice, or a
            Volume; default :func:`foreground_mask`. Unused by none/minmax.
        landmarks: for ``nyul`` only: a 13-value array from :func:`fit_nyul`, or a
            mapping ``{"T1": ..., "T2": ...}`` (selected by ``volume.meta.sequence``).

    Raises:
        InputError: empty, non-finite or constant image, empty or constant foreground.
        LandmarksError: ``nyul`` without usable landmarks (an InputError).
        ValueError: unknown method or mask of the wrong shape.
    """
    if isinstance(method, str):
        if method not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization '{method}'; choose one of {list(NORMALIZATIONS)}")
        method = NORMALIZATIONS[method]
    array = volume.array
    _check_values(array)
    if method.name == "none":
        return volume
    lm = _select_landmarks(landmarks, volume) if method.needs_landmarks else None
    m = None
    if method.uses_mask:
        m = foreground_mask(volume) if mask is None else _as_mask(mask, volume.shape)
    if method.func is _n4_zscore:
        out = _n4_zscore(array, m, lm, spacing=volume.spacing)
    else:
        out = method.func(array, m, lm)
    return volume.with_array(np.asarray(out, dtype=np.float32))
