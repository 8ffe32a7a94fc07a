"""Reading DICOM MR series with pydicom into :class:`~modic_core.Volume`.

- Files are grouped by SeriesInstanceUID; slices are ordered along the slice normal
  ``n = row_cosine x column_cosine`` (from ImageOrientationPatient), by the projection of
  ImagePositionPatient on ``n`` (highdicom's ``get_plane_sort_index``), as ITK/GDCM do.
- The volume's array is float32 (z, y, x) = (slice, row, column) after the modality
  rescale (RescaleSlope/Intercept); spacing is (slice spacing from the positions,
  PixelSpacing row, PixelSpacing column) in mm; origin is the ImagePositionPatient of the
  first slice; direction columns are (row cosine, column cosine, normal) in LPS: the
  patient-space directions of the x, y and z index axes, which is SimpleITK's convention.
- Compressed transfer syntaxes decode through pydicom's pixel-data plugins (pylibjpeg).

Safety: before any pixel is decoded, the declared size (rows x columns x slices, bits per
pixel) is checked against :func:`modic_core.settings.limits`, the transfer syntax must have a
decoder, uncompressed pixel data must have exactly the declared length, and each compressed
frame's own codestream header must declare the same rows and columns as the DICOM header (a
181 KB JPEG file can otherwise decode to 20000 x 20000 pixels). Reading headers and decoding a
series are each bounded by ``limits().parse_seconds``, also inside one file: pydicom's parse is
stopped at the deadline (:mod:`modic_core.io.dicom_open`, which also bounds deflated files), and
compressed series are decoded in a child process killed at the deadline
(:mod:`modic_core.io.deadline_worker`). Files without the DICOM preamble are only
parsed when they start like a DICOM dataset (pydicom would otherwise parse any file, its time growing with the file size).

Privacy: patient identifiers (PatientID, PatientName, PatientBirthDate) are read only to
compute a salted one-way hash, here, and are never stored, returned or logged. Study and
series UIDs leave this module only as hashes too. pydicom's value-validation warnings
(which may quote element values) are switched off while this module reads
(:func:`quiet_pydicom`); pydicom's global configuration is restored afterwards and is not
touched at import.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modic_core.errors import InputError
from modic_core.io.deadline_worker import call_with_deadline
from modic_core.io.dicom_open import read_dataset
from modic_core.settings import limits
from modic_core.text import DICOM_LO_CHARS, plain_text
from modic_core.volume import Volume, VolumeMeta

__all__ = [
    "DicomHeader",
    "DicomScan",
    "NON_IMAGE",
    "damaged_error",
    "guess_sequence",
    "orientation_name",
    "quiet_pydicom",
    "read_dicom_series",
    "read_header",
    "salted_hash",
    "scan_dicom",
    "too_many_series",
    "unique_instances",
]

_SALT = "modic_core:patient-hash:v1|"
_DUPLICATE_TOL_MM = 0.01
_GAP_FACTOR = 1.5
_SPACING_RTOL = 0.1
_NOT_DICOM_SUFFIXES = {
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".pdf", ".txt", ".csv",
    ".json", ".xml", ".html", ".htm", ".md", ".raw", ".zraw", ".py", ".zip", ".gz", ".doc", ".docx",
    ".mha", ".mhd", ".nii", ".nrrd",
}


_SUPPORTED_BITS = (8, 16, 32)
# First tag groups a DICOM dataset without preamble starts with (file meta, identifying, patient, ...).
_BARE_DATASET_GROUPS = {0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028}

_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Within the block, pydicom does not validate (and so never warns with) element values.

    Value-validation warnings can quote element values (names, dates). The previous mode is
    restored when the last reader leaves; nested and concurrent readers share one switch.
    """
    global _quiet_depth, _quiet_saved
    import pydicom.config  # lazy: pydicom is heavy; only DICOM input/output needs it

    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved = pydicom.config.settings.reading_validation_mode
            pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                pydicom.config.settings.reading_validation_mode = _quiet_saved


NON_IMAGE = "non-image"  # read_header's answer for DICOM files without pixels (reports, DICOMDIR)


class _Damaged(Exception):
    """A file that claims to be DICOM but cannot be parsed."""


