"""Scanner- and export-like intensity changes of one raw MRI series (robustness checks, training augmentation).

Each function maps a raw (not yet normalized) array (z, y, x) to a float32 array of the same
shape and never changes geometry; apply it to T1 and T2 separately, *before* the normalization:

=====================  =========================================================================
:func:`window_export`  8-bit windowed export: window [min x, w_hi] with w_hi chosen so that a share
                       ``saturation`` of body voxels lies at or above it, clipped and scaled to
                       0-255 (rounded unless ``quantize=False``); what a PACS "export as image" does
:func:`rescale`        y = gain * x + offset (monotone affine; e.g. 8-bit -> 12-bit with gain 16)
:func:`bias_field`     y = x * exp(P(z, y, x)), P a polynomial of degree <= ``order`` with
                       coefficients uniform in [-c, c] on coordinates in [-1, 1] (torchio
                       ``RandomBiasField``-like)
:func:`rician_noise`   y = sqrt((x + n1)^2 + n2^2), n1, n2 ~ N(0, sigma), sigma = ``share`` x the
                       mean body intensity (``rician=False``: y = x + n1)
:func:`gamma`          y = lo + (hi - lo) ((x - lo) / (hi - lo))^gamma, lo/hi = image min/max
=====================  =========================================================================

:func:`random_intensity_shift` draws a seeded combination of these and :func:`shifted_normalized`
normalizes the result (training augmentation, ``ClassifierTrainingConfig.intensity_aug``).
"Body" is :func:`~modic_core.normalization.methods.foreground_mask` unless a mask is given.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modic_core.normalization.methods import foreground_mask
from modic_core.volume import Volume
from modic_core.normalization.methods import normalize

__all__ = [
    "IntensityShiftConfig",
    "bias_field",
    "gamma",
    "random_intensity_shift",
    "rescale",
    "rician_noise",
    "saturated_share",
    "shifted_normalized",
    "window_export",
]


def _as3d(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"expected a (z, y, x) or (y, x) array, got shape {a.shape}")
    return a


def _body(a: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    m = foreground_mask(a) if mask is None else np.asarray(mask, bool).reshape(a.shape)
    return m if m.any() else np.ones(a.shape, bool)


def saturated_share(array: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Share of body voxels at the image's maximum value (0-1)."""
    a = _as3d(array)
    return float(np.mean(a[_body(a, mask)] >= a.max()))


def window_export(array: np.ndarray, *, saturation: float, mask: np.ndarray | None = None, quantize: bool = True) -> np.ndarray:
    """8-bit windowed export of ``array``: y = 255 clip((x - lo) / (w_hi - lo), 0, 1), rounded if ``quantize``.

    lo = the image minimum; w_hi = the (1 - ``saturation``) quantile of body intensities, so that
    about ``saturation`` (0-0.5) of body voxels end at 255 (more when many body voxels share the
    quantile's value, e.g. an input that is already a saturated 8-bit export; 0 keeps the maximum).
    """
    if not 0.0 <= saturation <= 0.5:
        raise ValueError(f"saturation must lie in [0, 0.5]; got {saturation}")
    a = _as3d(array)
    lo = float(a.min())
    hi = float(a.max()) if saturation == 0 else float(np.quantile(a[_body(a, mask)], 1.0 - saturation))
    if hi <= lo:
        hi = float(a.max())
    y = np.clip((a - np.float32(lo)) * np.float32(255.0 / max(hi - lo, 1e-12)), 0.0, 255.0)
    return np.round(y).astype(np.float32) if quantize else y.astype(np.float32)


def rescale(array: np.ndarray, *, gain: float = 16.0, offset: float = 0.0, round_values: bool = True) -> np.ndarray:
    """y = gain * x + offset (gain > 0: monotone), rounded to integers if ``round_values`` (a stored bit depth)."""
    if not gain > 0:
        raise ValueError(f"gain must be positive; got {gain}")
    y = _as3d(array) * np.float32(gain) + np.float32(offset)
    return np.round(y).astype(np.float32) if round_values else y.astype(np.float32)


def _coords(n: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n, dtype=np.float32) if n > 1 else np.zeros(1, np.float32)


def bias_field(array: np.ndarray, *, coefficient: float, rng: np.random.Generator, order: int = 3) -> np.ndarray:
    """y = x * exp(sum_{i+j+k <= order} c_ijk Z^i Y^j X^k), c_ijk ~ U(-coefficient, coefficient).

    Z, Y, X run over [-1, 1] along each axis (a single slice sits at Z = 0), as torchio's
    ``RandomBiasField(coefficients=coefficient, order=order)``; the constant term is left out
    (it is a global gain, see :func:`rescale`), so the field is 1 at the volume's centre.
    """
    if coefficient < 0 or order < 1:
        raise ValueError(f"coefficient must be >= 0 and order >= 1; got {coefficient}, {order}")
    a = _as3d(array)
    z, y, x = (_coords(n) for n in a.shape)
    log = np.zeros(a.shape, np.float32)
    for i in range(order + 1):
        for j in range(order + 1 - i):
            for k in range(order + 1 - i - j):
                if i + j + k == 0:
                    continue
                c = np.float32(rng.uniform(-coefficient, coefficient))
                log += c * (z[:, None, None] ** i) * (y[None, :, None] ** j) * (x[None, None, :] ** k)
    return (a * np.exp(log)).astype(np.float32)


