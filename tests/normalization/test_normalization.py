"""Property tests of modic_core.normalization.methods on real spider2d slices and seeded phantoms."""
from __future__ import annotations

import json

import numpy as np
import pytest

from modic_core.errors import InputError
from modic_core.normalization.methods import (
    NORMALIZATIONS,
    NYUL_PERCENTILES,
    NYUL_USED,
    LandmarksError,
    fit_nyul,
    foreground_mask,
    load_landmarks,
    normalize,
    save_landmarks,
)
from modic_core.volume import Volume, VolumeMeta

from tests.normalization.helpers import dicom_volume, phantom, phantom_body, spider_slices

SPIDER = spider_slices()
PHANTOMS = {
    "phantom2d": phantom((1, 96, 128), seed=1),
    "phantom2d_8bit": phantom((1, 120, 100), seed=2, eight_bit=True),
    "phantom3d": phantom((6, 64, 80), seed=3, bias=0.6),
}
CASES = {**SPIDER, **PHANTOMS}
NON_N4 = [m for m in NORMALIZATIONS if m != "n4_zscore"]
AFFINE_INVARIANT = ["minmax", "percentile", "zscore", "histeq", "nyul", "n4_zscore"]
USED_PCT = np.asarray(NYUL_PERCENTILES)[list(NYUL_USED)]


@pytest.fixture(scope="module")
def landmarks() -> dict[str, np.ndarray]:
    """Per-sequence landmarks learned on the real slices (T1 and T2 separately)."""
    return {seq: fit_nyul([v for k, v in SPIDER.items() if k.endswith(seq)]) for seq in ("T1", "T2")}


def _lm_for(name: str, landmarks: dict[str, np.ndarray]) -> np.ndarray:
    return landmarks[CASES[name].meta.sequence]


# ----------------------------------------------------------------------------- registry


def test_registry_entries_are_complete_and_ordered():
    assert list(NORMALIZATIONS) == ["none", "minmax", "percentile", "zscore", "histeq", "nyul", "n4_zscore"]
    for key, m in NORMALIZATIONS.items():
        assert m.name == key and m.label and m.formula and "\n" not in m.formula
        assert m.needs_landmarks == (key == "nyul")
        assert (m.func.__doc__ or "").strip(), f"{key} has no docstring with its formula"
        json.dumps(m.to_dict())


# ----------------------------------------------------------------------------- foreground mask


@pytest.mark.parametrize("name", sorted(SPIDER))
def test_mask_on_real_slices_is_body_not_padding(name):
    v = SPIDER[name]
    m = foreground_mask(v)
    assert m.shape == v.shape and m.dtype == bool
    assert 0.3 < m.mean() < 0.95
    # the exports' zero padding / air (zero-valued regions touching the image border) is outside it;
    # zeros inside the body (8-bit clipped cortical bone, bowel gas) may be inside
    from scipy import ndimage as ndi

    labels, _ = ndi.label(v.array[0] == 0)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    padding = np.isin(labels, edge[edge > 0])
    if padding.sum() > 1000:
        assert np.mean(m[0][padding]) < 0.02
    assert np.mean(v.array[m] == 0) < 0.03


@pytest.mark.parametrize("name", sorted(PHANTOMS))
def test_mask_on_phantoms_matches_the_body(name):
    v = PHANTOMS[name]
    m, truth = foreground_mask(v), phantom_body(v.shape)
    dice = 2 * (m & truth).sum() / (m.sum() + truth.sum())
    assert dice > 0.95


def test_mask_on_real_3d_series():
    v = dicom_volume()
    m = foreground_mask(v)
    assert m.shape == v.shape and 0.2 < m.mean() < 0.95
    z = normalize(v, "zscore").array[m].astype(np.float64)
    assert abs(z.mean()) < 1e-4 and abs(z.std() - 1) < 1e-4


# ----------------------------------------------------------------------------- per-method properties


@pytest.mark.parametrize("name", sorted(CASES))
def test_zscore_has_mean_0_std_1_on_the_mask(name):
    v = CASES[name]
    m = foreground_mask(v)
    for mask in (None, m):
        y = normalize(v, "zscore", mask=mask).array[m].astype(np.float64)
        assert abs(y.mean()) < 1e-5
        assert abs(y.std() - 1.0) < 1e-5