@dataclass(frozen=True)
class DicomHeader:
    """Non-identifying header fields of one DICOM image file.

    Geometry is in LPS mm: ``iop`` = ImageOrientationPatient (row cosine, column cosine),
    ``ipp`` = ImagePositionPatient, ``pixel_spacing`` = (between rows, between columns).
    """

    path: Path
    series_key: str  # salted hash of SeriesInstanceUID
    instance_key: str  # salted hash of SOPInstanceUID (to drop the same file given twice)
    study_hash: str | None
    patient_hash: str | None
    frame_of_reference_uid: str | None
    date_hash: str | None  # salted hash of the study/series date: two examinations or one
    demographics_hash: str | None  # salted hash of PatientAge and PatientSex (public data blanks the ID)
    modality: str
    series_description: str
    series_number: int | None
    instance_number: int | None
    manufacturer: str
    field_strength_t: float | None
    repetition_time_ms: float | None
    echo_time_ms: float | None
    inversion_time_ms: float | None
    scanning_sequence: str
    rows: int
    cols: int
    frames: int
    samples_per_pixel: int
    iop: tuple[float, ...] | None
    ipp: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    bits_allocated: int | None = None
    transfer_syntax: str = ""
    photometric: str = ""  # PhotometricInterpretation, e.g. 'MONOCHROME2'
    window_center: float | None = None  # first WindowCenter value (modality units, after the rescale)
    window_width: float | None = None  # first WindowWidth value (> 0), else None

    @property
    def normal(self) -> np.ndarray | None:
        if self.iop is None:
            return None
        row, col = np.asarray(self.iop[:3]), np.asarray(self.iop[3:])
        n = np.cross(row, col)
        norm = float(np.linalg.norm(n))
        return n / norm if norm > 1e-6 else None

    @property
    def orientation(self) -> str:
        n = self.normal
        return "unknown" if n is None else orientation_name(n)

    @property
    def sequence(self) -> str:
        return guess_sequence(
            self.series_description,
            scanning_sequence=self.scanning_sequence,
            tr=self.repetition_time_ms,
            te=self.echo_time_ms,
            ti=self.inversion_time_ms,
        )


@dataclass
class DicomScan:
    """DICOM image headers of a set of files, grouped by series (key = hashed SeriesInstanceUID)."""

    series: dict[str, list[DicomHeader]] = field(default_factory=dict)
    damaged: int = 0  # files with a DICOM preamble that could not be parsed
    non_image: int = 0  # DICOM files without pixels (reports, DICOMDIR-like, presentation states)


# --------------------------------------------------------------------------- sequence / orientation


_T1 = re.compile(r"(?<![A-Z0-9])T1(?!\d)")
_T2 = re.compile(r"(?<![A-Z0-9])T2(?!\d)|STIR|TIRM|(?<![A-Z])T2W")


def guess_sequence(
    description: str,
    *,
    scanning_sequence: str = "",
    tr: float | None = None,
    te: float | None = None,
    ti: float | None = None,
) -> str:
    """'T1', 'T2' or 'unknown' from the series description, then TR/TE (ms).

    Description keywords win (T1; T2, STIR/TIRM count as T2-like). Otherwise
    TR < 1000 and TE < 30 ms means T1, TR > 2000 and TE > 60 ms means T2; a short-TI
    inversion recovery (ScanningSequence IR, TI < 250 ms) with TE > 30 ms is a STIR (T2-like).
    """
    text = (description or "").upper()
    has1, has2 = bool(_T1.search(text)), bool(_T2.search(text))
    if has1 != has2:
        return "T1" if has1 else "T2"
    if tr is not None and te is not None:
        if "IR" in (scanning_sequence or "").upper() and ti is not None and ti < 250 and te > 30:
            return "T2"
        if tr < 1000 and te < 30:
            return "T1"
        if tr > 2000 and te > 60:
            return "T2"
    return "unknown"


def orientation_name(normal: Sequence[float] | np.ndarray) -> str:
    """'sagittal', 'coronal' or 'axial' from the dominant LPS axis of a slice normal."""
    axis = int(np.argmax(np.abs(np.asarray(normal, dtype=float))))
    return ("sagittal", "coronal", "axial")[axis]


# --------------------------------------------------------------------------- headers


def scan_dicom(paths: Iterable[Path], *, seconds: float | None = None, max_series: int | None = None) -> DicomScan:
    """Read the headers of ``paths`` (no pixels) and group the DICOM images by series.

    Raises InputError when reading takes longer than ``seconds`` (default ``limits().parse_seconds``),
    and as soon as more than ``max_series`` series are seen (None: no limit), before reading the rest.
    """
    # lazy: pydicom is heavy; only DICOM input/output needs it
    import pydicom  # noqa: F401 - lazy: a slow first import, done before the deadline clock starts

    scan = DicomScan()
    paths = list(paths)
    seconds = limits().parse_seconds if seconds is None else seconds
    deadline = time.monotonic() + seconds
    for done, path in enumerate(paths):
        if time.monotonic() > deadline:
            raise _too_slow(seconds, f"after reading {done} of {len(paths)} files")
        try:
            header = read_header(path, deadline=deadline, seconds=seconds, progress=f"while reading file {done + 1} of {len(paths)}")
        except _Damaged:
            scan.damaged += 1
            continue
        if header is None:
            continue
        if header is NON_IMAGE:
            scan.non_image += 1
            continue
        scan.series.setdefault(header.series_key, []).append(header)
        if max_series is not None and len(scan.series) > max_series:
            raise too_many_series(max_series)
    return scan


def too_many_series(limit: int) -> InputError:
    """The sentence for an upload or folder holding more than ``limit`` series (``MODIC_MAX_SERIES``)."""
    return InputError(
        f"These files hold more than {limit} series, the most that is read at once. Please upload only the "
        "sagittal T1 and T2 series of one examination (for example their two folders in one zip)."
    )