def rician_noise(array: np.ndarray, *, share: float, rng: np.random.Generator, mask: np.ndarray | None = None,
                 rician: bool = True) -> np.ndarray:
    """Noise of sigma = ``share`` x mean body intensity: Rician magnitude (default) or additive Gaussian."""
    if share < 0:
        raise ValueError(f"share must be >= 0; got {share}")
    a = _as3d(array)
    sigma = np.float32(share * float(np.mean(a[_body(a, mask)])))
    n1 = rng.standard_normal(a.shape, dtype=np.float32) * sigma
    if not rician:
        return (a + n1).astype(np.float32)
    n2 = rng.standard_normal(a.shape, dtype=np.float32) * sigma
    return np.sqrt((a + n1) ** 2 + n2**2).astype(np.float32)


def gamma(array: np.ndarray, *, value: float) -> np.ndarray:
    """y = lo + (hi - lo) u^value, u = (x - lo) / (hi - lo): a monotone, range-keeping contrast change."""
    if not value > 0:
        raise ValueError(f"gamma must be positive; got {value}")
    a = _as3d(array)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return a.copy()
    u = (a - np.float32(lo)) / np.float32(hi - lo)
    return (np.float32(lo) + np.float32(hi - lo) * u ** np.float32(value)).astype(np.float32)


@dataclass(frozen=True)
class IntensityShiftConfig:
    """Ranges of :func:`random_intensity_shift`; each step is applied with probability ``p_step``.

    ``saturation``: window export with a saturated body share uniform in [0, max]; of those exports
    ``p_quantize`` are rounded to 8 bits. ``gain``: log-uniform range of a global gain (with an
    offset up to ``max_offset`` x the image maximum). ``bias``: coefficient uniform in [0, max].
    ``noise``: share of the mean body intensity, uniform in [0, max]. ``gamma``: log-uniform range.
    """

    p_step: float = 0.5
    saturation: tuple[float, float] = (0.0, 0.2)
    p_quantize: float = 0.5
    gain: tuple[float, float] = (0.25, 16.0)
    max_offset: float = 0.05
    bias: tuple[float, float] = (0.0, 0.5)
    noise: tuple[float, float] = (0.0, 0.05)
    gamma: tuple[float, float] = (0.7, 1.4)


def random_intensity_shift(array: np.ndarray, rng: np.random.Generator, *, config: IntensityShiftConfig | None = None,
                           mask: np.ndarray | None = None) -> np.ndarray:
    """One random scanner/export change of a raw series, steps in acquisition order:
    bias field -> noise -> gamma -> global gain/offset -> 8-bit window export (each with ``p_step``)."""
    cfg = config or IntensityShiftConfig()
    a = _as3d(array)
    m = _body(a, mask)
    if rng.random() < cfg.p_step:
        a = bias_field(a, coefficient=float(rng.uniform(*cfg.bias)), rng=rng)
    if rng.random() < cfg.p_step:
        a = rician_noise(a, share=float(rng.uniform(*cfg.noise)), rng=rng, mask=m)
    if rng.random() < cfg.p_step:
        a = gamma(a, value=float(np.exp(rng.uniform(*np.log(cfg.gamma)))))
    if rng.random() < cfg.p_step:
        g = float(np.exp(rng.uniform(*np.log(cfg.gain))))
        a = rescale(a, gain=g, offset=float(rng.uniform(0, cfg.max_offset)) * g * float(a.max()), round_values=False)
    if rng.random() < cfg.p_step:
        a = window_export(a, saturation=float(rng.uniform(*cfg.saturation)), mask=m, quantize=rng.random() < cfg.p_quantize)
    return a.astype(np.float32, copy=False)


def shifted_normalized(volume: Volume, method: str, rng: np.random.Generator, *, landmarks=None,
                       config: IntensityShiftConfig | None = None) -> np.ndarray:
    """``normalize(random_intensity_shift(volume))``: the normalized float32 array (z, y, x) of a randomly
    changed copy of the raw series (training augmentation applied *before* the normalization)."""
    changed = volume.with_array(random_intensity_shift(volume.array, rng, config=config))
    return normalize(changed, method, landmarks=landmarks).array
