"""The real sagittal T1 DICOM series: slice order, geometry, rescale, compression, privacy."""
from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from modic_core.io import list_series, load_series
from modic_core.io.dicom import guess_sequence, quiet_pydicom, read_header

from .conftest import DICOM_DIR, DICOM_FILES, fixture_datasets, normal_of, write_series


@pytest.fixture(scope="module")
def t1():
    return load_series(DICOM_DIR)


def slice_positions(volume) -> np.ndarray:
    """LPS position (mm) of the first voxel of every slice, (z, 3)."""
    idx = np.array([[k, 0, 0] for k in range(volume.shape[0])], dtype=float)
    return volume.index_to_physical(idx)


def test_fixture_loads_15_sagittal_t1_slices(t1):
    assert len(DICOM_FILES) == 15
    assert t1.shape == (15, 320, 320)
    assert t1.array.dtype == np.float32
    assert t1.orientation() == "sagittal"
    m = t1.meta
    assert (m.source, m.modality, m.sequence) == ("dicom", "MR", "T1")
    assert m.series_description == "t1_tse_sag_320"
    assert m.repetition_time_ms == pytest.approx(620) and m.echo_time_ms == pytest.approx(9.2)
    assert m.manufacturer == "SIEMENS" and m.field_strength_t == pytest.approx(1.5)
    assert re.fullmatch(r"[0-9a-f]{16}", m.series_uid_hash) and re.fullmatch(r"[0-9a-f]{16}", m.study_hash)
    assert m.patient_hash is None  # the fixture is fully de-identified: nothing to compare
    # The anonymiser gave every file its own FrameOfReferenceUID: not reported as if shared.
    assert m.frame_of_reference_uid is None


def test_slices_strictly_monotonic_along_normal_with_header_spacing(t1):
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in DICOM_FILES]
    n = normal_of(headers[0])
    assert np.allclose(t1.slice_normal, n, atol=1e-9)  # normal = row x column cosine
    proj = slice_positions(t1) @ n
    steps = np.diff(proj)
    assert np.all(steps > 0)
    spacing_between = float(headers[0].SpacingBetweenSlices)  # 4.8 mm (4 mm slices, 0.8 mm gap)
    assert steps == pytest.approx(np.full(14, spacing_between), abs=1e-3)
    assert t1.spacing[0] == pytest.approx(spacing_between, abs=1e-4)
    assert t1.spacing[0] >= float(headers[0].SliceThickness)
    assert t1.spacing[1:] == pytest.approx(tuple(float(v) for v in headers[0].PixelSpacing))
    assert t1.spacing[1:] == pytest.approx((0.875, 0.875))


def test_each_slice_holds_the_file_at_its_position(t1):
    # Independent of any sorting helper: match slices to files by their ImagePositionPatient.
    positions = slice_positions(t1)
    for path in DICOM_FILES:
        ds = pydicom.dcmread(path)
        k = int(np.argmin(np.linalg.norm(positions - np.asarray(ds.ImagePositionPatient, float), axis=1)))
        assert np.allclose(positions[k], ds.ImagePositionPatient, atol=1e-3)
        np.testing.assert_array_equal(t1.array[k], ds.pixel_array.astype(np.float32))
    # Instance 1 lies at the far end of the normal: the slice order is reversed from the numbering.
    first = pydicom.dcmread(DICOM_FILES[0], stop_before_pixels=True)
    assert np.allclose(positions[-1], first.ImagePositionPatient, atol=1e-6)


def test_geometry_matches_simpleitk_series_reader(t1):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(DICOM_DIR)))
    ref = reader.Execute()
    assert np.allclose(t1.origin, ref.GetOrigin(), atol=1e-6)
    assert np.allclose(t1.spacing[::-1], ref.GetSpacing(), atol=1e-6)
    assert np.allclose(t1.direction, np.reshape(ref.GetDirection(), (3, 3)), atol=1e-6)
    np.testing.assert_array_equal(t1.array, sitk.GetArrayFromImage(ref).astype(np.float32))
    # ... and Volume.to_sitk gives back the same ITK geometry.
    mine = t1.to_sitk()
    assert np.allclose(mine.GetOrigin(), ref.GetOrigin()) and np.allclose(mine.GetDirection(), ref.GetDirection())
    assert np.allclose(mine.GetSpacing(), ref.GetSpacing())


def test_file_order_on_disk_does_not_matter(tmp_path, t1):
    # Shuffle file names so that listing order is unrelated to position.
    datasets = fixture_datasets()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(datasets))
    folder = write_series(tmp_path / "s", [datasets[i] for i in order], new_series=False)
    v = load_series(folder)
    np.testing.assert_array_equal(v.array, t1.array)
    assert v.origin == pytest.approx(t1.origin)


def test_rescale_slope_intercept_applied(tmp_path, t1):
    def edit(i, ds):
        ds.RescaleSlope = 2
        ds.RescaleIntercept = -100

    v = load_series(write_series(tmp_path / "r", edit=edit))
    np.testing.assert_allclose(v.array, 2 * t1.array - 100)


