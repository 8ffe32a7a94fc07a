"""Pre-decode checks of DICOM pixel data through the codecs' and pydicom's public header APIs."""
from __future__ import annotations

import io
import struct
import time

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit, JPEGLSLossless

from modic_core.io import load_series
from modic_core.io.dicom import check_pixel_data
from modic_core.settings import limits

from .conftest import assert_input_error, fixture_datasets


def compressed_slice(syntax: pydicom.uid.UID) -> pydicom.Dataset:
    """Fixture slice 0 (320 x 320) with seeded 12-bit noise, compressed losslessly."""
    ds = fixture_datasets()[0]
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
    ds.PixelData = np.random.default_rng(0).integers(0, 4096, (ds.Rows, ds.Columns)).astype("<u2").tobytes()
    ds.compress(syntax)
    return ds


def patch(ds: pydicom.Dataset, marker: bytes, fmt: str, skip: int, *values: int) -> None:
    """Overwrite the values after the first ``marker`` of the (single) frame, keeping its length."""
    data = bytearray(ds.PixelData)
    at = data.index(marker) + skip
    struct.pack_into(fmt, data, at, *values)
    ds.PixelData = bytes(data)


def test_jpeg2000_frame_declaring_a_size_over_the_limit_is_refused_before_decoding(tmp_path):
    """The header says 320x320; the codestream's SIZ marker says 100000 x 100000 (one tile), far
    beyond MODIC_MAX_ROWS_COLS: refused from OpenJPEG's header read, never decoded."""
    ds = compressed_slice(JPEG2000Lossless)
    assert 100_000 > limits().max_rows_cols
    # SIZ: FF51, Lsiz, Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz (big-endian uint32)
    patch(ds, b"\xff\x4f\xff\x51", ">6I", 8, 100_000, 100_000, 0, 0, 100_000, 100_000)
    ds.save_as(tmp_path / "bomb.dcm", enforce_file_format=True)
    assert (tmp_path / "bomb.dcm").stat().st_size < 300_000
    assert_input_error(lambda: load_series(tmp_path / "bomb.dcm"), "100000x100000", "320x320", "not decoded")


def test_jpeg_ls_frame_declaring_a_huge_size_is_refused_from_its_header_alone(tmp_path):
    """The JPEG-LS frame header (SOF55: FFF7, Lf, P, Y, X) says 20000 x 20000: refused in well under
    a second. A parser that decodes to read the header (libjpeg's get_parameters) would allocate the
    400 M declared pixels first and take far longer."""
    ds = compressed_slice(JPEGLSLossless)
    patch(ds, b"\xff\xf7", ">HH", 5, 20000, 20000)
    ds.save_as(tmp_path / "liar.dcm", enforce_file_format=True)
    start = time.monotonic()
    assert_input_error(lambda: load_series(tmp_path / "liar.dcm"), "20000x20000", "320x320", "not decoded")
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, JPEGLSLossless])
def test_honest_compressed_frame_is_read(tmp_path, syntax):
    ds = compressed_slice(syntax)
    ds.save_as(tmp_path / "ok.dcm", enforce_file_format=True)
    assert load_series(tmp_path / "ok.dcm").array.shape[-2:] == (320, 320)