def read_header(
    path: Path, *, deadline: float | None = None, seconds: float = 0.0, progress: str = ""
) -> DicomHeader | str | None:
    """Header of one file: a :class:`DicomHeader`, :data:`NON_IMAGE` for DICOM without pixels,
    or None when the file is not DICOM. Raises ``_Damaged`` for unparsable DICOM files, and
    InputError for deflate bombs and, past ``deadline`` (``time.monotonic()``), mid-parse
    (:mod:`modic_core.io.dicom_open`; ``seconds`` and ``progress`` word the message)."""
    path = Path(path)
    head = _head(path)
    magic = len(head) >= 132 and head[128:132] == b"DICM"
    if not magic and (path.suffix.lower() in _NOT_DICOM_SUFFIXES or not _looks_like_bare_dataset(head)):
        return None
    try:
        with quiet_pydicom():
            return _parse_header(path, magic, deadline=deadline, on_timeout=lambda: _too_slow(seconds, progress))
    except (_Damaged, InputError):
        raise
    except Exception as exc:  # pydicom raises many kinds of errors on damaged files
        if magic:
            raise _Damaged() from exc
        return None


def _parse_header(path: Path, magic: bool, *, deadline: float | None, on_timeout: Any) -> DicomHeader | str | None:
    ds = read_dataset(path, deadline=deadline, on_timeout=on_timeout, stop_before_pixels=True)
    if "Rows" not in ds or "Columns" not in ds:
        if _is_image_storage(ds):
            raise _Damaged()  # an image whose header ends early: truncated or damaged
        if magic or "SOPClassUID" in ds:
            return NON_IMAGE
        return None
    return _header_from_dataset(ds, path)


def _is_image_storage(ds: Any) -> bool:
    """True when the SOP class says the file should hold an image (e.g. 'MR Image Storage')."""
    from pydicom.uid import UID  # lazy: pydicom is heavy; only DICOM input/output needs it

    uid = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    return bool(uid) and "Image Storage" in UID(str(uid)).name


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(132)
    except OSError:
        return b""


def _looks_like_bare_dataset(head: bytes) -> bool:
    """True when a file without preamble starts with a plausible first DICOM tag (either byte order)."""
    if len(head) < 8:
        return False
    return any(int.from_bytes(head[:2], order) in _BARE_DATASET_GROUPS for order in ("little", "big"))


def _header_from_dataset(ds: Any, path: Path) -> DicomHeader:
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = _int(ds.get("NumberOfFrames")) or 1
    iop = _floats(ds.get("ImageOrientationPatient"), 6)
    ipp = _floats(ds.get("ImagePositionPatient"), 3)
    spacing = _floats(ds.get("PixelSpacing"), 2)
    if frames > 1:  # enhanced multi-frame: geometry lives in the shared functional groups
        iop = iop or _shared_group_value(ds, "PlaneOrientationSequence", "ImageOrientationPatient", 6)
        spacing = spacing or _shared_group_value(ds, "PixelMeasuresSequence", "PixelSpacing", 2)
    tr = _float(ds.get("RepetitionTime"))
    te = _float(ds.get("EchoTime"))
    if frames > 1:
        tr = tr if tr is not None else _functional_group_float(ds, "MRTimingAndRelatedParametersSequence", "RepetitionTime")
        te = te if te is not None else _functional_group_float(ds, "MREchoSequence", "EffectiveEchoTime")
    return DicomHeader(
        path=path,
        series_key=salted_hash(str(ds.get("SeriesInstanceUID", ""))),
        instance_key=salted_hash(str(ds.get("SOPInstanceUID", "")) or str(path)),
        study_hash=salted_hash(str(ds.get("StudyInstanceUID", ""))) if ds.get("StudyInstanceUID") else None,
        patient_hash=_patient_hash(ds),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")) or None,
        date_hash=_optional_hash(ds, ("StudyDate",)) or _optional_hash(ds, ("SeriesDate",)),
        demographics_hash=_optional_hash(ds, ("PatientAge", "PatientSex")),
        modality=plain_text(ds.get("Modality", ""), limit=16),  # CS: 16 characters
        series_description=plain_text(ds.get("SeriesDescription", ""), limit=DICOM_LO_CHARS),
        series_number=_int(ds.get("SeriesNumber")),
        instance_number=_int(ds.get("InstanceNumber")),
        manufacturer=plain_text(ds.get("Manufacturer", ""), limit=DICOM_LO_CHARS),
        field_strength_t=_float(ds.get("MagneticFieldStrength")),
        repetition_time_ms=tr,
        echo_time_ms=te,
        inversion_time_ms=_float(ds.get("InversionTime")),
        scanning_sequence="\\".join(_strings(ds.get("ScanningSequence"))),
        rows=rows,
        cols=cols,
        frames=frames,
        samples_per_pixel=_int(ds.get("SamplesPerPixel")) or 1,
        iop=iop,
        ipp=ipp,
        pixel_spacing=spacing,
        slice_thickness=_float(ds.get("SliceThickness")),
        spacing_between_slices=_float(ds.get("SpacingBetweenSlices")),
        bits_allocated=_int(ds.get("BitsAllocated")),
        transfer_syntax=str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""),
        photometric=str(ds.get("PhotometricInterpretation", "") or "").strip().upper(),
        **_window(ds),
    )