def test_16_bit_values_do_not_overflow(tmp_path):
    def edit(i, ds):
        arr = ds.pixel_array.astype(np.uint16)
        arr[:10, :10] = 65535
        ds.PixelData = arr.tobytes()
        ds.BitsStored, ds.HighBit = 16, 15
        ds.RescaleSlope, ds.RescaleIntercept = 4, 0

    v = load_series(write_series(tmp_path / "o", edit=edit))
    assert float(v.array.max()) == 4 * 65535.0
    assert float(v.array.min()) >= 0


@pytest.mark.parametrize("syntax", [pydicom.uid.RLELossless, pydicom.uid.JPEG2000Lossless])
def test_compressed_transfer_syntaxes_decode(tmp_path, t1, syntax):
    def edit(i, ds):
        ds.compress(syntax)

    v = load_series(write_series(tmp_path / "c", edit=edit, new_series=False))
    np.testing.assert_array_equal(v.array, t1.array)


def test_single_sagittal_slice_is_accepted(tmp_path):
    ds = fixture_datasets()[7]
    v = load_series(write_series(tmp_path / "one", [ds]))
    assert v.shape == (1, 320, 320)
    assert v.orientation() == "sagittal"
    assert v.spacing[0] == pytest.approx(4.8)  # SpacingBetweenSlices when there is one slice
    assert v.origin == pytest.approx(tuple(float(x) for x in ds.ImagePositionPatient))


def test_enhanced_multiframe_matches_single_frames(tmp_path, t1):
    import highdicom as hd
    from highdicom.legacy import LegacyConvertedEnhancedMRImage

    datasets = fixture_datasets()
    for ds in datasets:  # the converter needs one frame of reference and a patient module
        ds.FrameOfReferenceUID = datasets[0].FrameOfReferenceUID
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "P1", "A^B", "19700101", "O"
    mf = LegacyConvertedEnhancedMRImage(
        datasets, series_instance_uid=hd.UID(), series_number=99, sop_instance_uid=hd.UID(), instance_number=1
    )
    path = tmp_path / "enhanced.dcm"
    mf.save_as(path)
    info = list_series(path)
    assert info[0].n_slices == 15 and info[0].orientation == "sagittal"
    v = load_series(path)
    np.testing.assert_array_equal(v.array, t1.array)
    assert np.allclose(v.origin, t1.origin, atol=1e-4)
    assert np.allclose(v.spacing, t1.spacing, atol=1e-4)
    assert np.allclose(v.direction, t1.direction, atol=1e-6)


IDENTIFIERS = ("DOE^JOHN", "PID-4711-XYZ", "19451231")


def test_patient_identifiers_never_leave_the_reader(tmp_path, caplog, capsys):
    def edit(i, ds):
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = IDENTIFIERS
        if i == 0:
            ds.PatientBirthDate = "1945-12-31x"  # an invalid DA value: pydicom must not warn with it

    with quiet_pydicom():  # writing the invalid value is the test's doing, not the reader's
        folder = write_series(tmp_path / "p", edit=edit)
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v = load_series(folder)
        infos = list_series(folder)
        header = read_header(next(folder.iterdir()))
    out = capsys.readouterr()
    texts = [repr(v.meta), repr(v.meta.to_dict()), repr(infos), repr(header), caplog.text, out.out, out.err]
    texts += [str(w.message) for w in caught]
    for ident in IDENTIFIERS + ("DOE", "4711", "1945"):
        assert not any(ident in t for t in texts), ident
    assert re.fullmatch(r"[0-9a-f]{16}", v.meta.patient_hash)


def test_patient_hash_is_stable_and_differs_between_patients(tmp_path):
    a = load_series(write_series(tmp_path / "a", patient_id="A1"))
    a2 = load_series(write_series(tmp_path / "a2", patient_id="A1"))
    b = load_series(write_series(tmp_path / "b", patient_id="B2"))
    assert a.meta.patient_hash == a2.meta.patient_hash
    assert a.meta.patient_hash != b.meta.patient_hash
    assert a.meta.series_uid_hash != a2.meta.series_uid_hash


@pytest.mark.parametrize(
    ("description", "scanning", "tr", "te", "ti", "expected"),
    [
        ("t1_tse_sag_320", "SE", 620, 9.2, None, "T1"),
        ("T2 TSE SAG", "SE", 3000, 100, None, "T2"),
        ("SAG T1W", "", None, None, None, "T1"),
        ("sag stir", "IR", 3500, 60, 160, "T2"),
        ("t2_tirm_sag", "", None, None, None, "T2"),
        ("SAG FSE", "SE", 500, 12, None, "T1"),  # no keyword: short TR, short TE
        ("SAG FSE", "SE", 4000, 110, None, "T2"),  # no keyword: long TR, long TE
        ("SAG FSE", "SE", 1500, 40, None, "unknown"),  # intermediate (proton density-like)
        ("Sag IR", "IR", 4000, 45, 150, "T2"),  # short-TI inversion recovery = STIR
        ("T12-S1 localizer", "GR", None, None, None, "unknown"),  # 'T12' is a vertebra, not T1
        ("", "", None, None, None, "unknown"),
    ],
)
def test_sequence_guess(description, scanning, tr, te, ti, expected):
    assert guess_sequence(description, scanning_sequence=scanning, tr=tr, te=te, ti=ti) == expected
