"""The NIfTI-1/NIfTI-2 header fields the reader checks, and the voxel-to-patient geometry they give.

ITK's NIfTI reader decides some things differently from nibabel and FSL, and some silently; the
product follows nibabel (the reference NIfTI implementation in Python) and says so:

- **Data offset** (``vox_offset``): a single-file NIfTI keeps its voxels after the header, so the
  offset must be a whole number of at least 352 bytes (NIfTI-1; 544 for NIfTI-2). nibabel refuses
  1..351 and negative offsets (``HeaderDataError`` "vox offset ... too low for single file
  nifti1", error level 40 of ``Nifti1Header._chk_offset``); ITK's nifti_clib raises them to the
  header size, 348, and reads the voxels 4 bytes early. An offset of 0 (nibabel: "unset") is read
  wrong by both (nibabel from byte 0, ITK from byte 348). We refuse all of these; offsets that are
  not a multiple of 16 are only an SPM compatibility warning in nibabel, and are read.
- **qform or sform** (:func:`nifti_geometry`): nibabel's ``get_best_affine`` uses the sform when
  ``sform_code > 0``, else the qform when ``qform_code > 0``; FSL does the same. ITK 5.4 uses the
  sform only when it is orthonormal and the qform code is 0, or the sform code is 1 (scanner), or
  both describe nearly the same space; otherwise it silently uses the qform (and it silently
  replaces a sheared sform by the qform; ``ITK_NIFTI_SFORM_PERMISSIVE`` would orthogonalise it
  instead). We use the sform when its code is > 0, refuse a sheared one (a rigid voxel grid is
  needed; resampling would be a guess), and add a note when a qform is also set and the two
  disagree by more than :data:`AFFINE_TOL_MM`.
- **Complex voxels** (datatype 32, 1792, 2048) are refused: MRI magnitude images are needed.
- **NaN and infinite voxels**: nifti_clib replaces them with 0 while reading ("fixed nan/inf
  values"), so a damaged float image would look valid; :data:`FLOAT_DTYPES` names the
  datatypes whose data the header check scans.

Matrices are in patient LPS mm (NIfTI stores RAS: the first two rows change sign).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import nibabel
import numpy as np

from modic_core.errors import InputError
from modic_core.io.validation import orthonormal, sheared_error

__all__ = [
    "AFFINE_TOL_MM",
    "COMPLEX_DTYPES",
    "FLOAT_DTYPES",
    "NiftiGeometry",
    "NiftiHeader",
    "check_offset",
    "nifti_geometry",
    "parse_nifti_header",
]

#: Largest difference (mm, any entry of the 3 x 4 voxel-to-patient matrix) between qform and sform
#: that is taken as the same geometry (both are stored in float32).
AFFINE_TOL_MM = 1e-3
COMPLEX_DTYPES = {32: "complex64", 1792: "complex128", 2048: "complex256"}
FLOAT_DTYPES = {16: "f4", 64: "f8"}  # float128 (1536) has no portable numpy type; ITK reads it as double
_MIN_OFFSET = {1: 352, 2: 544}
_MAGIC = {1: (b"n+1\x00", b"ni1\x00"), 2: (b"n+2\x00", b"ni2\x00")}  # single file, paired .hdr/.img
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class NiftiHeader:
    """Fields of one NIfTI header (``order`` is its byte order, '<' or '>'; ``magic`` its 4 magic bytes)."""

    version: int  # 1 or 2
    order: str
    magic: bytes
    dims: tuple[int, ...]  # dim[0..7]
    datatype: int
    bitpix: int
    pixdim: tuple[float, ...]  # pixdim[0..7]; pixdim[0] is qfac
    vox_offset: float
    qform_code: int
    sform_code: int
    quatern: tuple[float, float, float]  # b, c, d
    qoffset: tuple[float, float, float]
    srow: tuple[tuple[float, ...], ...]  # srow_x, srow_y, srow_z (4 values each, RAS mm)

    @property
    def ndim(self) -> int:
        return self.dims[0]

    @property
    def voxels(self) -> int:
        return math.prod(self.dims[1 : self.ndim + 1])


@dataclass(frozen=True)
class NiftiGeometry:
    """Voxel-to-patient geometry of a NIfTI file in ITK terms (index order x, y, z).

    ``spacing`` mm per axis, ``origin`` LPS mm of voxel (0, 0, 0), ``direction`` 3 x 3 LPS with
    the axes' unit vectors as columns; ``source`` is 'sform' or 'qform'; ``notes`` are sentences
    for the user (e.g. the qform that was not used).
    """

    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    source: str
    notes: tuple[str, ...] = ()


def parse_nifti_header(block: bytes) -> NiftiHeader | None:
    """The single-file or paired NIfTI-1/NIfTI-2 header at the start of ``block`` (the first 348 or
    540 bytes of the file, decompressed for .nii.gz), either byte order; None when ``block`` is not
    one (too short, no 348/540 header size in either byte order, or no NIfTI magic).

    Read by nibabel's ``Nifti1Header``/``Nifti2Header`` (byte order guessed from ``sizeof_hdr``)
    without nibabel's own checks and fixes (``check=False``): the checks that refuse a file, each
    with its own sentence, are this module's and :mod:`modic_core.io.image_headers`'.
    """
    for version, klass in ((1, nibabel.Nifti1Header), (2, nibabel.Nifti2Header)):
        size = klass.template_dtype.itemsize
        if len(block) < size:
            continue
        h = klass(block[:size], check=False)
        magic = h.structarr["magic"].tobytes()
        if int(h["sizeof_hdr"]) != size or magic not in _MAGIC[version]:
            continue
        return NiftiHeader(
            version=version, order=h.endianness, magic=magic, dims=tuple(int(d) for d in h["dim"]),
            datatype=int(h["datatype"]), bitpix=int(h["bitpix"]), pixdim=tuple(float(p) for p in h["pixdim"]),
            vox_offset=float(h["vox_offset"]), qform_code=int(h["qform_code"]), sform_code=int(h["sform_code"]),
            quatern=_floats(h, "quatern_b", "quatern_c", "quatern_d"),
            qoffset=_floats(h, "qoffset_x", "qoffset_y", "qoffset_z"),
            srow=tuple(tuple(float(v) for v in h[row]) for row in ("srow_x", "srow_y", "srow_z")),
        )
    return None


def _floats(h: nibabel.Nifti1Header, *fields: str) -> tuple[float, float, float]:
    a, b, c = (float(h[f]) for f in fields)
    return a, b, c


def check_offset(h: NiftiHeader, name: str) -> None:
    """Refuse a data offset inside the header, negative, or not a whole number (module docstring)."""
    minimum = _MIN_OFFSET[h.version]
    if not math.isfinite(h.vox_offset) or h.vox_offset < minimum or h.vox_offset != int(h.vox_offset):
        raise InputError(
            f"The NIfTI file '{name}' declares its image data at byte {h.vox_offset:g}, but the voxels of a .nii file "
            f"start after its header, at byte {minimum} or later (a whole number); the file is damaged. Please export "
            "the image again."
        )


def nifti_geometry(h: NiftiHeader, name: str) -> NiftiGeometry | None:
    """Geometry by nibabel's rule (sform when ``sform_code > 0``, else qform when
    ``qform_code > 0``), or None when neither is set. Raises InputError for a sheared or
    singular sform, or non-finite values."""
    qform = _qform(h) if h.qform_code > 0 else None
    if h.sform_code > 0:
        sform = np.asarray(h.srow, dtype=float).reshape(3, 4)
        geometry = _from_affine(sform, "sform", name)
        if qform is not None and float(np.max(np.abs(qform - sform))) > AFFINE_TOL_MM:
            note = (
                f"The NIfTI file '{name}' holds two different placements in the patient (its sform and qform place "
                f"voxels up to {_largest_shift(qform, sform, h):.1f} mm apart); the sform was used, as nibabel and "
                "FSL do."
            )
            geometry = NiftiGeometry(geometry.spacing, geometry.origin, geometry.direction, "sform", (note,))
        return geometry
    if qform is not None:
        return _from_affine(qform, "qform", name)
    return None


def _largest_shift(a: np.ndarray, b: np.ndarray, h: NiftiHeader) -> float:
    """Largest distance (mm) between where two 3 x 4 matrices put the corner voxels of the image."""
    n = [max(int(d), 1) - 1 for d in h.dims[1:4]]
    corners = np.array([[i, j, k, 1.0] for i in (0, n[0]) for j in (0, n[1]) for k in (0, n[2])])
    return float(np.max(np.linalg.norm(corners @ (a - b).T, axis=1)))


def _qform(h: NiftiHeader) -> np.ndarray:
    """The qform's 3 x 4 voxel-to-RAS matrix (NIfTI-1 'method 2', as nibabel's ``get_qform``)."""
    b, c, d = (float(v) for v in h.quatern)
    a = math.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
    rot = np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ])
    qfac = -1.0 if h.pixdim[0] < 0 else 1.0
    zooms = np.array([_zoom(h.pixdim[1]), _zoom(h.pixdim[2]), _zoom(h.pixdim[3]) * qfac])
    return np.column_stack([rot * zooms, np.asarray(h.qoffset, dtype=float)])


def _zoom(p: float) -> float:
    """A voxel size of a missing axis (2D files: pixdim[3] may be 0) counts as 1 mm."""
    return float(p) if math.isfinite(p) and p > 0 else 1.0


def _from_affine(affine: np.ndarray, source: str, name: str) -> NiftiGeometry:
    lps = _RAS_TO_LPS @ affine
    cols = lps[:, :3]
    spacing = np.linalg.norm(cols, axis=0)
    if not np.all(np.isfinite(lps)) or np.any(spacing <= 1e-6):
        raise InputError(
            f"The NIfTI file '{name}' has an invalid placement in the patient ({source} with missing or "
            "non-numeric values); the file is damaged. Please export the image again."
        )
    direction = cols / spacing
    if not orthonormal(direction):
        raise sheared_error(f"image '{name}'")
    return NiftiGeometry(tuple(float(s) for s in spacing), tuple(float(v) for v in lps[:, 3]), direction, source)

