"""Pairs whose T1 and T2 grids differ: T2 is resampled onto the T1 grid by physical coordinates."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import ndimage

from modic_core import load_study
from modic_core.io import load_series

from .conftest import DICOM_DIR, SPIDER_DIR, normal_of, fixture_datasets, write_t2_series


@pytest.fixture(scope="module")
def spider_study():
    return load_study(SPIDER_DIR / "t1.mha", SPIDER_DIR / "t2.mha", study_id="12")


def physical_to_index(volume, xyz: np.ndarray) -> np.ndarray:
    """LPS mm (N, 3) -> continuous (z, y, x) indices of ``volume``."""
    ijk = (np.asarray(xyz) - np.asarray(volume.origin)) @ volume.direction / np.asarray(volume.spacing[::-1])
    return ijk[:, ::-1]


def test_spider_pair_grids_differ_and_t2_lands_on_t1_grid(spider_study):
    s = spider_study
    assert s.t1.shape == (1, 320, 320) and s.t2_native.shape == (1, 384, 384)
    assert s.t1.spacing[1:] == pytest.approx((0.875, 0.875))
    assert s.t2_native.spacing[1:] == pytest.approx((0.72916669, 0.72916669))
    assert s.t2.shape == s.t1.shape
    assert s.t2.spacing == s.t1.spacing and s.t2.origin == s.t1.origin
    assert np.allclose(s.t2.direction, s.t1.direction)
    assert s.t2.meta.sequence == "T2" and s.t1.meta.sequence == "T1"
    assert s.sources == {"t1": "t1.mha", "t2": "t2.mha"} and s.study_id == "12"




def test_resampled_t2_equals_independent_physical_interpolation(spider_study):
    s = spider_study
    yy, xx = np.mgrid[8:312:7, 8:312:7]
    zyx = np.stack([np.zeros(yy.size), yy.ravel(), xx.ravel()], axis=1)
    t2_idx = physical_to_index(s.t2_native, s.t1.index_to_physical(zyx))
    assert np.allclose(t2_idx[:, 0], 0, atol=1e-3)  # same slice plane
    expected = ndimage.map_coordinates(s.t2_native.array[0].astype(np.float64), t2_idx[:, 1:].T, order=1)
    got = s.t2.array[0, yy.ravel(), xx.ravel()]
    np.testing.assert_allclose(got, expected, atol=0.05)
    # The check is sensitive: a naive crop of the native T2 grid is far off.
    naive = s.t2_native.array[0, yy.ravel(), xx.ravel()]
    assert np.mean(np.abs(naive - expected)) > 5 * np.mean(np.abs(got - expected)) + 1


def test_disc_boxes_line_up_after_resampling(spider_study):
    s = spider_study
    scale = s.t1.spacing[1] / s.t2_native.spacing[1]  # same field of view, finer T2 grid
    with open(SPIDER_DIR / "levels_study12.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    for row in rows:
        x0, y0, x1, y1 = (int(row[k]) for k in ("x0", "y0", "x1", "y1"))
        on_t1_grid = s.t2.array[0, y0:y1, x0:x1].mean()
        X0, Y0, X1, Y1 = (int(round(v * scale)) for v in (x0, y0, x1, y1))
        native = s.t2_native.array[0, Y0:Y1, X0:X1].mean()
        assert on_t1_grid == pytest.approx(native, rel=0.03), row["level"]


def test_single_slice_pair_from_neighbouring_planes(tmp_path):
    """Single-slice T1 and T2 4.8 mm apart (spider-like): in-plane they share one grid, so the
    resampled T2 must equal the native T2 pixel for pixel."""
    from .conftest import write_series

    datasets = fixture_datasets()
    t1_dir = write_series(tmp_path / "t1", [datasets[7]])
    t2_dir = write_t2_series(tmp_path / "t2", datasets=[datasets[8]])
    study = load_study(t1_dir, t2_dir)
    np.testing.assert_allclose(study.t2.array, study.t2_native.array, atol=1e-3)


def test_3d_dicom_pair_resampled_by_position(tmp_path):
    """A T2 series shifted two slices along the normal is resampled slice-exactly onto T1."""
    step = 4.8

    def shift(i, ds):
        ds.ImagePositionPatient = [float(v) for v in np.asarray(ds.ImagePositionPatient) + 2 * step * normal_of(ds)]

    t2_dir = write_t2_series(tmp_path / "t2", edit=shift)
    study = load_study(DICOM_DIR, t2_dir)
    t2n = study.t2_native
    assert study.t2.shape == study.t1.shape == (15, 320, 320)
    np.testing.assert_allclose(study.t2.array[2:], t2n.array[:-2], atol=1e-2)
    assert not np.any(study.t2.array[:2])  # outside the T2 stack
    assert study.sources == {"t1": "dicom_t1_sag", "t2": "t2"}


def test_pair_from_one_upload_with_two_series(tmp_path):
    from modic_core.io import list_series

    from .conftest import uploads_of, write_series

    exam = tmp_path / "exam"
    write_series(exam / "a", fixture_datasets(), new_series=False)
    write_t2_series(exam / "b")
    upload = uploads_of(exam)
    infos = {i.sequence: i for i in list_series(upload)}
    t1 = load_series(upload, series=infos["T1"].key)
    t2 = load_series(upload, series=infos["T2"].key)
    from modic_core import make_study

    study = make_study(t1, t2)
    assert study.t2.shape == study.t1.shape