def test_zscore_with_a_given_mask_uses_that_mask():
    v = PHANTOMS["phantom2d"]
    half = np.zeros(v.shape, bool)
    half[:, :, : v.shape[2] // 2] = True
    y = normalize(v, "zscore", mask=half[0]).array  # a (y, x) mask for a single slice is accepted
    assert abs(y[half].mean()) < 1e-5 and abs(y[half].std() - 1) < 1e-5
    assert abs(y[~half].mean()) > 1e-2


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("method", ["minmax", "percentile", "histeq"])
def test_bounded_methods_land_in_0_1(name, method):
    y = normalize(CASES[name], method).array
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert y.max() - y.min() > 0.5


@pytest.mark.parametrize("name", sorted(CASES))
def test_minmax_and_percentile_endpoints(name):
    v = CASES[name]
    y = normalize(v, "minmax").array
    assert y.min() == pytest.approx(0.0, abs=1e-6) and y.max() == pytest.approx(1.0, abs=1e-6)
    m = foreground_mask(v)
    p = normalize(v, "percentile").array[m]
    # at least ~1 % of the foreground is clipped to each end
    assert np.mean(p <= 1e-6) >= 0.009 and np.mean(p >= 1 - 1e-6) >= 0.009


def test_histeq_flattens_the_foreground_histogram():
    v = PHANTOMS["phantom3d"]  # continuous values: no ties
    m = foreground_mask(v)
    y = normalize(v, "histeq").array[m]
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert np.mean(y <= q) == pytest.approx(q, abs=0.01)


def test_histeq_is_monotone():
    v = SPIDER["85/T2"]
    x, y = v.array.ravel(), normalize(v, "histeq").array.ravel()
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(y[order]) >= -1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_none_returns_the_input_unchanged(name):
    v = CASES[name]
    before = v.array.copy()
    out = normalize(v, "none")
    assert out is v
    np.testing.assert_array_equal(out.array, before)


@pytest.mark.parametrize("method", list(NORMALIZATIONS))
def test_output_is_float32_with_same_geometry(method, landmarks):
    v = Volume(
        SPIDER["137/T1"].array,
        (3.5, 0.7, 0.6),
        origin=(1.0, -2.0, 3.0),
        direction=np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float),
        meta=VolumeMeta(sequence="T1"),
    )
    out = normalize(v, method, landmarks=landmarks)
    assert out.array.dtype == np.float32 and out.shape == v.shape
    assert out.spacing == v.spacing and out.origin == v.origin
    np.testing.assert_array_equal(out.direction, v.direction)
    assert out.meta == v.meta and np.isfinite(out.array).all()


# ----------------------------------------------------------------------------- affine invariance


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("method", AFFINE_INVARIANT)
@pytest.mark.parametrize("a,b", [(0.37, -40.0), (12.5, 1000.0)])
def test_affine_invariance(name, method, a, b, landmarks):
    v = CASES[name]
    w = v.with_array(v.array.astype(np.float64) * a + b)
    lm = _lm_for(name, landmarks)
    y0 = normalize(v, method, landmarks=lm).array
    y1 = normalize(w, method, landmarks=lm).array
    tol = 0.05 if method == "nyul" else 1e-4  # nyul is on a 0-100 scale
    np.testing.assert_allclose(y1, y0, atol=tol, rtol=0)


def test_mask_rule_is_affine_invariant():
    for v in list(SPIDER.values())[:2] + [PHANTOMS["phantom3d"]]:
        w = v.with_array(v.array * 7.3 - 55.0)
        assert np.mean(foreground_mask(v) != foreground_mask(w)) < 1e-3


def test_a_negative_scale_changes_the_output():
    """The invariance above is for a > 0 only: flipping the contrast must change every method's output."""
    v = PHANTOMS["phantom2d"]
    for method in ("minmax", "zscore", "histeq", "n4_zscore"):
        y0 = normalize(v, method).array
        y1 = normalize(v.with_array(-v.array), method, mask=foreground_mask(v)).array
        assert np.abs(y1 - y0).max() > 0.5, method


@pytest.mark.parametrize("method", [m for m in NORMALIZATIONS])
@pytest.mark.parametrize("bad", [3e38, -3e38, 2e7])
def test_non_physical_intensities_are_refused(method, bad, landmarks):
    """Two finite pixels at +-3e38 used to flip z-score grades and overflow min-max (FloatingPointError)."""
    v = SPIDER[sorted(SPIDER)[0]]
    arr = v.array.copy()
    arr.flat[0] = bad
    arr.flat[-1] = -bad
    w = v.with_array(arr)
    with np.errstate(all="raise"), pytest.raises(InputError, match="no MRI scanner produces"):
        normalize(w, method, landmarks=landmarks[v.meta.sequence])


def test_masked_methods_refuse_a_missing_mask_with_a_real_error():
    """A runtime check, not an assert (asserts vanish under python -O)."""
    v = PHANTOMS["phantom2d"]
    for method in ("zscore", "histeq", "nyul", "n4_zscore"):
        with pytest.raises(ValueError, match="needs a foreground mask"):
            NORMALIZATIONS[method].func(v.array, None, None)