def _window(ds: Any) -> dict[str, float | None]:
    """The file's first display window, {"window_center", "window_width"}, both None unless both are finite
    numbers with a positive width. DICOM applies the VOI window to the modality values (after RescaleSlope /
    Intercept or a Modality LUT, PS3.3 C.11.2.1.2), which are the units of the volume's array, so no conversion."""
    centre, width = _float(ds.get("WindowCenter")), _float(ds.get("WindowWidth"))
    if centre is None or width is None or not width > 0:
        return {"window_center": None, "window_width": None}
    return {"window_center": centre, "window_width": width}


def _optional_hash(ds: Any, keywords: tuple[str, ...]) -> str | None:
    """Salted hash of these elements' values, or None when all are absent or blank."""
    parts = [str(ds.get(k, "") or "").strip() for k in keywords]
    return salted_hash("\x1f".join(parts)) if any(parts) else None


def _patient_hash(ds: Any) -> str | None:
    parts = [str(ds.get(k, "") or "").strip() for k in ("PatientID", "PatientName", "PatientBirthDate")]
    if not any(parts):
        return None  # fully de-identified: nothing to compare
    return salted_hash("\x1f".join(parts))


def salted_hash(text: str) -> str:
    """Salted SHA-256 of ``text``, 16 hex digits: a one-way, opaque key."""
    return hashlib.sha256((_SALT + text).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _shared_group_value(ds: Any, seq: str, keyword: str, n: int) -> tuple[float, ...] | None:
    try:
        item = ds.SharedFunctionalGroupsSequence[0]
        return _floats(getattr(item, seq)[0].get(keyword), n)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None


def _functional_group_float(ds: Any, seq: str, keyword: str) -> float | None:
    """A value from the shared functional groups, else from the first frame's."""
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        try:
            value = _float(getattr(ds[groups].value[0], seq)[0].get(keyword))
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            value = None
        if value is not None:
            return value
    return None


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [str(value)]
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, (str, bytes, int, float)):
            value = list(value)[0]  # multi-valued: take the first
        out = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    return out if math.isfinite(out) else None


def _int(value: Any) -> int | None:
    f = _float(value)
    return int(f) if f is not None and abs(f) < 2**31 else None


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        return None
    return vals


# --------------------------------------------------------------------------- volumes


def read_dicom_series(headers: Sequence[DicomHeader]) -> Volume:
    """Read one series (headers from :func:`scan_dicom`) into a Volume; see the module docstring."""
    headers = unique_instances(headers)
    if not headers:
        raise InputError("The series holds no images.")
    first = headers[0]
    if any(h.samples_per_pixel != 1 for h in headers):
        raise InputError("The series is a colour image (for example a screenshot); a greyscale MRI series is needed.")
    colour = sorted({h.photometric for h in headers} - {"MONOCHROME1", "MONOCHROME2", ""})
    if colour:
        raise InputError(
            f"The images are stored as '{colour[0]}' (PhotometricInterpretation), a colour or lookup-table encoding, "
            "not as greyscale (MONOCHROME2 or MONOCHROME1); a greyscale MRI series is needed. Please export the "
            "original MR series."
        )
    _check_declared_size(headers)
    # lazy: highdicom is heavy; only DICOM input/output needs it
    import highdicom  # noqa: F401 - lazy: a slow first import, done before the deadline clock starts

    seconds = limits().parse_seconds
    deadline = time.monotonic() + seconds
    if any(h.frames > 1 for h in headers) and len(headers) > 1:
        raise InputError("The series mixes multi-frame and single-frame DICOM files; please export it again.")
    read = _read_multiframe if first.frames > 1 else _read_single_frames
    args = (first,) if first.frames > 1 else (headers,)
    with quiet_pydicom():
        if not any(_compressed(h) for h in headers):
            return read(*args, deadline=deadline, seconds=seconds)
        # A C codec's decode of one frame cannot be interrupted here: decode in a child killed at the deadline.
        return call_with_deadline(
            functools.partial(read, deadline=deadline, seconds=seconds), *args, deadline=deadline,
            on_timeout=lambda: _too_slow(seconds, "while decoding the compressed images"),
        )


def _compressed(header: DicomHeader) -> bool:
    from pydicom.uid import UID  # lazy: pydicom is heavy; only DICOM input/output needs it

    uid = UID(header.transfer_syntax)
    return bool(header.transfer_syntax) and uid.is_transfer_syntax and uid.is_encapsulated


def unique_instances(headers: Sequence[DicomHeader]) -> list[DicomHeader]:
    """``headers`` without exact copies of one file (same SOPInstanceUID and same bytes).

    The same file given twice (e.g. in two folders of a zip) counts once; different images that
    share a SOPInstanceUID (a faulty export) are all kept, so no slice is dropped silently.
    """
    groups: dict[str, list[DicomHeader]] = {}
    for h in headers:
        groups.setdefault(h.instance_key, []).append(h)
    keep: set[int] = set()
    for group in groups.values():
        if len(group) == 1:
            keep.add(id(group[0]))
            continue
        seen: set[str] = set()
        for h in group:
            digest = _file_digest(h.path)
            if digest not in seen:
                seen.add(digest)
                keep.add(id(h))
    return [h for h in headers if id(h) in keep]


