"""Seeded property tests of modic_core.normalization.intensity_shift (scanner/export-like intensity changes)."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.datasets.synthetic import make_phantom
from modic_core.normalization import intensity_shift as shift
from modic_core.normalization.methods import foreground_mask, normalize


@pytest.fixture(scope="module")
def raw() -> np.ndarray:
    """A 12-bit-like phantom slab (3, 96, 96), continuous values, nothing saturated."""
    ph = make_phantom(seed=4, shape=(3, 96, 96), spacing=(4.0, 2.0, 2.0))
    a = ph.t1.array
    return (a - a.min()) * (4095.0 / (a.max() - a.min()))


class TestWindowExport:
    @pytest.mark.parametrize("saturation", [0.05, 0.10, 0.20])
    def test_saturated_body_share_within_tolerance(self, raw, saturation):
        mask = foreground_mask(raw)
        y = shift.window_export(raw, saturation=saturation, mask=mask)
        assert abs(float(np.mean(y[mask] >= 255)) - saturation) < 0.01
        assert abs(shift.saturated_share(y, mask) - saturation) < 0.01

    def test_eight_bit_integers_and_monotone(self, raw):
        y = shift.window_export(raw, saturation=0.1)
        assert y.min() == 0 and y.max() == 255 and np.array_equal(y, np.round(y))
        order = np.argsort(raw.ravel(), kind="stable")
        assert np.all(np.diff(y.ravel()[order]) >= 0)  # never reverses two intensities

    def test_no_saturation_keeps_the_maximum_alone(self, raw):
        y = shift.window_export(raw, saturation=0.0, quantize=False)
        assert np.count_nonzero(y == 255) == np.count_nonzero(raw == raw.max())
        np.testing.assert_allclose(y, (raw - raw.min()) * 255 / (raw.max() - raw.min()), rtol=1e-5, atol=1e-3)

    def test_bad_saturation_is_refused(self, raw):
        with pytest.raises(ValueError, match="saturation"):
            shift.window_export(raw, saturation=0.7)


class TestRescaleAndGamma:
    def test_rescale_is_the_affine_map_rounded(self, raw):
        y = shift.rescale(raw, gain=16.0, offset=8.0)
        np.testing.assert_array_equal(y, np.round(raw.astype(np.float32) * 16 + 8))
        with pytest.raises(ValueError, match="gain"):
            shift.rescale(raw, gain=0.0)

    @pytest.mark.parametrize("g", [0.7, 1.4])
    def test_gamma_is_monotone_and_keeps_the_range(self, raw, g):
        y = shift.gamma(raw, value=g)
        assert y.min() == pytest.approx(raw.min(), abs=1e-3) and y.max() == pytest.approx(raw.max(), rel=1e-5)
        order = np.argsort(raw.ravel(), kind="stable")
        assert np.all(np.diff(y.ravel()[order]) >= -1e-3)

    def test_affine_invariant_methods_ignore_the_rescale(self, raw):
        from modic_core.volume import Volume

        v = Volume(raw.astype(np.float32), (4.0, 2.0, 2.0))
        for m in ("zscore", "histeq"):
            a = normalize(v, m).array
            b = normalize(v.with_array(shift.rescale(raw, gain=16.0, offset=8.0, round_values=False)), m).array
            np.testing.assert_allclose(a, b, atol=2e-3)


class TestBiasField:
    def test_seeded_smooth_positive_and_one_at_the_centre(self, raw):
        y1 = shift.bias_field(raw, coefficient=0.5, rng=np.random.default_rng(0))
        y2 = shift.bias_field(raw, coefficient=0.5, rng=np.random.default_rng(0))
        np.testing.assert_array_equal(y1, y2)
        inside = raw > 100
        field = y1[inside] / raw[inside]
        assert field.min() > 0 and not np.allclose(field, 1.0)
        ones = np.ones((3, 97, 97), np.float32)
        f = shift.bias_field(ones, coefficient=0.5, rng=np.random.default_rng(1))
        assert f[1, 48, 48] == pytest.approx(1.0)
        assert np.abs(np.diff(np.log(f), axis=2)).max() < 0.2  # smooth: < 20 % change between neighbours
        assert np.exp(-19 * 0.5) <= f.min() and f.max() <= np.exp(19 * 0.5)  # 19 non-constant terms of order <= 3

    def test_zero_coefficient_is_the_identity(self, raw):
        np.testing.assert_allclose(shift.bias_field(raw, coefficient=0.0, rng=np.random.default_rng(0)), raw, rtol=1e-6)


class TestNoise:
    @pytest.mark.parametrize("share", [0.02, 0.05])
    def test_sigma_is_the_share_of_mean_body_intensity(self, share):
        flat = np.full((1, 200, 200), 1000.0, np.float32)
        mask = np.ones(flat.shape, bool)
        y = shift.rician_noise(flat, share=share, rng=np.random.default_rng(3), mask=mask)
        assert np.std(y - flat) == pytest.approx(share * 1000.0, rel=0.05)  # Rician ~ Gaussian at high SNR
        g = shift.rician_noise(flat, share=share, rng=np.random.default_rng(3), mask=mask, rician=False)
        assert np.std(g - flat) == pytest.approx(share * 1000.0, rel=0.05)

    def test_rician_is_non_negative_and_seeded(self, raw):
        a = shift.rician_noise(raw, share=0.05, rng=np.random.default_rng(9))
        assert a.min() >= 0 and np.array_equal(a, shift.rician_noise(raw, share=0.05, rng=np.random.default_rng(9)))


class TestRandomShift:
    def test_seeded_finite_and_varied(self, raw):
        outs = [shift.random_intensity_shift(raw, np.random.default_rng(s)) for s in range(8)]
        again = shift.random_intensity_shift(raw, np.random.default_rng(0))
        np.testing.assert_array_equal(outs[0], again)
        assert all(o.shape == (3, 96, 96) and np.isfinite(o).all() for o in outs)
        assert len({round(float(o.max()), 2) for o in outs}) > 3

    def test_every_step_always_on_still_normalizes(self, raw):
        from modic_core.volume import Volume, VolumeMeta

        cfg = shift.IntensityShiftConfig(p_step=1.0, p_quantize=1.0)
        v = Volume(raw.astype(np.float32), (4.0, 2.0, 2.0), meta=VolumeMeta(sequence="T1"))
        y = shift.shifted_normalized(v, "zscore", np.random.default_rng(5), config=cfg)
        assert y.shape == raw.shape and np.isfinite(y).all()
        assert len(np.unique(y)) <= 256  # an 8-bit export, then z-scored
