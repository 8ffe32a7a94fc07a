"""Checking MHA/MHD, NRRD and NIfTI headers before a voxel is read.

:func:`inspect_image` sniffs the format from the file's content (never trusting the name),
then refuses, each with an :class:`~modic_core.InputError`:

- detached headers (.mhd ``ElementDataFile``, NRRD ``data file``) that point anywhere but to a
  regular file in the header's own folder (absolute paths, ``..``, symbolic links leading out,
  devices such as ``/dev/urandom``, file lists and patterns): an upload must never make the
  server read its own files;
- declared sizes beyond :func:`modic_core.settings.limits` (voxels, rows/columns, slices), read
  from the header with SimpleITK's ``ReadImageInformation``, so a small compressed file cannot
  unpack into a huge image;
- NIfTI files whose voxel size (pixdim) is 0, negative or not a number (ITK would silently use
  1 mm), and NIfTI files holding fewer voxel bytes than their header declares (ITK would fill the
  rest with zeros);
- NIfTI data offsets inside the header, sheared sforms, and float voxels that are NaN or infinite
  (ITK would read them as 0), as :mod:`modic_core.io.nifti_header` explains; complex-valued
  images of any format.

The NIfTI geometry nibabel would use (sform when its code is set, else qform) comes back in
``ImageHeader.geometry`` for the reader to apply, and as the header's spacing and direction.

Sizes are in ITK order (x, y, z) = (column, row, slice).
"""
from __future__ import annotations

import gzip
import math
import os
import stat
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from modic_core.errors import InputError
from modic_core.io.inflate import GZIP, inflate_chunks
from modic_core.io.nifti_header import (
    COMPLEX_DTYPES,
    FLOAT_DTYPES,
    NiftiGeometry,
    check_offset,
    nifti_geometry,
    parse_nifti_header,
)
from modic_core.settings import limits

__all__ = ["ImageHeader", "inspect_image"]

_MAX_TEXT_HEADER = 1 << 20  # bytes of a MetaImage/NRRD text header searched for the data-file field


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header declares; ``io_name`` is the SimpleITK ImageIO that reads it."""

    io_name: str  # 'MetaImageIO', 'NrrdImageIO' or 'NiftiImageIO'
    size: tuple[int, ...]  # voxels per axis, ITK order (x, y[, z])
    components: int
    direction: tuple[float, ...]  # row-major, dimension x dimension
    spacing: tuple[float, ...] = ()  # mm per axis, ITK order
    geometry: NiftiGeometry | None = None  # NIfTI: the qform/sform placement to use (nibabel's rule)


def inspect_image(path: str | Path) -> ImageHeader:
    """Header of one image file, checked as the module docstring says, without decoding voxels."""
    path = Path(path)
    head = _head(path)
    geometry = None
    if head.startswith(b"\x1f\x8b"):
        io_name = "NiftiImageIO"  # the only compressed single-file format read here
        geometry = _check_nifti(path, compressed=True)
    elif parse_nifti_header(head) is not None:
        io_name = "NiftiImageIO"
        geometry = _check_nifti(path, compressed=False)
    elif head.startswith(b"NRRD"):
        io_name = "NrrdImageIO"
        _check_data_file(path, _text_field(path, ("data file", "datafile"), separator=b":", stop_at_blank=True))
    elif b"=" in head and b"\x00" not in head[:64]:
        io_name = "MetaImageIO"
        _check_data_file(path, _text_field(path, ("elementdatafile",), separator=b"=", stop_at_blank=False), local_ok=True)
    else:
        raise _unreadable(path)
    header = _declared_size(path, io_name)
    if geometry is None or len(header.size) != 3:
        return header
    return replace(header, geometry=geometry, spacing=geometry.spacing,
                   direction=tuple(float(v) for v in geometry.direction.flatten()))


# --------------------------------------------------------------------------- detached data files


def _head(path: Path, n: int = 1024) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise _unreadable(path) from exc


def _text_field(path: Path, keys: tuple[str, ...], *, separator: bytes, stop_at_blank: bool) -> str | None:
    """Value of the first header line ``key <separator> value`` (case-insensitive key), or None."""
    read = 0
    with open(path, "rb") as fh:
        for line in fh:
            read += len(line)
            if read > _MAX_TEXT_HEADER:
                break
            text = line.rstrip(b"\r\n")
            if stop_at_blank and not text.strip():
                return None  # NRRD: the header ends at the first blank line
            if separator not in text:
                continue
            key, _, value = text.partition(separator)
            if key.strip().decode("latin-1").lower() in keys:
                return value.strip().decode("utf-8", "surrogateescape")
    if separator == b"=":  # MetaImage: the data-file field ends every header
        raise _unreadable(path)
    return None


def _check_data_file(path: Path, value: str | None, *, local_ok: bool = False) -> None:
    """A detached data file must be one regular file in the header's own folder."""
    if value is None or (local_ok and value.upper() == "LOCAL"):
        return
    words = value.split()
    if not words or words[0].upper() == "LIST" or "%" in value or len(words) > 1 and words[-1].lstrip("-").isdigit():
        raise InputError(
            f"The header file '{path.name}' spreads its image over a list or pattern of data files, which is "
            "not supported. Please convert it to a single .mha, .nrrd or .nii file."
        )
    folder = path.parent.resolve()
    ref = Path(value)
    target = (folder / ref).resolve()
    outside = ref.is_absolute() or ".." in ref.parts or not target.is_relative_to(folder)
    if outside:
        raise InputError(
            f"The header file '{path.name}' points to image data outside its own folder; for safety only a data "
            "file next to the header is read. Please upload the header together with its data file, or a single "
            ".mha, .nrrd or .nii file."
        )
    try:
        mode = os.stat(target).st_mode
    except OSError as exc:
        raise InputError(
            f"The data file '{ref.name}' named by the header '{path.name}' is missing; please upload both files together."
        ) from exc
    if not stat.S_ISREG(mode):
        raise InputError(f"The data file named by the header '{path.name}' is not a regular file; it was not read.")