def _file_digest(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return f"unreadable:{path}"


def _check_declared_size(headers: Sequence[DicomHeader]) -> None:
    """Refuse, before decoding, series whose headers declare more than the limits or odd bit depths."""
    lim = limits()
    first = headers[0]
    n_slices = first.frames if first.frames > 1 else len(headers)
    rows = max(h.rows for h in headers)
    cols = max(h.cols for h in headers)
    if rows <= 0 or cols <= 0:
        raise damaged_error()
    if rows > lim.max_rows_cols or cols > lim.max_rows_cols or n_slices > lim.max_slices or rows * cols * n_slices > lim.max_voxels:
        raise InputError(
            f"The series declares {cols}x{rows} pixels x {n_slices} slice{'s' if n_slices != 1 else ''} "
            f"({rows * cols * n_slices:,} voxels), beyond "
            f"the limits of {lim.max_rows_cols} pixels per side, {lim.max_slices} slices and {lim.max_voxels:,} voxels; "
            "it was not decoded. Please export a standard sagittal series."
        )
    bits = sorted({h.bits_allocated for h in headers}, key=lambda b: -1 if b is None else b)
    odd = [b for b in bits if b not in _SUPPORTED_BITS]
    if odd:
        shown = "missing" if odd[0] is None else str(odd[0])
        raise InputError(
            f"The images declare an unsupported bit depth (BitsAllocated {shown}); greyscale MRI is stored with "
            "8, 16 or 32 bits per pixel. Please export the series again as standard DICOM."
        )


def _geometry_vectors(iop: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row, col = np.asarray(iop[:3], dtype=float), np.asarray(iop[3:], dtype=float)
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if abs(nr - 1) > 0.01 or abs(nc - 1) > 0.01 or abs(float(row @ col)) > 0.01:
        raise InputError(
            "The slice orientation stored in the DICOM files is invalid (not two perpendicular directions); "
            "the files may be damaged."
        )
    row, col = row / nr, col / nc
    normal = np.cross(row, col)
    return row, col, normal / np.linalg.norm(normal)


def _read_single_frames(headers: list[DicomHeader], *, deadline: float, seconds: float) -> Volume:
    # lazy: highdicom is heavy; only DICOM input/output needs it
    from highdicom.enum import AxisHandedness
    from highdicom.spatial import get_plane_sort_index

    first = headers[0]
    if any(h.iop is None or h.ipp is None for h in headers):
        raise InputError(
            "The images have no position or orientation in the patient (for example screenshots or "
            "secondary captures); an original MRI series is needed."
        )
    if any(h.pixel_spacing is None or min(h.pixel_spacing) <= 0 for h in headers):
        raise InputError("The images have no valid pixel size (PixelSpacing); the series cannot be measured.")
    sizes = sorted({(h.cols, h.rows) for h in headers})
    if len(sizes) > 1:
        shown = " and ".join(f"{c}x{r}" for c, r in sizes[:2])
        raise InputError(
            f"The images of the series have different sizes ({shown} pixels); they do not form one volume. "
            "Please choose a single sagittal series."
        )
    iops = np.array([h.iop for h in headers])
    if np.max(np.abs(iops - iops[0])) > 1e-3:
        raise InputError(
            "The series mixes images in different orientations (for example a localizer); "
            "please choose a single sagittal series."
        )
    spacings = np.array([h.pixel_spacing for h in headers])
    if np.max(np.abs(spacings - spacings[0])) > 1e-3 * float(np.max(spacings[0])):
        raise InputError("The images of the series have different pixel sizes; they do not form one volume.")
    row, col, normal = _geometry_vectors(first.iop)

    # highdicom's sort index with the (R, D) index convention and right-handedness orders the
    # planes by the position's projection on row x column: the same order and sign as ITK/GDCM.
    positions = np.array([h.ipp for h in headers], dtype=float)
    order = get_plane_sort_index(positions, first.iop, index_convention="RD", handedness=AxisHandedness.RIGHT_HANDED)
    headers = [headers[i] for i in order]
    positions = positions[order]
    dist = positions @ normal
    ps_row, ps_col = (float(v) for v in spacings[0])
    dz = _slice_spacing(dist, first)
    _check_in_plane_drift(positions, dist, normal, max(ps_row, ps_col))

    slices = []
    for done, h in enumerate(headers):
        if time.monotonic() > deadline:
            raise _too_slow(seconds, f"after decoding {done} of {len(headers)} slices")
        slices.append(_read_pixels(h, deadline=deadline, seconds=seconds, progress=f"while decoding slice {done + 1} of {len(headers)}"))
    array = np.stack(slices).astype(np.float32, copy=False)
    if first.photometric == "MONOCHROME1":  # low values are white: invert with one constant for the whole series
        array = float(array.max()) + float(array.min()) - array
    direction = np.column_stack([row, col, normal])
    meta = _meta(first)
    if len({h.frame_of_reference_uid for h in headers}) > 1:  # some anonymisers rewrite it per file
        meta = dataclasses.replace(meta, frame_of_reference_uid=None)
    return Volume(array, (dz, ps_row, ps_col), tuple(positions[0]), direction, meta)


def _slice_spacing(dist: np.ndarray, first: DicomHeader) -> float:
    """Slice spacing (mm) from positions along the normal; rejects duplicates, gaps and irregularity."""
    if len(dist) == 1:
        for value in (first.spacing_between_slices, first.slice_thickness):
            if value is not None and value > 0:
                return float(value)
        return 1.0
    diffs = np.diff(dist)
    n_dup = int(np.sum(diffs < _DUPLICATE_TOL_MM))
    if n_dup:
        raise InputError(
            f"The series contains duplicated slices ({n_dup} image(s) at the same position as another), for example "
            "repeated or multi-echo acquisitions stored together. Please export a single sagittal series."
        )
    median = float(np.median(diffs))
    gaps = np.flatnonzero(diffs > _GAP_FACTOR * median)
    if gaps.size:
        missing = int(round(float(np.sum(diffs[gaps] / median - 1))))
        raise InputError(
            f"The series has missing slices: about {max(missing, 1)} slice(s) are absent (a gap of "
            f"{float(diffs[gaps[0]]):.1f} mm where slices are {median:.1f} mm apart). Please upload the complete series."
        )
    if float(np.max(np.abs(diffs - median))) > _SPACING_RTOL * median:
        raise InputError(
            f"The slices of the series are unevenly spaced ({float(diffs.min()):.1f} to {float(diffs.max()):.1f} mm apart); "
            "they cannot be shown as one volume."
        )
    return float((dist[-1] - dist[0]) / (len(dist) - 1))


def _check_in_plane_drift(positions: np.ndarray, dist: np.ndarray, normal: np.ndarray, pixel: float) -> None:
    rel = positions - positions[0]
    drift = rel - np.outer(dist - dist[0], normal)
    if len(positions) > 1 and float(np.max(np.linalg.norm(drift, axis=1))) > pixel:
        raise InputError(
            "The slices of the series are shifted sideways against each other (a tilted or irregular acquisition); "
            "they cannot be shown as one volume."
        )


def _read_pixels(header: DicomHeader, *, deadline: float | None = None, seconds: float = 0.0, progress: str = "") -> np.ndarray:
    """Pixels of one single-frame file as float32 (rows, cols) after the modality rescale, before
    any MONOCHROME1 inversion (made once for the whole series); parsing stops at ``deadline``."""
    ds = _read_full_dataset(header, deadline=deadline, on_timeout=lambda: _too_slow(seconds, progress))
    check_pixel_data(ds, rows=header.rows, cols=header.cols, frames=1)
    try:
        arr = ds.pixel_array
        if arr.shape != (header.rows, header.cols):
            raise ValueError("unexpected pixel array shape")
        arr = _modality_rescale(arr, ds)
    except Exception as exc:  # any other decoding failure is a damaged file for the user
        raise damaged_error() from exc
    return arr


def _read_full_dataset(header: DicomHeader, *, deadline: float | None, on_timeout: Any) -> Any:
    """The whole dataset of one file (pixels included), parsed by pydicom within ``deadline``.

    A file without the Part 10 preamble and File Meta group (a bare dataset, as some archives
    store) has no transfer syntax; pydicom detects implicit or explicit VR and the byte order
    from the first element, and that is recorded so its native pixels decode (compressed pixels
    cannot be decoded without the syntax, and are refused with that reason).
    """
    # lazy: pydicom is heavy; only DICOM input/output needs it
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        ds = read_dataset(header.path, deadline=deadline, on_timeout=on_timeout)
        if "PixelData" in ds:
            ds["PixelData"]  # converted now: a damaged value representation fails here, not in a decoder
    except InputError:
        raise
    except Exception as exc:
        raise damaged_error() from exc
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return ds
    implicit, little = ds.original_encoding
    if "PixelData" in ds and ds["PixelData"].is_undefined_length:
        raise InputError(
            "The DICOM files have no file header (no 'DICM' preamble naming their transfer syntax) and hold "
            "compressed pixels, whose compression cannot be known. Please export the series as standard DICOM files."
        )
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = (
        ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little or little is None else ExplicitVRBigEndian
    )
    return ds


def check_pixel_data(ds: Any, *, rows: int, cols: int, frames: int) -> None:
    """Refuse pixel data that cannot be decoded, or would decode to another size than declared.

    Checks the transfer syntax has a decoder, the bit depth, the byte length of uncompressed data,
    and the rows/columns each compressed frame's codestream declares (JPEG, JPEG-LS, JPEG 2000).
    """
    from pydicom.uid import UID, ImplicitVRLittleEndian  # lazy: pydicom is heavy; only DICOM input/output needs it

    meta = getattr(ds, "file_meta", None)
    ts = UID(str(getattr(meta, "TransferSyntaxUID", "") or ImplicitVRLittleEndian))
    bits = _int(ds.get("BitsAllocated"))
    if bits not in _SUPPORTED_BITS:
        raise InputError(
            f"The images declare an unsupported bit depth (BitsAllocated {bits}); greyscale MRI is stored with "
            "8, 16 or 32 bits per pixel. Please export the series again as standard DICOM."
        )
    if "PixelData" not in ds:
        raise damaged_error()
    if not ts.is_transfer_syntax:
        raise InputError(
            "The files declare an unknown transfer syntax (the encoding of their pixels); they are damaged or not "
            "standard DICOM. Please export the series again."
        )
    if ts.is_encapsulated:
        _check_decoder(ts)
        _check_codestreams(ds, ts, rows=rows, cols=cols, frames=frames)
        return
    spp = _int(ds.get("SamplesPerPixel")) or 1
    photometric = str(ds.get("PhotometricInterpretation", "") or "MONOCHROME2")
    expected = _expected_length(rows=rows, cols=cols, frames=frames, spp=spp, bits=bits, photometric=photometric)
    actual = len(ds.PixelData)
    if actual != expected and actual != expected + 1:  # one padding byte keeps the length even
        others = (
            _expected_length(rows=rows, cols=cols, frames=frames, spp=spp, bits=b, photometric=photometric)
            for b in _SUPPORTED_BITS if b != bits
        )
        if any(actual in (n, n + 1) for n in others):
            hint = "the bit depth in the header (BitsAllocated) does not match the stored pixels"
        elif actual > expected:
            hint = "the header declares fewer pixels than are stored"
        else:
            hint = "the file is damaged or truncated"
        raise InputError(
            f"The pixel data holds {actual:,} bytes, but the header declares {cols}x{rows} pixels at {bits} bits "
            f"({expected:,} bytes): {hint}. Please export the series again."
        )


def _expected_length(*, rows: int, cols: int, frames: int, spp: int, bits: int, photometric: str) -> int:
    """Bytes of native pixel data (without the padding byte) for the declared size, by pydicom's
    ``get_expected_length`` (which also knows packed 1-bit data and YBR_FULL_422's subsampling)."""
    # lazy: pydicom is heavy; only DICOM input/output needs it
    from pydicom.dataset import Dataset
    from pydicom.pixels.utils import get_expected_length

    declared = Dataset()
    declared.Rows, declared.Columns, declared.NumberOfFrames = rows, cols, frames
    declared.SamplesPerPixel, declared.BitsAllocated, declared.PhotometricInterpretation = spp, bits, photometric
    return get_expected_length(declared, unit="bytes")


def _check_decoder(ts: Any) -> None:
    from pydicom.pixels import get_decoder  # lazy: pydicom is heavy; only DICOM input/output needs it

    try:
        available = get_decoder(ts).is_available
    except (NotImplementedError, ValueError):
        available = False
    if not available:
        raise InputError(
            f"The images are compressed as '{ts.name}', which this program cannot decode. Please export the "
            "series uncompressed or with JPEG, JPEG-LS, JPEG 2000 or RLE compression."
        )


def _check_codestreams(ds: Any, ts: Any, *, rows: int, cols: int, frames: int) -> None:
    # lazy: pydicom is heavy; only DICOM input/output needs it
    from pydicom.encaps import generate_frames
    from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

    if ts not in JPEGTransferSyntaxes and ts not in JPEGLSTransferSyntaxes and ts not in JPEG2000TransferSyntaxes:
        return  # RLE decodes into a buffer of the declared size
    try:
        for k, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=frames)):
            if k >= frames:
                break
            size = _codestream_size(bytes(frame[: 1 << 17]), j2k=ts in JPEG2000TransferSyntaxes)
            if size != (rows, cols):
                found = "an unreadable size" if size is None else f"{size[1]}x{size[0]} pixels"
                raise InputError(
                    f"The compressed image data declares {found}, but the DICOM header declares {cols}x{rows}; "
                    "the file is damaged or inconsistent and was not decoded. Please export the series again."
                )
    except InputError:
        raise
    except Exception as exc:
        raise damaged_error() from exc


