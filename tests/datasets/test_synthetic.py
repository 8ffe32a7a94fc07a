"""Synthetic phantoms: determinism, anatomy/lesion signal, ground truth, and DICOM/NIfTI/MHA round trips."""
from __future__ import annotations


import numpy as np
import pytest

from modic_core.anatomy import LEVEL_NAMES
from modic_core.io import load_series
from modic_core.datasets.synthetic import PIR_DIRECTION, ScannerVariation, make_phantom, make_phantom_2d

LESIONS = {"L1-L2": (1, "lower"), "L3-L4": (2, "upper"), "L5-S1": (3, "both")}


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=3, modic=LESIONS)


def test_same_seed_same_phantom_and_other_seed_differs():
    a, b, c = make_phantom(seed=5), make_phantom(seed=5), make_phantom(seed=6)
    assert np.array_equal(a.t1.array, b.t1.array) and np.array_equal(a.t2.array, b.t2.array)
    assert a.levels == b.levels and a.uids == b.uids
    assert not np.array_equal(a.t1.array, c.t1.array)
    assert a.uids["study"] != c.uids["study"]


def test_geometry_is_sagittal_pir(phantom):
    for vol in (phantom.t1, phantom.t2):
        assert vol.shape == (15, 256, 256)
        assert vol.spacing == (4.0, 1.0, 1.0)
        assert vol.orientation() == "sagittal"
        assert np.allclose(vol.direction, PIR_DIRECTION)
        assert vol.array.dtype == np.float32 and np.isfinite(vol.array).all() and vol.array.min() >= 0
    assert phantom.t1.origin == phantom.t2.origin
    # x -> posterior, y -> inferior, z -> right (LPS: +y posterior, -z inferior, -x right)
    p0 = phantom.t1.index_to_physical([[0, 0, 0]])[0]
    assert phantom.t1.index_to_physical([[0, 0, 1]])[0][1] > p0[1]
    assert phantom.t1.index_to_physical([[0, 1, 0]])[0][2] < p0[2]
    assert phantom.t1.index_to_physical([[1, 0, 0]])[0][0] < p0[0]
    assert phantom.t1.meta.sequence == "T1" and phantom.t2.meta.sequence == "T2"
    assert phantom.t1.meta.repetition_time_ms < phantom.t2.meta.repetition_time_ms
    assert phantom.t1.meta.echo_time_ms < phantom.t2.meta.echo_time_ms


def test_tissue_contrast_t2_csf_bright_t1_dark(phantom):
    csf = phantom.labels == 100
    marrow = (phantom.labels > 0) & (phantom.labels < 100) & ~phantom.lesion_mask
    t1, t2 = phantom.t1.array, phantom.t2.array
    assert np.median(t2[csf]) > 1.8 * np.median(t2[marrow])
    assert np.median(t1[csf]) < 0.5 * np.median(t1[marrow])
    # healthy nucleus is T2 bright
    disc_t12 = phantom.labels == 206
    assert np.percentile(t2[disc_t12], 90) > np.median(t2[marrow])


def test_lesion_signal_direction_per_modic_type(phantom):
    t1, t2, lab, les = phantom.t1.array, phantom.t2.array, phantom.labels, phantom.lesion_mask
    zr = phantom.level("L1-L2").lesion_z_range
    zsel = np.zeros(lab.shape[0], bool)
    zsel[zr[0]:zr[1] + 1] = True
    normal = ((lab == 5) | (lab == 6)) & zsel[:, None, None]  # L1 and T12, no lesions
    n1, n2 = np.median(t1[normal]), np.median(t2[normal])
    # L1-L2 lower endplate = top of L2 (vertebra 4); L3-L4 upper = bottom of L3 (vertebra 3);
    # L5-S1 both = bottom of L5 (vertebra 1) and top of the (unlabelled) sacrum.
    where = {"L1-L2": [4], "L3-L4": [3], "L5-S1": [1, 0]}
    for name, (grade, _) in LESIONS.items():
        ivd = LEVEL_NAMES.index(name) + 1
        m = les & np.isin(lab, where[name]) & _rows_near_disc(lab, 200 + ivd)
        assert m.sum() > 50, name
        r1, r2 = t1[m].mean() / n1, t2[m].mean() / n2
        if grade == 1:  # oedema: T1 dark, T2 bright
            assert r1 < 0.8 and r2 > 1.3, (name, r1, r2)
        elif grade == 2:  # fat: T1 bright, T2 iso to bright
            assert r1 > 1.25 and r2 > 1.05, (name, r1, r2)
        else:  # sclerosis: both dark
            assert r1 < 0.6 and r2 < 0.6, (name, r1, r2)


