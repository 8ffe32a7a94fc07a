"""Every bad input ends in an InputError with a sentence a clinician understands (generated corpus)."""
from __future__ import annotations

import shutil
import struct
import zlib

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from modic_core import load_study
from modic_core.io import list_series, load_series

from .conftest import (
    DICOM_DIR,
    DICOM_FILES,
    SPIDER_DIR,
    assert_input_error,
    fixture_datasets,
    normal_of,
    write_series,
    write_t2_series,
)

NOT_IMAGE = "not a medical image"


def tiny_png() -> bytes:
    """A valid 16x16 greyscale PNG, built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(range(16)) for _ in range(16))
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- not a medical image


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("scan.dcm", np.random.default_rng(1).bytes(50_000)),
        ("IM0001", np.random.default_rng(2).bytes(3000)),
        ("photo.png", tiny_png()),
        ("photo.dcm", tiny_png()),
        ("notes.txt", b"Patient had back pain.\n" * 50),
        ("report.dcm", b"This is not DICOM at all.\n"),
        ("empty.dcm", b""),
    ],
)
def test_not_a_medical_image(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    for source in (path, tmp_path, [(name, data)]):
        assert_input_error(lambda: load_series(source), NOT_IMAGE)
    assert_input_error(lambda: list_series(path), NOT_IMAGE)


def test_empty_folder_and_empty_upload(tmp_path):
    assert_input_error(lambda: load_series(tmp_path), NOT_IMAGE)
    assert_input_error(lambda: load_series([]), "nothing was given")
    assert_input_error(lambda: load_series(tmp_path / "missing"), "was not found")


def test_broken_mha_names_the_file(tmp_path):
    path = tmp_path / "t1.mha"
    path.write_bytes(b"ObjectType = Image\nNDims = 3\nElementDataFile = LOCAL\n" + b"\x00" * 10)
    assert_input_error(lambda: load_series(path), "could not be read", "t1.mha")


def test_non_image_dicom_is_not_an_image(tmp_path):
    ds = fixture_datasets()[0]
    for kw in ("Rows", "Columns", "PixelData"):
        delattr(ds, kw)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.UID("1.2.840.10008.5.1.4.1.1.88.11")  # Basic Text SR
    ds.save_as(tmp_path / "report.dcm", enforce_file_format=True)
    assert_input_error(lambda: load_series(tmp_path), NOT_IMAGE)


def test_image_dicom_without_rows_is_damaged(tmp_path):
    ds = fixture_datasets()[0]  # still MR Image Storage, but the image attributes are gone
    for kw in ("Rows", "Columns", "PixelData"):
        delattr(ds, kw)
    ds.save_as(tmp_path / "broken.dcm", enforce_file_format=True)
    assert_input_error(lambda: load_series(tmp_path), "damaged")


# --------------------------------------------------------------------------- corrupt or truncated DICOM


def test_truncated_dicom_file(tmp_path):
    data = DICOM_FILES[0].read_bytes()
    for cut in (len(data) // 2, len(data) - 1000, 300, 1000):  # in the pixels, and in the header
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        assert_input_error(lambda: load_series(path), "damaged")


def test_missing_pixel_data(tmp_path):
    ds = fixture_datasets()[0]
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm", enforce_file_format=True)
    assert_input_error(lambda: load_series(tmp_path / "nopix.dcm"), "damaged", "pixel data")


def test_one_truncated_slice_in_a_series(tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(DICOM_DIR, folder)
    victim = folder / DICOM_FILES[5].name
    victim.write_bytes(victim.read_bytes()[:150_000])
    assert_input_error(lambda: load_series(folder), "damaged or truncated")


def test_damaged_header_in_a_series(tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(DICOM_DIR, folder)
    victim = folder / DICOM_FILES[14].name
    victim.write_bytes(victim.read_bytes()[:400])  # cut inside the header
    assert_input_error(lambda: load_series(folder), "damaged")


# --------------------------------------------------------------------------- orientation


def reorient(kind: str):
    """Edit that makes the fixture an axial or coronal stack (consistent positions)."""
    row, col = {"axial": ((1, 0, 0), (0, 1, 0)), "coronal": ((1, 0, 0), (0, 0, -1))}[kind]

    def edit(i, ds):
        ds.ImageOrientationPatient = [*row, *col]
        n = np.cross(row, col)
        ds.ImagePositionPatient = [float(v) for v in np.array([-140.0, -140.0, 0.0]) + (14 - i) * 4.8 * n]

    return edit


@pytest.mark.parametrize("kind", ["axial", "coronal"])
def test_non_sagittal_series(tmp_path, kind):
    folder = write_series(tmp_path / kind, edit=reorient(kind))
    assert list_series(folder)[0].orientation == kind
    assert_input_error(lambda: load_series(folder), f"is {kind}, not sagittal")
    v = load_series(folder, require_sagittal=False)  # still viewable when asked for
    assert v.orientation() == kind and v.shape == (15, 320, 320)
    assert np.all(np.diff(v.index_to_physical([[k, 0, 0] for k in range(15)]) @ v.slice_normal) > 0)
    t2 = write_t2_series(tmp_path / "t2")
    assert_input_error(lambda: load_study(folder, t2), "not sagittal")


def test_single_axial_slice_is_rejected(tmp_path):
    folder = write_series(tmp_path / "one", fixture_datasets()[:1], edit=reorient("axial"))
    assert_input_error(lambda: load_series(folder), "axial, not sagittal")


# --------------------------------------------------------------------------- slices of one series


def drop_slice(tmp_path, k: int):
    datasets = fixture_datasets()
    del datasets[k]
    return write_series(tmp_path / "gap", datasets)


def test_missing_slices(tmp_path):
    assert_input_error(lambda: load_series(drop_slice(tmp_path, 7)), "missing slices", "4.8 mm")


def test_duplicated_slices(tmp_path):
    datasets = fixture_datasets()
    datasets.append(fixture_datasets()[4])  # a second image at slice 5's position
    folder = write_series(tmp_path / "dup", datasets)  # every image gets its own SOPInstanceUID
    assert_input_error(lambda: load_series(folder), "duplicated slices")


def test_inconsistent_slice_spacing(tmp_path):
    def edit(i, ds):
        if i >= 8:  # 5.8 mm steps on one side of the stack, 4.8 mm on the other
            ds.ImagePositionPatient = [float(v) for v in np.asarray(ds.ImagePositionPatient) - normal_of(ds) * 1.0]

    assert_input_error(lambda: load_series(write_series(tmp_path / "sp", edit=edit)), "unevenly spaced")


def test_slices_shifted_sideways(tmp_path):
    def edit(i, ds):
        ds.ImagePositionPatient = [float(v) for v in np.asarray(ds.ImagePositionPatient) + np.array([0, 0.5 * i, 0])]

    assert_input_error(lambda: load_series(write_series(tmp_path / "tilt", edit=edit)), "shifted sideways")


def test_mixed_image_sizes(tmp_path):
    def edit(i, ds):
        if i == 3:
            arr = ds.pixel_array[:256, :256].copy()
            ds.Rows, ds.Columns = arr.shape
            ds.PixelData = arr.tobytes()

    assert_input_error(lambda: load_series(write_series(tmp_path / "mix", edit=edit)), "different sizes", "256x256")


def test_mixed_pixel_spacing(tmp_path):
    def edit(i, ds):
        if i == 3:
            ds.PixelSpacing = [0.5, 0.5]

    assert_input_error(lambda: load_series(write_series(tmp_path / "ps", edit=edit)), "different pixel sizes")


def test_mixed_orientations(tmp_path):
    def edit(i, ds):
        if i == 0:  # e.g. a localizer stored in the same series
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]

    assert_input_error(lambda: load_series(write_series(tmp_path / "loc", edit=edit)), "different orientations")


def test_no_geometry(tmp_path):
    def edit(i, ds):
        del ds.ImagePositionPatient

    assert_input_error(lambda: load_series(write_series(tmp_path / "sc", edit=edit)), "no position")


def test_invalid_orientation_vectors(tmp_path):
    def edit(i, ds):
        ds.ImageOrientationPatient = [0, 1, 0, 0, 1, 0]  # parallel row and column

    assert_input_error(lambda: load_series(write_series(tmp_path / "iop", edit=edit)), "orientation", "invalid")


# --------------------------------------------------------------------------- pixel values


@pytest.mark.parametrize("value", [0, 700])
def test_empty_or_constant_image(tmp_path, value):
    def edit(i, ds):
        ds.PixelData = np.full((ds.Rows, ds.Columns), value, np.uint16).tobytes()

    assert_input_error(lambda: load_series(write_series(tmp_path / "c", edit=edit)), "blank")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_pixels(tmp_path, bad):
    arr = np.random.default_rng(0).random((3, 32, 32), dtype=np.float32)
    arr[1, 5, 5] = bad
    img = sitk.GetImageFromArray(arr)
    img.SetDirection((0, 0, -1, 1, 0, 0, 0, -1, 0))  # sagittal, as the SPIDER exports
    path = tmp_path / "img.mha"
    sitk.WriteImage(img, str(path))
    assert np.isnan(sitk.GetArrayFromImage(sitk.ReadImage(str(path)))).any() == np.isnan(bad)
    assert_input_error(lambda: load_series(path), "NaN or infinity")
    assert_input_error(lambda: load_series([("img.mha", path.read_bytes())]), "NaN or infinity")


def test_invalid_rescale_slope_is_damaged(tmp_path):
    def edit(i, ds):
        ds.RescaleSlope = "nan"

    assert_input_error(lambda: load_series(write_series(tmp_path / "nan", edit=edit)), "damaged")


def test_rescale_overflowing_float32_is_infinite(tmp_path):
    def edit(i, ds):
        ds.RescaleSlope = "1e38"  # a damaged slope: values beyond float32 range

    assert_input_error(lambda: load_series(write_series(tmp_path / "inf", edit=edit)), "NaN or infinity")


def test_tiny_image(tmp_path):
    img = sitk.GetImageFromArray(np.arange(64, dtype=np.float32).reshape(1, 8, 8))
    img.SetDirection((0, 0, -1, 1, 0, 0, 0, -1, 0))
    sitk.WriteImage(img, str(tmp_path / "tiny.mha"))
    assert_input_error(lambda: load_series(tmp_path / "tiny.mha"), "too small")


# --------------------------------------------------------------------------- pairs


def test_same_series_twice_is_not_a_pair(tmp_path):
    """`load_study` needs two different series: the same one twice is an error."""
    assert_input_error(lambda: load_study(DICOM_DIR, DICOM_DIR), "same series")
    mha = SPIDER_DIR / "t1.mha"
    assert_input_error(lambda: load_study(mha, mha), "same image")
    renamed = tmp_path / "scan.mha"  # no T1/T2 hint in the name
    shutil.copy(mha, renamed)
    assert_input_error(lambda: load_study(renamed, renamed), "same image")


def test_two_t1_series_are_not_a_pair(tmp_path):
    def edit(i, ds):
        ds.RescaleIntercept = 1  # other pixel values than the original

    copy_t1 = write_series(tmp_path / "t1b", edit=edit)  # new series, still described as T1
    assert_input_error(lambda: load_study(DICOM_DIR, copy_t1), "both series look like t1")


def test_two_patients(tmp_path):
    a = write_series(tmp_path / "a", patient_id="A1")
    b = write_t2_series(tmp_path / "b", patient_id="B2")
    err = assert_input_error(lambda: load_study(a, b), "different patients")
    assert "A1" not in str(err) and "B2" not in str(err)
    study = load_study(a, write_t2_series(tmp_path / "a2", patient_id="A1"))  # same patient pairs fine
    assert study.t2.shape == study.t1.shape


def test_no_overlap_in_space(tmp_path):
    def shift(i, ds):
        ds.ImagePositionPatient = [float(v) for v in np.asarray(ds.ImagePositionPatient) + np.array([0, 0, 600.0])]

    t2 = write_t2_series(tmp_path / "far", edit=shift)
    assert_input_error(lambda: load_study(DICOM_DIR, t2), "do not overlap")


def test_pixel_spacing_metadata_kept_in_pair(tmp_path):
    study = load_study(DICOM_DIR, write_t2_series(tmp_path / "t2"))
    assert study.t1.meta.sequence == "T1" and study.t2_native.meta.sequence == "T2"
    np.testing.assert_allclose(study.t2.array, 4095 - study.t1.array)  # the T2 copy's inverted contrast
    assert study.sources == {"t1": "dicom_t1_sag", "t2": "t2"}


def test_header_field_types_survive_odd_values(tmp_path):
    def edit(i, ds):
        ds.RepetitionTime = ""
        ds.EchoTime = ""
        ds.MagneticFieldStrength = ""
        ds.SeriesDescription = ""

    folder = write_series(tmp_path / "odd", edit=edit)
    info = list_series(folder)[0]
    assert info.sequence == "unknown" and info.repetition_time_ms is None
    v = load_series(folder)
    assert v.meta.field_strength_t is None and v.meta.sequence == "unknown"
    assert pydicom.dcmread(next(folder.iterdir())).Rows == 320