# ----------------------------------------------------------------------------- Nyul


@pytest.mark.parametrize("seq", ["T1", "T2"])
def test_nyul_maps_training_landmarks_onto_the_standard_scale(seq, landmarks):
    lm = landmarks[seq]
    assert lm[0] == pytest.approx(0.0) and lm[-1] == pytest.approx(100.0)
    # non-decreasing; the 8-bit exports saturate ~12 % of body voxels at 255, so p90 == p99 there
    assert np.all(np.diff(lm) >= 0)
    for key, v in SPIDER.items():
        if not key.endswith(seq):
            continue
        m = foreground_mask(v)
        y = normalize(v, "nyul", landmarks=landmarks).array  # dict: picked by meta.sequence
        got = np.percentile(y[m], USED_PCT)
        # 8-bit ties: a percentile between two grey levels is interpolated across the knee
        np.testing.assert_allclose(got, lm[list(NYUL_USED)], atol=0.25)


def test_nyul_on_a_continuous_phantom_is_exact_at_the_landmarks():
    train = [phantom((2, 80, 96), seed=s, bias=0.3 * s) for s in range(3)]
    lm = fit_nyul(train)
    for v in train + [phantom((2, 80, 96), seed=9, noise=20)]:
        m = foreground_mask(v)
        got = np.percentile(normalize(v, "nyul", landmarks=lm).array[m], USED_PCT)
        np.testing.assert_allclose(got, lm[list(NYUL_USED)], atol=0.02)


def test_nyul_fit_equals_torchio_train(tmp_path):
    import SimpleITK as sitk
    import torchio as tio

    vols = [phantom((3, 40, 48), seed=s, bias=0.2 * s) for s in range(3)]
    paths = []
    for i, v in enumerate(vols):
        p = tmp_path / f"v{i}.nii.gz"
        sitk.WriteImage(v.to_sitk(), str(p))
        paths.append(p)
    thr = 50.0
    ref = tio.HistogramStandardization.train(paths, masking_function=lambda t: t > thr, progress=False)
    ours = fit_nyul(vols, masks=[v.array > thr for v in vols])
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


def test_nyul_apply_equals_torchio(landmarks):
    import torch
    import torchio as tio

    v = SPIDER["160/T2"]
    m = foreground_mask(v)
    lm = landmarks["T2"]
    ours = normalize(v, "nyul", landmarks=lm, mask=m).array
    subject = tio.Subject(
        img=tio.ScalarImage(tensor=torch.from_numpy(v.array[None].copy()), affine=np.eye(4)),
        mask=tio.LabelMap(tensor=torch.from_numpy(m[None]), affine=np.eye(4)),
    )
    ref = tio.HistogramStandardization({"img": lm}, masking_method="mask")(subject)["img"].data.numpy()[0]
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_zscore_equals_torchio_up_to_ddof():
    import torch
    import torchio as tio

    v = SPIDER["85/T1"]
    m = foreground_mask(v)
    ours = normalize(v, "zscore", mask=m).array
    subject = tio.Subject(
        img=tio.ScalarImage(tensor=torch.from_numpy(v.array[None].copy()), affine=np.eye(4)),
        mask=tio.LabelMap(tensor=torch.from_numpy(m[None]), affine=np.eye(4)),
    )
    ref = tio.ZNormalization(masking_method="mask")(subject)["img"].data.numpy()[0]
    n = m.sum()
    np.testing.assert_allclose(ours * np.sqrt((n - 1) / n), ref, atol=1e-4)


def test_nyul_without_landmarks_raises_a_clear_error():
    with pytest.raises(LandmarksError, match="landmarks"):
        normalize(SPIDER["85/T1"], "nyul")
    assert issubclass(LandmarksError, InputError)


def test_nyul_landmark_selection_by_sequence(landmarks):
    v = SPIDER["85/T1"]
    by_dict = normalize(v, "nyul", landmarks=landmarks).array
    by_array = normalize(v, "nyul", landmarks=landmarks["T1"]).array
    np.testing.assert_array_equal(by_dict, by_array)
    unknown = v.with_array(v.array, sequence="unknown")
    with pytest.raises(LandmarksError, match="sequence"):
        normalize(unknown, "nyul", landmarks=landmarks)
    with pytest.raises(LandmarksError):
        normalize(v, "nyul", landmarks=np.arange(5.0))


