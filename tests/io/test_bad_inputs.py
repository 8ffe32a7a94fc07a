"""Every bad input ends in an InputError with a sentence a clinician understands (generated corpus)."""
from __future__ import annotations

import gzip
import os
import shutil
import struct
import warnings
import zipfile
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
        assert_input_error(lambda s=source: load_series(s), NOT_IMAGE)
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
        assert_input_error(lambda p=path: load_series(p), "damaged")


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


# =========================================================================== hostile inputs (issue #11)
# Each case below was observed to be read, to exhaust memory or time, or to give a silently wrong
# result before the reader was hardened; each now ends in a clear InputError (or in a complete result).

SAGITTAL = (0, 0, -1, 1, 0, 0, 0, -1, 0)  # ITK direction of the SPIDER exports: slice normal along L-R
MIB = 1 << 20


def sagittal_image(shape=(3, 32, 32), dtype=np.uint8, seed=0) -> sitk.Image:
    arr = np.random.default_rng(seed).integers(1, 200, shape).astype(dtype)
    img = sitk.GetImageFromArray(arr)
    img.SetDirection(SAGITTAL)
    img.SetSpacing((0.8, 0.8, 4.0))
    return img


def mhd_text(data_file: str, *, size=(32, 32, 3), extra: str = "") -> str:
    dims = " ".join(str(s) for s in size)
    return (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = False\n"
        "TransformMatrix = 0 1 0 0 0 -1 -1 0 0\nOffset = 0 0 0\nElementSpacing = 0.8 0.8 4\n"
        f"{extra}DimSize = {dims}\nElementType = MET_UCHAR\nElementDataFile = {data_file}\n"
    )


def nrrd_text(data_file: str, *, size=(32, 32, 3), encoding: str = "raw") -> str:
    dims = " ".join(str(s) for s in size)
    return (
        "NRRD0004\ntype: unsigned char\ndimension: 3\nspace: left-posterior-superior\n"
        f"sizes: {dims}\nspace directions: (0,0.8,0) (0,0,-0.8) (-4,0,0)\nkinds: domain domain domain\n"
        f"encoding: {encoding}\nendian: little\ndata file: {data_file}\n\n"
    )


@pytest.fixture()
def secret(tmp_path):
    """A server file outside every upload: its bytes must never come back as an image."""
    path = tmp_path / "server_secret.raw"
    path.write_bytes(np.random.default_rng(7).integers(1, 255, 32 * 32 * 3).astype(np.uint8).tobytes())
    return path


OUTSIDE = "outside its own folder"


@pytest.mark.parametrize(
    "ref",
    ["/etc/services", "../../../../../../etc/services", "/dev/urandom", "SECRET_ABS", "../server_secret.raw",
     "sub/../../server_secret.raw"],
)
@pytest.mark.parametrize("fmt", ["mhd", "nrrd"])
def test_detached_header_cannot_read_server_files(tmp_path, secret, private_tempdir, ref, fmt):
    ref = str(secret) if ref == "SECRET_ABS" else ref
    text = mhd_text(ref) if fmt == "mhd" else nrrd_text(ref)
    folder = tmp_path / "upload"
    folder.mkdir()
    header = folder / f"x.{fmt}"
    header.write_text(text)
    assert_input_error(lambda: load_series(header), OUTSIDE)
    assert_input_error(lambda: list_series(folder), OUTSIDE)
    assert_input_error(lambda: load_series([(f"x.{fmt}", text.encode())]), OUTSIDE)
    assert list(private_tempdir.iterdir()) == []  # the upload's temporary folder is gone


@pytest.mark.parametrize("ref", ["LIST\nslice0.raw\nslice1.raw", "slice%03d.raw 0 2 1"])
def test_detached_header_file_lists_are_refused(tmp_path, ref):
    path = tmp_path / "x.mhd"
    path.write_text(mhd_text(ref))
    assert_input_error(lambda: load_series(path), "list or pattern")


def test_detached_header_behind_padding_is_still_checked(tmp_path):
    path = tmp_path / "x.mhd"
    path.write_text(mhd_text("/etc/services", extra="Comment = padding\n" * 20_000))  # ~360 KB of header
    assert_input_error(lambda: load_series(path), OUTSIDE)