# --------------------------------------------------------------------------- NIfTI


def _check_nifti(path: Path, *, compressed: bool) -> NiftiGeometry | None:
    """Reject paired (.hdr/.img) headers, invalid voxel sizes, data offsets or voxel types,
    truncated voxel data and NaN/infinite voxels (:mod:`modic_core.io.nifti_header`); return the
    geometry nibabel would use (None when the header sets neither qform nor sform)."""
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as fh:
            hdr = fh.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise _damaged_nifti(path) from exc
    h = parse_nifti_header(hdr)
    if h is None:
        raise _unreadable(path)
    if h.magic[:4] not in (b"n+1\x00", b"n+2\x00"):
        raise _paired_nifti(path)
    ndim, dims, bitpix, pixdim = h.ndim, h.dims, h.bitpix, h.pixdim
    if not 1 <= ndim <= 7 or any(d < 1 for d in dims[1 : ndim + 1]) or bitpix <= 0 or not math.isfinite(h.vox_offset):
        raise _damaged_nifti(path)
    spatial = pixdim[1 : min(ndim, 3) + 1]
    if not all(math.isfinite(p) and p > 0 for p in spatial):
        shown = ", ".join(f"{p:g}" for p in spatial)
        raise InputError(
            f"The NIfTI file '{path.name}' declares an invalid voxel size ({shown} mm); voxel sizes must be positive "
            "numbers. Please export the image again."
        )
    if h.datatype in COMPLEX_DTYPES:
        raise _complex_error(path)
    check_offset(h, path.name)
    voxels = h.voxels
    _check_voxels(path, voxels)
    geometry = nifti_geometry(h, path.name)
    expected = int(h.vox_offset) + voxels * ((bitpix + 7) // 8)
    dtype = FLOAT_DTYPES.get(h.datatype)
    if _scan_data(path, compressed=compressed, at_least=expected, offset=int(h.vox_offset),
                  dtype=None if dtype is None else np.dtype(dtype).newbyteorder(h.order)) < expected:
        raise _damaged_nifti(path)
    return geometry


def _scan_data(path: Path, *, compressed: bool, at_least: int, offset: int, dtype: np.dtype | None) -> int:
    """Bytes in the file (decompressed), counted up to ``at_least`` (already bounded by the limits);
    with a float ``dtype``, voxels from ``offset`` on that are NaN or infinite raise InputError.

    A .nii.gz is inflated in 1 MiB pieces (:func:`modic_core.io.inflate.inflate_chunks`; a gzip
    file with bytes after its last member is read as zlib reads it, the bytes ignored).
    """
    if not compressed and dtype is None:
        return path.stat().st_size
    n = 0
    carry = b""  # bytes of a voxel split between two pieces
    try:
        with open(path, "rb") as fh:
            pieces = inflate_chunks(fh, wbits=GZIP, max_out=at_least) if compressed else iter(lambda: fh.read(1 << 20), b"")
            for piece in pieces:
                start = n
                n += len(piece)
                if dtype is None or n <= offset:
                    continue
                data = carry + piece[max(0, offset - start) : max(0, at_least - start)]
                usable = len(data) - len(data) % dtype.itemsize
                carry = data[usable:]
                if not np.all(np.isfinite(np.frombuffer(data[:usable], dtype=dtype))):
                    raise InputError(
                        f"The NIfTI file '{path.name}' contains invalid voxel values (NaN or infinity); the file may "
                        "be damaged. Please export the image again."
                    )
                if n >= at_least:
                    break
    except (OSError, EOFError, zlib.error):
        return n if n >= at_least else -1
    return n


def _complex_error(path: Path) -> InputError:
    return InputError(
        f"The image '{path.name}' holds complex-valued voxels (real and imaginary parts), which are not supported; "
        "Modic grading needs magnitude images. Please export the magnitude image."
    )


def _damaged_nifti(path: Path) -> InputError:
    return InputError(
        f"The NIfTI file '{path.name}' is damaged or truncated: it holds less image data than its header declares. "
        "Please export the image again."
    )


def _paired_nifti(path: Path) -> InputError:
    return InputError(
        f"The file '{path.name}' is a NIfTI header whose voxels live in a separate .img file, which is not supported. "
        "Please convert it to a single .nii or .nii.gz file."
    )


# --------------------------------------------------------------------------- declared size


def _declared_size(path: Path, io_name: str) -> ImageHeader:
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    reader = sitk.ImageFileReader()
    reader.SetImageIO(io_name)
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise _unreadable(path) from exc
    size = tuple(int(s) for s in reader.GetSize())
    components = int(reader.GetNumberOfComponents())
    if "complex" in sitk.GetPixelIDValueAsString(reader.GetPixelID()):
        raise _complex_error(path)
    lim = limits()
    if any(s > lim.max_rows_cols for s in size[:2]) or (len(size) > 2 and size[2] > lim.max_slices):
        shown = " x ".join(str(s) for s in size)
        raise InputError(
            f"The image '{path.name}' declares {shown} voxels, beyond the limits of {lim.max_rows_cols} pixels per "
            f"side and {lim.max_slices} slices; it was not decoded. Please export a standard sagittal series."
        )
    _check_voxels(path, math.prod(size) * components)
    return ImageHeader(io_name, size, components, tuple(float(d) for d in reader.GetDirection()),
                       tuple(float(v) for v in reader.GetSpacing()))


def _check_voxels(path: Path, voxels: int) -> None:
    limit = limits().max_voxels
    if voxels > limit:
        raise InputError(
            f"The image '{path.name}' declares {voxels:,} voxels, more than the {limit:,} allowed "
            "(MODIC_MAX_VOXELS); it was not decoded. Please export a standard sagittal series."
        )


def _unreadable(path: Path) -> InputError:
    return InputError(
        f"The file '{path.name}' could not be read as an MHA/NIfTI image; it may be damaged or of another type."
    )
