"""Image files in other index orders than the project's sagittal layout (the SPIDER release's
identity-direction volumes, NIfTI exports): laid out as sagittal when the voxel geometry says the
acquisition was sagittal or 3D; axial and coronal acquisitions are left as they are and refused."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from modic_core.io import list_series, load_series
from modic_core.io.layout import acquisition_plane, reoriented, sagittal_size, to_sagittal_layout
from modic_core.io.validation import check_volume

from .conftest import assert_input_error

ROOT = Path(__file__).resolve().parents[2]
PIR = (0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0)  # x -> posterior, y -> inferior, z -> right
LPS = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _sagittal(n=6, rows=40, cols=30, thick=4.0, pixel=0.8, seed=0):
    """A seeded sagittal series in the project's layout: numpy (slices L->R, rows S->I, columns A->P)."""
    arr = np.random.default_rng(seed).normal(100, 20, size=(n, rows, cols)).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((pixel, pixel, thick))
    img.SetDirection(PIR)
    img.SetOrigin((10.0, -20.0, 30.0))
    return img


def test_acquisition_plane_from_the_thickest_voxel_side():
    assert acquisition_plane((30, 40, 6), (0.8, 0.8, 4.0), PIR) == "sagittal"
    assert acquisition_plane((6, 30, 40), (4.0, 0.8, 0.8), LPS) == "sagittal"  # SPIDER release: L-R is ITK x
    assert acquisition_plane((256, 256, 20), (0.7, 0.7, 5.0), LPS) == "axial"
    assert acquisition_plane((256, 20, 256), (0.7, 5.0, 0.7), LPS) == "coronal"
    assert acquisition_plane((160, 300, 300), (1.0, 0.9, 0.9), LPS) == "3d"
    assert acquisition_plane((1, 300, 300), (1.0, 0.6, 0.6), LPS) == "sagittal"  # one slice: its normal
    assert sagittal_size((6, 30, 40), LPS) == (6, 40, 30)


def test_a_spider_release_volume_reads_as_the_same_sagittal_series(tmp_path):
    pir = _sagittal()
    raw = sitk.DICOMOrient(pir, "LPS")  # how the SPIDER release stores it
    assert sitk.GetArrayFromImage(raw).shape == (40, 30, 6)
    path = tmp_path / "1_t1.mha"
    sitk.WriteImage(raw, str(path))
    [info] = list_series(path)
    assert (info.orientation, info.n_slices, info.rows, info.cols) == ("sagittal", 6, 40, 30)
    vol = load_series(path)
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(pir))
    assert vol.spacing == pytest.approx((4.0, 0.8, 0.8))
    assert np.allclose(vol.direction, np.reshape(PIR, (3, 3))) and np.allclose(vol.origin, pir.GetOrigin())
    check_volume(vol)  # accepted as sagittal
    assert to_sagittal_layout(pir).GetDirection() == pytest.approx(PIR)  # already laid out: unchanged


def test_an_isotropic_3d_volume_stored_axially_is_laid_out_sagittally(tmp_path):
    arr = np.random.default_rng(1).normal(100, 20, size=(50, 40, 30)).astype(np.float32)  # (S-I, A-P, L-R)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((1.0, 1.0, 1.1))
    path = tmp_path / "t2_space.nii.gz"
    sitk.WriteImage(img, str(path))
    vol = load_series(path)
    assert vol.orientation() == "sagittal" and vol.shape == (30, 50, 40)
    check_volume(vol)


def test_an_axial_acquisition_is_not_reformatted_and_is_refused(tmp_path):
    arr = np.random.default_rng(2).normal(100, 20, size=(20, 64, 64)).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 0.7, 5.0))
    assert not reoriented(img.GetSize(), img.GetSpacing(), img.GetDirection())
    path = tmp_path / "axial.mha"
    sitk.WriteImage(img, str(path))
    assert list_series(path)[0].orientation == "axial"
    assert_input_error(lambda: check_volume(load_series(path)), "axial, not sagittal")


def test_real_demo_pair_in_the_release_layout_gets_the_same_report(tmp_path):
    """A bundled SPIDER-derived demo case rewritten as the SPIDER release stores it: same levels,
    grades and probabilities as the original files."""
    from modic_core.analysis.analyze import analyze, models_available
    from modic_core.pairing.study import load_study

    if not models_available().get("detector") or not models_available().get("zscore"):
        pytest.skip("needs the shipped weights")
    src = ROOT / "demo" / "cohort" / "studies" / "104"
    for seq in ("t1", "t2"):
        sitk.WriteImage(sitk.DICOMOrient(sitk.ReadImage(str(src / f"{seq}.mha")), "LPS"), str(tmp_path / f"{seq}.mha"))
    a = analyze(load_study(src / "t1.mha", src / "t2.mha"), "zscore", gradcam=False)
    b = analyze(load_study(tmp_path / "t1.mha", tmp_path / "t2.mha"), "zscore", gradcam=False)
    assert len(a.levels) >= 5
    assert [(lv.level, lv.prediction) for lv in a.levels] == [(lv.level, lv.prediction) for lv in b.levels]
    assert [lv.probabilities for lv in a.levels] == [pytest.approx(lv.probabilities) for lv in b.levels]