def test_symlink_out_of_the_folder_is_refused(tmp_path, secret):
    folder = tmp_path / "cohort"
    folder.mkdir()
    (folder / "x.raw").symlink_to(secret)
    (folder / "x.mhd").write_text(mhd_text("x.raw"))
    assert_input_error(lambda: load_series(folder / "x.mhd"), OUTSIDE)


def test_fifo_as_data_file_is_refused(tmp_path):
    (tmp_path / "x.mhd").write_text(mhd_text("pipe.raw"))
    os.mkfifo(tmp_path / "pipe.raw")  # reading it would block the server forever
    assert_input_error(lambda: load_series(tmp_path / "x.mhd"), "not a regular file")


@pytest.mark.parametrize("fmt", ["mhd", "nrrd"])
def test_detached_header_with_its_data_file_still_loads(tmp_path, fmt):
    """Positive control: a header and its data file uploaded together are read."""
    img = sagittal_image()
    raw = sitk.GetArrayFromImage(img).tobytes()
    text = mhd_text("x.raw") if fmt == "mhd" else nrrd_text("x.raw")
    v = load_series([(f"x.{fmt}", text.encode()), ("x.raw", raw)])
    assert v.shape == (3, 32, 32) and v.orientation() == "sagittal"
    np.testing.assert_array_equal(v.array, sitk.GetArrayFromImage(img))


# --------------------------------------------------------------------------- decode and decompression bombs


def compressed_mha(path, size) -> bytes:
    """A MetaImage header declaring ``size`` voxels with a zlib stream of zeros (streamed, never held)."""
    comp = zlib.compressobj(9)
    total = int(np.prod(size))
    chunks = []
    zero = bytes(MIB)
    for start in range(0, total, MIB):
        chunks.append(comp.compress(zero[: min(MIB, total - start)]))
    chunks.append(comp.flush())
    body = b"".join(chunks)
    head = mhd_text("LOCAL", size=size).replace("CompressedData = False", "CompressedData = True")
    head = head.replace("ElementDataFile", f"CompressedDataSize = {len(body)}\nElementDataFile")
    path.write_bytes(head.encode() + body)
    return path.read_bytes()


def test_compressed_mha_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    path = compressed_mha(tmp_path / "bomb.mha", (400, 400, 100))  # 16 M voxels in ~16 KB
    assert len(path) < 100_000
    monkeypatch.setenv("MODIC_MAX_VOXELS", str(4_000_000))
    assert_input_error(lambda: load_series(tmp_path / "bomb.mha"), "declares", "voxels", "not decoded")
    assert_input_error(lambda: list_series([("bomb.mha", path)]), "not decoded")


@pytest.mark.parametrize("suffix", ["mha", "nii.gz", "nrrd"])
def test_gigavoxel_header_is_refused_before_decoding(tmp_path, suffix):
    """1000^3 voxels (a ~1 MB file becoming ~6 GB): refused from the header at the default limits."""
    path = tmp_path / f"big.{suffix}"
    if suffix == "mha":
        path.write_bytes(mhd_text("LOCAL", size=(1000, 1000, 1000)).encode() + b"\x00" * 4096)
    elif suffix == "nrrd":
        path.write_bytes(nrrd_text("x", size=(1000, 1000, 1000)).replace("data file: x\n", "").encode() + b"\x00" * 4096)
    else:
        sitk.WriteImage(sagittal_image((4, 16, 16)), str(tmp_path / "small.nii"))
        hdr = bytearray((tmp_path / "small.nii").read_bytes()[:352])
        struct.pack_into("<8h", hdr, 40, 3, 1000, 1000, 1000, 1, 1, 1, 1)
        path.write_bytes(gzip.compress(bytes(hdr) + b"\x00" * 4096))
    assert_input_error(lambda: load_series(path), "voxels", "not decoded")


def j2k_dicom(tmp_path, size: int, *, name="j2k.dcm") -> pydicom.Dataset:
    """A JPEG 2000 DICOM of ``size`` x ``size`` zeros written by GDCM (a few KB whatever the size)."""
    w = sitk.ImageFileWriter()
    w.SetImageIO("GDCMImageIO")
    w.SetFileName(str(tmp_path / name))
    w.SetCompressor("JPEG2000")
    w.UseCompressionOn()
    w.Execute(sitk.Image(size, size, sitk.sitkUInt8))
    return pydicom.dcmread(tmp_path / name)