def _rows_near_disc(lab: np.ndarray, disc: int) -> np.ndarray:
    rows = np.flatnonzero((lab == disc).any(axis=(0, 2)))
    sel = np.zeros(lab.shape, bool)
    sel[:, max(0, rows[0] - 15): rows[-1] + 15, :] = True
    return sel


def test_lesions_sit_beside_the_chosen_endplate(phantom):
    lab, les = phantom.labels, phantom.lesion_mask
    # only marrow of the expected vertebrae carries lesions
    assert set(np.unique(lab[les])) <= {4, 3, 1, 0}
    for vert, side in ((4, "top"), (3, "bottom")):
        rows_v = np.nonzero(lab == vert)[1]
        rows_l = np.nonzero(les & (lab == vert))[1]
        centre = (rows_v.min() + rows_v.max()) / 2
        if side == "top":
            assert rows_l.mean() < centre and rows_l.min() - rows_v.min() < 6
        else:
            assert rows_l.mean() > centre and rows_v.max() - rows_l.max() < 6
    for lv in phantom.levels:
        assert (lv.lesion_z_range is not None) == (lv.modic > 0)
        if lv.modic:
            z0, z1 = lv.lesion_z_range
            assert 0 <= z0 <= z1 < phantom.t1.shape[0]


def test_levels_boxes_inside_and_top_to_bottom(phantom):
    nz, ny, nx = phantom.t1.shape
    names = [lv.level for lv in phantom.levels]
    assert names == LEVEL_NAMES[:6][::-1]
    centres = []
    for lv in phantom.levels:
        x0, y0, x1, y1 = lv.box
        assert 0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny
        centres.append((y0 + y1) / 2)
        # the box covers the whole disc on every slice and extends beyond it (endplates)
        zz, yy, xx = np.nonzero(phantom.labels == 200 + lv.ivd_label)
        assert x0 <= xx.min() and xx.max() < x1 and y0 < yy.min() and yy.max() < y1 - 1
        assert lv.z_range == (zz.min(), zz.max())
        assert (lv.modic, lv.endplate) == ({"L1-L2": (1, "lower"), "L3-L4": (2, "upper"), "L5-S1": (3, "both")}.get(lv.level, (0, None)))
    assert centres == sorted(centres)
    lbl = phantom.level("L5-S1").to_label()
    assert lbl.box == phantom.level("L5-S1").box and lbl.ivd_label == 1 and lbl.extra == {"up_endplate": 1, "low_endplate": 1}


def test_bad_modic_spec_is_rejected():
    with pytest.raises(ValueError):
        make_phantom(modic={"L6-S1": 1})
    with pytest.raises(ValueError):
        make_phantom(modic={"L4-L5": (4, "both")})
    with pytest.raises(ValueError):
        make_phantom(modic={"L4-L5": (1, "middle")})


def test_clean_phantom_has_no_noise():
    ph = make_phantom(seed=2, shape=(3, 64, 64), spacing=(4.0, 4.0, 4.0), variation=0.0, modic={})
    assert ph.t1.array.min() == 0.0  # air stays exactly zero without noise/offset
    assert not ph.lesion_mask.any()
    noisy = make_phantom(seed=2, shape=(3, 64, 64), spacing=(4.0, 4.0, 4.0), modic={},
                         scanner=ScannerVariation(noise=0.05))
    assert noisy.t1.array.min() > 0.0


def test_phantom_2d_resembles_spider2d():
    ph = make_phantom_2d(seed=4, shape=(320, 320), spacing=(0.875, 0.875))
    for vol in (ph.t1, ph.t2):
        a = vol.array
        assert a.shape == (1, 320, 320) and a.min() == 0 and a.max() == 255
        assert np.array_equal(a, np.round(a))
        assert vol.spacing == (4.0, 0.875, 0.875) and vol.orientation() == "sagittal"
    assert all(lv.z_range == (0, 0) for lv in ph.levels)
    study = ph.to_study()
    assert study.t2.shape == study.t1.shape


