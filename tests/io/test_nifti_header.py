"""NIfTI-1 and NIfTI-2 headers, both byte orders, plain and gzip'd, read through nibabel."""
from __future__ import annotations

import gzip

import nibabel
import numpy as np
import pytest

from modic_core.io.image_headers import inspect_image
from modic_core.io.nifti_header import parse_nifti_header

from .conftest import assert_input_error

VERSIONS = {1: nibabel.Nifti1Image, 2: nibabel.Nifti2Image}
SPACING = (0.6, 0.7, 4.0)  # mm


def write_nifti(path, *, version: int, order: str, gz: bool = False, vox_offset: int | None = None):
    """A seeded 6 x 5 x 4 int16 image (sform set, qform the same) in the given version and byte order."""
    data = np.random.default_rng(0).integers(0, 1000, (6, 5, 4)).astype(order + "i2")
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = (10.0, -20.0, 30.0)
    image = VERSIONS[version](data, affine)
    image.header.set_data_dtype(np.dtype(order + "i2"))
    block = image.header.binaryblock if image.header.endianness == order else image.header.as_byteswapped(order).binaryblock
    header = VERSIONS[version].header_class(block, endianness=order, check=False)
    header["vox_offset"] = {1: 352, 2: 544}[version] if vox_offset is None else vox_offset
    raw = header.binaryblock + b"\x00" * 4 + data.astype(order + "i2").tobytes(order="F")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("order", ["<", ">"])
def test_header_fields_in_both_versions_and_byte_orders(tmp_path, version, order):
    path = write_nifti(tmp_path / "a.nii", version=version, order=order)
    h = parse_nifti_header(path.read_bytes()[:540])
    assert h is not None
    assert (h.version, h.order, h.magic) == (version, order, b"n+%d\x00" % version)
    assert h.dims[:4] == (3, 6, 5, 4) and h.datatype == 4 and h.bitpix == 16
    np.testing.assert_allclose(h.pixdim[1:4], SPACING, rtol=1e-6)
    assert h.vox_offset == {1: 352, 2: 544}[version]
    assert h.sform_code > 0
    np.testing.assert_allclose(h.srow[0], (0.6, 0, 0, 10.0), rtol=1e-6)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("gz", [False, True])
def test_inspect_image_reads_both_byte_orders_and_gzip(tmp_path, order, gz):
    """NIfTI-1 end to end (SimpleITK, which reads the voxels, does not open NIfTI-2 files)."""
    path = write_nifti(tmp_path / ("a.nii.gz" if gz else "a.nii"), version=1, order=order, gz=gz)
    header = inspect_image(path)
    assert header.io_name == "NiftiImageIO" and header.size == (6, 5, 4)
    np.testing.assert_allclose(header.spacing, SPACING, rtol=1e-6)
    assert header.geometry is not None and header.geometry.source == "sform"
    np.testing.assert_allclose(header.geometry.origin, (-10.0, 20.0, 30.0), rtol=1e-6)  # RAS -> LPS


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("gz", [False, True])
def test_offset_inside_the_header_is_refused_in_both_versions_and_byte_orders(tmp_path, version, order, gz):
    """The header checks run on NIfTI-2 too, gzip'd or not, before any voxel is read."""
    path = write_nifti(tmp_path / ("a.nii.gz" if gz else "a.nii"), version=version, order=order, gz=gz, vox_offset=100)
    assert_input_error(lambda: inspect_image(path), "byte 100", "damaged")


def test_not_a_nifti_header():
    assert parse_nifti_header(b"\x00" * 540) is None
    assert parse_nifti_header(b"NRRD0004\n") is None