def as_fixture_slice(ds_codec: pydicom.Dataset, rows: int, cols: int) -> pydicom.Dataset:
    """Fixture slice 0 carrying ``ds_codec``'s compressed pixels, with the given declared size."""
    ds = fixture_datasets()[0]
    ds.file_meta.TransferSyntaxUID = ds_codec.file_meta.TransferSyntaxUID
    ds.PixelData = ds_codec.PixelData
    ds["PixelData"].VR = "OB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.Rows, ds.Columns = rows, cols
    return ds


def test_decode_bomb_declared_in_the_header(tmp_path):
    ds = as_fixture_slice(j2k_dicom(tmp_path, 64), 20000, 20000)  # a ~1 KB file declaring 400 M pixels
    ds.save_as(tmp_path / "bomb.dcm", enforce_file_format=False)
    assert (tmp_path / "bomb.dcm").stat().st_size < 10_000
    assert_input_error(lambda: load_series(tmp_path / "bomb.dcm"), "20000x20000", "not decoded")


def test_decode_bomb_hidden_in_the_codestream(tmp_path):
    """The DICOM header says 64x64, the JPEG 2000 codestream says 4000x4000: refused before decoding."""
    ds = as_fixture_slice(j2k_dicom(tmp_path, 4000), 64, 64)
    ds.save_as(tmp_path / "liar.dcm", enforce_file_format=False)
    assert_input_error(lambda: load_series(tmp_path / "liar.dcm"), "4000x4000", "64x64", "not decoded")


def test_decode_bomb_at_a_lowered_limit(tmp_path, monkeypatch):
    ds = as_fixture_slice(j2k_dicom(tmp_path, 2048), 2048, 2048)
    ds.save_as(tmp_path / "big.dcm", enforce_file_format=False)
    monkeypatch.setenv("MODIC_MAX_ROWS_COLS", "1024")
    assert_input_error(lambda: load_series(tmp_path / "big.dcm"), "2048x2048", "1024 pixels per side")


def test_multiframe_declaring_too_many_frames(tmp_path):
    ds = fixture_datasets()[0]
    ds.NumberOfFrames = 100_000
    ds.save_as(tmp_path / "mf.dcm", enforce_file_format=True)
    assert_input_error(lambda: load_series(tmp_path / "mf.dcm"), "100000 slices", "not decoded")