def native(photometric: str, *, samples: int, length: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated = 4, 6, samples, 8
    ds.PhotometricInterpretation = photometric
    ds.PixelData = b"\x00" * length
    return ds


def test_expected_length_follows_pydicom_for_subsampled_colour():
    """YBR_FULL_422 stores 2 bytes per pixel for 3 samples (pydicom's get_expected_length): 48
    bytes for 4 x 6 pixels, not 72; a hand count of rows x columns x samples refused it."""
    check_pixel_data(native("YBR_FULL_422", samples=3, length=48), rows=4, cols=6, frames=1)
    check_pixel_data(native("MONOCHROME2", samples=1, length=24), rows=4, cols=6, frames=1)


def test_truncated_native_pixel_data_is_refused_with_its_sizes():
    assert_input_error(
        lambda: check_pixel_data(native("MONOCHROME2", samples=1, length=20), rows=4, cols=6, frames=1),
        "20 bytes", "6x4 pixels at 8 bits", "(24 bytes)", "truncated",
    )


def jpeg_baseline_slice() -> pydicom.Dataset:
    """Fixture slice 0 (320 x 320) as seeded 8-bit noise in one baseline JPEG frame (Pillow)."""
    ds = fixture_datasets()[0]
    pixels = np.random.default_rng(0).integers(0, 256, (ds.Rows, ds.Columns)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buf.getvalue()])
    return ds


def test_honest_baseline_jpeg_frame_is_read(tmp_path):
    jpeg_baseline_slice().save_as(tmp_path / "ok.dcm", enforce_file_format=True)
    assert load_series(tmp_path / "ok.dcm").array.shape[-2:] == (320, 320)


def test_baseline_jpeg_frame_declaring_a_huge_size_is_refused_from_its_header_alone(tmp_path):
    """The JPEG frame header (SOF0: FFC0, Lf, P, Y, X) says 20000 x 30000: refused from the header
    (Pillow reads markers only), never decoded."""
    ds = jpeg_baseline_slice()
    patch(ds, b"\xff\xc0", ">HH", 5, 20000, 30000)
    ds.save_as(tmp_path / "liar.dcm", enforce_file_format=True)
    start = time.monotonic()
    assert_input_error(lambda: load_series(tmp_path / "liar.dcm"), "header declares 320x320", "not decoded")
    assert time.monotonic() - start < 2.0


def _windowed_series(tmp_path, *, centre, width, photometric="MONOCHROME2"):
    """A seeded 3-slice series written with a non-trivial rescale, then given this WindowCenter / WindowWidth."""
    from modic_core.io.dicom_write import write_dicom_series
    from modic_core.volume import Volume

    rng = np.random.default_rng(0)
    array = rng.uniform(100.0, 900.0, size=(3, 16, 16)).astype(np.float32)  # floats: slope != 1, intercept = min
    direction = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]).T  # sagittal
    paths = write_dicom_series(Volume(array, (4.0, 1.0, 1.0), (0.0, 0.0, 0.0), direction), tmp_path, uid_seed="win")
    for p in paths:
        ds = pydicom.dcmread(p)
        assert float(ds.RescaleSlope) != 1.0 and float(ds.RescaleIntercept) != 0.0
        ds.WindowCenter, ds.WindowWidth = centre, width
        ds.PhotometricInterpretation = photometric
        ds.save_as(p)
    return load_series(tmp_path, require_sagittal=False)


def test_dicom_window_values_reach_the_volume_meta_in_the_array_units(tmp_path):
    vol = _windowed_series(tmp_path, centre=["450.5", "40"], width=["600.25", "400"])  # two windows: the first is kept
    assert vol.meta.window_center == 450.5 and vol.meta.window_width == 600.25
    assert 100.0 - 1 <= vol.array.min() and vol.array.max() <= 900.0 + 1  # the rescaled units the window is in


@pytest.mark.parametrize("centre, width, photometric", [("", "", "MONOCHROME2"), ("300", "0", "MONOCHROME2"),
                                                        ("300", "200", "MONOCHROME1")])
def test_missing_zero_width_or_inverted_dicom_window_is_none(tmp_path, centre, width, photometric):
    vol = _windowed_series(tmp_path, centre=centre, width=width, photometric=photometric)
    assert vol.meta.window_center is None and vol.meta.window_width is None


def test_the_bundled_real_series_carries_its_scanner_window():
    from .conftest import DICOM_DIR

    meta = load_series(DICOM_DIR).meta
    assert (meta.window_center, meta.window_width) == (562.0, 1190.0)  # the files' WindowCenter / WindowWidth