def test_landmarks_json_roundtrip(tmp_path, landmarks):
    path = save_landmarks(landmarks, tmp_path / "nyul_landmarks.json")
    assert path.stat().st_size < 4096
    back = load_landmarks(path)
    assert set(back) == {"T1", "T2"}
    for k in back:
        np.testing.assert_allclose(back[k], landmarks[k])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LandmarksError):
        load_landmarks(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(LandmarksError):
        load_landmarks(tmp_path / "other.json")


# ----------------------------------------------------------------------------- N4


def test_n4_zscore_removes_a_multiplicative_bias():
    v = phantom((1, 128, 128), seed=5, bias=1.2, noise=3.0)
    body = phantom_body(v.shape)
    # plain tissue region: inside the body, away from canal and discs
    yy, xx = np.mgrid[0:128, 0:128] / 128.0
    region = body & (np.abs(xx - 0.5) > 0.2)[None]
    cov = lambda y: np.std(y[region]) / abs(np.mean(y[region]) - np.min(y))  # noqa: E731
    plain = normalize(v, "zscore").array
    n4 = normalize(v, "n4_zscore").array
    assert cov(n4) < 0.6 * cov(plain)
    m = foreground_mask(v)
    assert abs(n4[m].mean()) < 1e-4 and abs(n4[m].std() - 1) < 1e-4


def test_n4_zscore_runs_on_real_slice_and_small_3d():
    for v in (SPIDER["137/T2"], phantom((3, 48, 40), seed=7, bias=0.5)):
        y = normalize(v, "n4_zscore").array
        assert y.shape == v.shape and np.isfinite(y).all()


# ----------------------------------------------------------------------------- bad inputs


def _bad_volumes():
    return {
        "constant": Volume(np.full((1, 32, 32), 7.0), (1.0, 1.0, 1.0)),
        "all_zero": Volume(np.zeros((3, 16, 16)), (1.0, 1.0, 1.0)),
        "empty": Volume(np.zeros((0, 16, 16)), (1.0, 1.0, 1.0)),
        "nan": Volume(np.where(np.eye(16) > 0, np.nan, 1.0)[None], (1.0, 1.0, 1.0)),
    }


@pytest.mark.parametrize("method", list(NORMALIZATIONS))
@pytest.mark.parametrize("kind", ["constant", "all_zero", "empty", "nan"])
def test_constant_or_empty_images_raise_input_error(method, kind, landmarks):
    with pytest.raises(InputError):
        normalize(_bad_volumes()[kind], method, landmarks=landmarks["T1"])


@pytest.mark.parametrize("method", ["percentile", "zscore", "histeq", "nyul", "n4_zscore"])
def test_empty_or_constant_foreground_raises_input_error(method, landmarks):
    v = PHANTOMS["phantom2d"]
    with pytest.raises(InputError):
        normalize(v, method, mask=np.zeros(v.shape, bool), landmarks=landmarks["T2"])
    two_level = Volume(np.where(phantom_body(v.shape), 100.0, 0.0), v.spacing)
    if method != "n4_zscore":  # N4 divides by a smooth field: the foreground is no longer constant
        with pytest.raises(InputError):
            normalize(two_level, method, mask=phantom_body(v.shape), landmarks=landmarks["T2"])


def test_unknown_method_and_bad_mask_shape():
    v = PHANTOMS["phantom2d"]
    with pytest.raises(ValueError, match="unknown normalization"):
        normalize(v, "whiten")
    with pytest.raises(ValueError, match="shape"):
        normalize(v, "zscore", mask=np.ones((5, 5), bool))


def test_registry_entries_are_callable():
    v = PHANTOMS["phantom2d"]
    np.testing.assert_array_equal(NORMALIZATIONS["zscore"](v).array, normalize(v, "zscore").array)


def test_benchmark_flags_methods_over_the_limit(monkeypatch):
    from modic_core.bench import normalization as bench

    monkeypatch.setattr(bench, "LIMIT_S", 0.0)
    res = bench.run_benchmark(shape=(1, 32, 32), repeats=1, methods=["zscore"])
    assert res["methods"]["zscore"]["within_limit"] is False and res["all_within_limit"] is False


def test_benchmark_smoke():
    from modic_core.bench.normalization import format_table, run_benchmark

    res = run_benchmark(shape=(2, 48, 64), repeats=3, n4_repeats=1)
    assert set(res["methods"]) == {"_foreground_mask", *NORMALIZATIONS}
    for name, r in res["methods"].items():
        assert r["runs"] == (1 if r["exempt"] else 3), name
        assert r["min_s"] <= r["median_s"] <= r["max_s"], name
        assert r["within_limit"] == (r["exempt"] or r["median_s"] < res["limit_s"]), name
    assert res["exempt"] == ["n4_zscore"] and res["methods"]["n4_zscore"]["exempt"]
    assert res["all_within_limit"] == all(r["within_limit"] for r in res["methods"].values() if not r["exempt"])
    json.dumps(res)
    assert "nyul" in format_table(res)