def _codestream_size(src: bytes, *, j2k: bool) -> tuple[int, int] | None:
    """(rows, columns) a JPEG/JPEG-LS or JPEG 2000 codestream declares, or None if unparsable.

    Only the main header is read, never the pixels. JPEG 2000 (bare codestream or JP2) by
    OpenJPEG's public ``openjpeg.get_parameters``: it reports the image's far corner (Xsiz, Ysiz),
    not its size less the image offset (XOsiz, YOsiz), so a codestream with an offset (unused in
    DICOM) reads as inconsistent and is refused; it sets up per-tile state while reading the header
    (bounded by the standard's 65,535 tiles), one reason compressed series are checked and decoded
    in the child process of :func:`read_dicom_series`.

    JPEG (baseline, extended, lossless) by Pillow's public ``Image.open``, which reads the markers
    up to the frame header and decodes nothing; a size over Pillow's own decompression-bomb limit
    is reported as unreadable (refused). JPEG-LS (frame header SOF55, ITU-T T.87) has no public
    header-only reader (pydicom's is private; ``libjpeg.get_parameters`` decodes the whole frame,
    so its cost grows with the declared size this check refuses), so :func:`_jpeg_ls_size` walks its
    marker segments.
    """
    if j2k:
        import openjpeg  # lazy: the JPEG 2000 codec is needed only for JPEG 2000 series

        try:
            info = openjpeg.get_parameters(src)
        except (RuntimeError, ValueError):
            return None
        return int(info["rows"]), int(info["columns"])
    size = _jpeg_ls_size(src)
    if size is not None:
        return size
    try:
        with Image.open(io.BytesIO(src), formats=["JPEG"]) as im:
            width, height = im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return int(height), int(width)