def test_too_many_slices(tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_MAX_SLICES", "10")
    assert_input_error(lambda: load_series(DICOM_DIR), "15 slices", "10 slices")


def test_zip_of_many_small_zero_members(tmp_path, private_tempdir):
    """~90 MiB of zeros in 90 members of 1 MB (each under the per-member ratio check) in a ~90 KB zip."""
    z = tmp_path / "zeros.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(90):
            zf.writestr(f"IM{i:04d}", bytes(1_000_000))
    assert z.stat().st_size < 200_000
    assert_input_error(lambda: load_series(z), "implausibly large")
    assert_input_error(lambda: load_series([("zeros.zip", z.read_bytes())]), "implausibly large")
    assert list(private_tempdir.iterdir()) == []


def test_folder_of_zero_files_is_rejected_quickly(tmp_path):
    """pydicom takes ~0.4 s per MB of zeros when forced; such files are not DICOM and are not parsed."""
    import time

    for i in range(20):
        (tmp_path / f"IM{i:04d}").write_bytes(bytes(1_000_000))
    start = time.monotonic()
    assert_input_error(lambda: load_series(tmp_path), NOT_IMAGE)
    assert time.monotonic() - start < 3.0


def test_parsing_is_time_bounded(monkeypatch):
    monkeypatch.setenv("MODIC_PARSE_SECONDS", "0.000001")
    assert_input_error(lambda: load_series(DICOM_DIR), "longer than", "MODIC_PARSE_SECONDS")


def test_too_many_zip_members(tmp_path, monkeypatch):
    z = tmp_path / "many.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(12):
            zf.writestr(f"f{i}", b"x")
    monkeypatch.setenv("MODIC_MAX_ZIP_MEMBERS", "10")
    assert_input_error(lambda: load_series(z), "12 files", "10 allowed")


# --------------------------------------------------------------------------- damaged files accepted silently


def nifti_bytes(img: sitk.Image, tmp_path) -> bytes:
    sitk.WriteImage(img, str(tmp_path / "src.nii"))
    return (tmp_path / "src.nii").read_bytes()


@pytest.mark.parametrize("kind", ["nii", "nii.gz", "cut gzip stream"])
def test_truncated_nifti(tmp_path, kind):
    data = nifti_bytes(sagittal_image((10, 64, 64), np.int16), tmp_path)
    cut = data[: int(len(data) * 0.7)]  # ITK would fill the missing 30 % with zeros
    path = tmp_path / ("t.nii" if kind == "nii" else "t.nii.gz")
    if kind == "nii":
        path.write_bytes(cut)
    elif kind == "nii.gz":
        path.write_bytes(gzip.compress(cut))
    else:
        full = gzip.compress(data)
        path.write_bytes(full[: int(len(full) * 0.7)])
    assert_input_error(lambda: load_series(path), "damaged or truncated")


@pytest.mark.parametrize("pixdim", [0.0, -1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("axis", [1, 3])
def test_nifti_invalid_pixdim(tmp_path, pixdim, axis):
    hdr = bytearray(nifti_bytes(sagittal_image((3, 32, 32)), tmp_path))
    struct.pack_into("<f", hdr, 76 + 4 * axis, pixdim)  # ITK would silently use 1.0 mm
    (tmp_path / "p.nii").write_bytes(bytes(hdr))
    assert_input_error(lambda: load_series(tmp_path / "p.nii"), "invalid voxel size")


def test_valid_nifti_still_loads(tmp_path):
    img = sagittal_image((3, 32, 32))
    data = nifti_bytes(img, tmp_path)
    (tmp_path / "ok.nii.gz").write_bytes(gzip.compress(data))
    for path in (tmp_path / "src.nii", tmp_path / "ok.nii.gz"):
        v = load_series(path)
        assert v.shape == (3, 32, 32)
        np.testing.assert_allclose(v.spacing, (4.0, 0.8, 0.8), rtol=1e-6)


@pytest.mark.parametrize(
    ("t1_slot", "t2_slot"),
    [("t2_dicom", "t1_dicom"), ("t2_dicom", "t1_unknown"), ("t1_unknown", "t1_dicom"), ("t2.mha", "t1.mha")],
)
def test_swapped_t1_and_t2_are_refused(tmp_path, t1_slot, t2_slot):
    def source(name):
        if name == "t1_dicom":
            return DICOM_DIR
        if name == "t2_dicom":
            return write_t2_series(tmp_path / "t2")
        if name == "t1_unknown":  # no description, no timing: the reader cannot tell
            def edit(i, ds):
                ds.SeriesDescription, ds.RepetitionTime, ds.EchoTime = "", "", ""
                ds.PixelData = (ds.pixel_array // 2 + 1).astype(np.uint16).tobytes()

            return write_series(tmp_path / "unknown", edit=edit)
        return SPIDER_DIR / name

    assert_input_error(lambda: load_study(source(t1_slot), source(t2_slot)), "swapped")


def zip_of_slices(tmp_path, names: list[str]):
    z = tmp_path / "s.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, path in zip(names, DICOM_FILES):
                zf.writestr(name, path.read_bytes())
    return z


@pytest.mark.parametrize(
    "names",
    [
        [f"IM{i:04d}.dcm" for i in range(13)] + ["IM 0014.dcm", "IM_0014.dcm"],  # collide after cleaning
        ["IM0001.dcm"] * 15,  # one name fifteen times
        [f"a/IM{i}.dcm" if i % 2 else f"b/IM{i - 1}.dcm" for i in range(15)],  # same names in two folders
    ],
)
def test_colliding_zip_member_names_keep_every_slice(tmp_path, names):
    z = zip_of_slices(tmp_path, names)
    assert list_series(z)[0].n_slices == 15
    assert load_series(z).shape[0] == 15
    assert load_series([("s.zip", z.read_bytes())]).shape[0] == 15


def test_colliding_upload_names_keep_every_slice():
    uploads = [(f"folder{i % 2}/IM.dcm", p.read_bytes()) for i, p in enumerate(DICOM_FILES)]
    assert load_series(uploads).shape[0] == 15


def test_slices_sharing_one_sop_instance_uid_are_all_kept(tmp_path):
    def edit(i, ds):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"

    folder = write_series(tmp_path / "uid", edit=edit)
    assert list_series(folder)[0].n_slices == 15
    assert load_series(folder).shape[0] == 15
    shutil.copy(folder / "IM0003.dcm", folder / "copy_of_IM0003.dcm")  # an exact copy still counts once
    assert load_series(folder).shape[0] == 15


# --------------------------------------------------------------------------- clear messages, right exception type


@pytest.mark.parametrize(
    "name",
    [
        "/".join(["a" * 100] * 50) + "/IM.dcm",  # 5 KB path: beyond PATH_MAX once extracted
        "/".join(["ü" * 200] * 3) + "/IM.dcm",  # 400-byte UTF-8 folder names: beyond NAME_MAX
        "é" * 250 + ".dcm",
    ],
)
def test_long_member_paths_are_read(tmp_path, name):
    z = tmp_path / "long.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i, path in enumerate(DICOM_FILES):
            zf.writestr(name.replace("IM.dcm", f"IM{i}.dcm") if "IM.dcm" in name else f"{i}{name}", path.read_bytes())
    assert load_series(z).shape[0] == 15
    assert load_series([(name, DICOM_FILES[0].read_bytes())]).shape[0] == 1


@pytest.mark.parametrize("spacing", [[1e4, 1e4], [1e-4, 1e-4], [0.5, 200.0]])
def test_implausible_pixel_spacing(tmp_path, spacing):
    def edit(i, ds):
        ds.PixelSpacing = spacing

    assert_input_error(lambda: load_series(write_series(tmp_path / "ps", edit=edit)), "implausible voxel size")


def test_implausible_slice_spacing_in_mha(tmp_path):
    img = sagittal_image()
    img.SetSpacing((0.8, 0.8, 1e4))
    sitk.WriteImage(img, str(tmp_path / "far.mha"))
    assert_input_error(lambda: load_series(tmp_path / "far.mha"), "implausible voxel size")


@pytest.mark.parametrize("bits", [1, 8, 12, 32, 64])
def test_bit_depth_problems_are_named(tmp_path, bits):
    def edit(i, ds):
        ds.BitsAllocated = bits
        ds.BitsStored = ds.HighBit = min(bits, 12) - 1 if bits > 1 else 1

    err = assert_input_error(lambda: load_series(write_series(tmp_path / "b", edit=edit)), "bit")
    assert "damaged or truncated" not in str(err)


def test_unsupported_codec_is_named(tmp_path):
    ds = fixture_datasets()[0]
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00\x00\x01\xb3" + bytes(100)])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "mpeg.dcm", enforce_file_format=False)
    err = assert_input_error(lambda: load_series(tmp_path / "mpeg.dcm"), "MPEG2", "cannot decode")
    assert "damaged" not in str(err)


def test_zip_of_zips_is_named(tmp_path):
    inner = {name: zip_of_slices(tmp_path, [f"IM{i}.dcm" for i in range(15)]).read_bytes() for name in ("T1.zip", "T2.zip")}
    outer = tmp_path / "both.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        for name, data in inner.items():
            zf.writestr(name, data)
    assert_input_error(lambda: load_series(outer), "other zip files", "T1.zip", "T2.zip")
    assert_input_error(lambda: list_series([("both.zip", outer.read_bytes())]), "other zip files")


def patched_zip(tmp_path, *, method: int | None = None, flags: int | None = None):
    """A one-member zip whose headers claim another compression method or the encryption flag."""
    z = tmp_path / "odd.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("IM1.dcm", DICOM_FILES[0].read_bytes()[:1000])
    data = bytearray(z.read_bytes())
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.find(sig)
        if method is not None:
            struct.pack_into("<H", data, at + method_at, method)
        if flags is not None:
            struct.pack_into("<H", data, at + flag_at, flags)
    z.write_bytes(bytes(data))
    return z


@pytest.mark.parametrize(("method", "phrase"), [(99, "WinZip AES"), (9, "Deflate64"), (97, "method 97")])
def test_unsupported_zip_method_is_named(tmp_path, method, phrase):
    err = assert_input_error(lambda: load_series(patched_zip(tmp_path, method=method)), "compression method", phrase)
    assert "password" not in str(err)


def test_encrypted_zip_is_named(tmp_path):
    assert_input_error(lambda: load_series(patched_zip(tmp_path, flags=0x1)), "password-protected")


def test_reader_leaves_pydicom_configuration_alone():
    """Importing and using the reader does not change pydicom's global settings (issue #10 item 7)."""
    import subprocess
    import sys

    code = (
        "import pydicom.config as c; before = c.settings.reading_validation_mode; "
        "import modic_core.io as io; assert c.settings.reading_validation_mode == before, 'import'; "
        f"io.load_series({str(DICOM_DIR)!r}); assert c.settings.reading_validation_mode == before, 'read'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