def test_dicom_round_trip_geometry_and_tags(phantom, tmp_path):
    import pydicom
    import SimpleITK as sitk

    paths = phantom.write(tmp_path, fmt="dicom")
    headers = {}
    for key, vol in (("t1", phantom.t1), ("t2", phantom.t2)):
        reader = sitk.ImageSeriesReader()
        files = reader.GetGDCMSeriesFileNames(str(paths[key]))
        assert len(files) == vol.shape[0]
        reader.SetFileNames(files)
        img = reader.Execute()
        _assert_same_geometry(img, vol)
        ds = pydicom.dcmread(files[0])
        slope = float(ds.RescaleSlope)
        assert np.abs(sitk.GetArrayFromImage(img) - vol.array).max() <= slope / 2 + 1e-3
        headers[key] = ds
        # positions step along the slice normal by the slice spacing
        pos = np.array([[float(v) for v in pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient] for f in files])
        normal = np.cross(*np.array(ds.ImageOrientationPatient, float).reshape(2, 3))
        assert np.allclose(np.diff(pos @ normal), vol.spacing[0], atol=1e-4)
        assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
        assert float(ds.SliceThickness) == float(ds.SpacingBetweenSlices) == vol.spacing[0]
        assert [float(v) for v in ds.PixelSpacing] == [vol.spacing[1], vol.spacing[2]]
        assert float(ds.RepetitionTime) == vol.meta.repetition_time_ms and float(ds.EchoTime) == vol.meta.echo_time_ms
        assert ds.SeriesDescription == f"{key.upper()} TSE SAG (synthetic)" and ds.Modality == "MR"
        assert str(ds.PatientName) == "PHANTOM^SEED3" and ds.ScanningSequence == "SE"
    t1, t2 = headers["t1"], headers["t2"]
    assert t1.StudyInstanceUID == t2.StudyInstanceUID
    assert t1.FrameOfReferenceUID == t2.FrameOfReferenceUID
    assert t1.SeriesInstanceUID != t2.SeriesInstanceUID
    vol = load_series(paths["t1"])
    assert vol.shape == phantom.t1.shape
    assert np.allclose(vol.origin, phantom.t1.origin, atol=1e-4) and np.allclose(vol.spacing, phantom.t1.spacing, atol=1e-4)
    assert np.allclose(vol.direction, phantom.t1.direction, atol=1e-4)
    assert np.abs(vol.array - phantom.t1.array).max() <= float(t1.RescaleSlope) / 2 + 1e-3


def _assert_same_geometry(img, vol):
    assert img.GetSize() == (vol.shape[2], vol.shape[1], vol.shape[0])
    assert np.allclose(img.GetOrigin(), vol.origin, atol=1e-4)
    assert np.allclose(img.GetSpacing(), vol.spacing[::-1], atol=1e-4)
    assert np.allclose(np.reshape(img.GetDirection(), (3, 3)), vol.direction, atol=1e-4)


@pytest.mark.parametrize("fmt", ["nifti", "mha"])
def test_image_file_round_trip(phantom, tmp_path, fmt):
    from modic_core.io.images import read_image

    paths = phantom.write(tmp_path, fmt=fmt)
    for key, vol in (("t1", phantom.t1), ("t2", phantom.t2)):
        back = read_image(paths[key])
        assert back.shape == vol.shape
        assert np.allclose(back.origin, vol.origin, atol=1e-4)
        assert np.allclose(back.spacing, vol.spacing, atol=1e-4)
        assert np.allclose(back.direction, vol.direction, atol=1e-4)
        assert np.allclose(back.array, vol.array, atol=1e-3)
        assert back.orientation() == "sagittal"


def test_integer_volume_is_stored_exactly(tmp_path):
    import SimpleITK as sitk

    from modic_core.io.dicom_write import rescale_for_uint16, write_dicom_series

    ph = make_phantom_2d(seed=1, shape=(64, 64), spacing=(3.0, 3.0))
    stored, slope, intercept = rescale_for_uint16(ph.t1.array)
    assert (slope, intercept) == (1.0, 0.0) and np.array_equal(stored, ph.t1.array)
    files = write_dicom_series(ph.t1, tmp_path / "s", uid_seed="x")
    img = sitk.ReadImage([str(f) for f in files])
    assert np.array_equal(sitk.GetArrayFromImage(img), ph.t1.array)
    # negative, fractional values use a slope and intercept
    vals = np.linspace(-3.5, 7.25, 1000).reshape(1, 10, 100)
    stored, slope, intercept = rescale_for_uint16(vals)
    assert np.abs(stored * slope + intercept - vals).max() <= slope / 2 + 1e-12