_SOF55 = 0xF7  # JPEG-LS frame header marker (ITU-T T.87, C.2.2)
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTm carry no length field


def _jpeg_ls_size(src: bytes) -> tuple[int, int] | None:
    """(rows, columns) of a JPEG-LS frame header, or None when ``src`` has none before its scan.

    Walks the marker segments after SOI: each is 0xFF, a marker byte and a big-endian length that
    counts itself. SOF55's payload is precision (1 byte), Y lines and X columns (2 bytes each).
    """
    if src[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(src):
        if src[pos] != 0xFF:
            return None
        marker = src[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(src[pos + 2:pos + 4], "big")
        if marker == _SOF55:
            if length < 7 or pos + 9 > len(src):
                return None
            return int.from_bytes(src[pos + 5:pos + 7], "big"), int.from_bytes(src[pos + 7:pos + 9], "big")
        if marker in (0xDA, 0xD9) or length < 2:  # start of scan / end of image: no frame header
            return None
        pos += 2 + length
    return None


def _modality_rescale(arr: np.ndarray, ds: Any) -> np.ndarray:
    """Stored values to modality values as float32: a Modality LUT, or slope * value + intercept.

    A slope or intercept given alone still applies (the other takes its default); with
    overflow beyond float32 the result holds infinities, which the volume checks reject.
    """
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut  # lazy: pydicom is heavy; only DICOM input/output needs it

        return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    slope = _rescale_value(ds, "RescaleSlope", 1.0)
    intercept = _rescale_value(ds, "RescaleIntercept", 0.0)
    out = arr.astype(np.float64)
    if slope != 1.0 or intercept != 0.0:
        out = out * slope + intercept
    with np.errstate(over="ignore"):
        return out.astype(np.float32)


def _rescale_value(ds: Any, keyword: str, default: float) -> float:
    raw = ds.get(keyword)
    if raw is None or str(raw).strip() == "":
        return default
    value = _float(raw)
    if value is None:  # present but not a finite number: a damaged header
        raise ValueError(f"invalid {keyword}")
    return value


def _read_multiframe(header: DicomHeader, *, deadline: float | None = None, seconds: float = 0.0) -> Volume:
    """An enhanced (multi-frame) image through highdicom's volume support (which inverts
    MONOCHROME1); the parse stops at ``deadline`` (compressed frames decode in a child process
    killed at it, see :func:`read_dicom_series`)."""
    import highdicom  # lazy: highdicom is heavy; only DICOM input/output needs it

    ds = _read_full_dataset(header, deadline=deadline, on_timeout=lambda: _too_slow(seconds, "while reading the multi-frame file"))
    check_pixel_data(ds, rows=header.rows, cols=header.cols, frames=header.frames)
    try:
        image = highdicom.Image.from_dataset(ds, copy=False)
        hvol = image.get_volume()
        array = np.asarray(hvol.array, dtype=np.float32)
        affine = np.asarray(hvol.affine, dtype=float)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            "The multi-frame DICOM file could not be arranged as a regular volume (it may be damaged, or its "
            "frames may not form evenly spaced slices)."
        ) from exc
    if deadline is not None and time.monotonic() > deadline:
        raise _too_slow(seconds, "after decoding the multi-frame file")
    if array.ndim != 3:
        raise InputError("The multi-frame DICOM file is not a greyscale volume.")
    # highdicom's array axes are (frame, row, column); affine columns map each axis to LPS mm.
    vz, vy, vx = affine[:3, 0], affine[:3, 1], affine[:3, 2]
    sz, sy, sx = (float(np.linalg.norm(v)) for v in (vz, vy, vx))
    ux, uy, uz = vx / sx, vy / sy, vz / sz
    origin = affine[:3, 3].copy()
    if float(np.cross(ux, uy) @ uz) < 0:  # keep the ITK handedness: slice axis along row x column
        array = array[::-1].copy()
        origin = origin + vz * (array.shape[0] - 1)
        uz = -uz
    return Volume(array, (sz, sy, sx), tuple(origin), np.column_stack([ux, uy, uz]), _meta(header))


def _too_slow(seconds: float, progress: str) -> InputError:
    return InputError(
        f"Reading the files took longer than the {seconds:g} s allowed (MODIC_PARSE_SECONDS) and was stopped "
        f"{progress}. Please give only the two sagittal series you need."
    )


def damaged_error() -> InputError:
    return InputError(
        "Some DICOM files of the series are damaged or truncated (their pixel data is missing or incomplete). "
        "Please export the series again."
    )


def _meta(h: DicomHeader) -> VolumeMeta:
    return VolumeMeta(
        modality=h.modality or "MR",
        series_description=h.series_description,
        sequence=h.sequence,
        repetition_time_ms=h.repetition_time_ms,
        echo_time_ms=h.echo_time_ms,
        manufacturer=h.manufacturer,
        field_strength_t=h.field_strength_t,
        patient_hash=h.patient_hash,
        study_hash=h.study_hash,
        series_uid_hash=h.series_key,
        frame_of_reference_uid=h.frame_of_reference_uid,
        date_hash=h.date_hash,
        demographics_hash=h.demographics_hash,
        source="dicom",
        # MONOCHROME1 arrays are inverted at read time, so the file's window no longer fits them
        window_center=None if h.photometric == "MONOCHROME1" else h.window_center,
        window_width=None if h.photometric == "MONOCHROME1" else h.window_width,
    )
