"""Writing a :class:`~modic_core.volume.Volume` as a DICOM MR image series (one file per slice).

Geometry tags follow the volume exactly: ImageOrientationPatient = the patient-space directions
of the column (x) and row (y) index axes, ImagePositionPatient = LPS mm of each slice's first
pixel, PixelSpacing = (row spacing, column spacing) = (spacing[1], spacing[2]) mm,
SliceThickness = SpacingBetweenSlices = spacing[0] mm. Pixels are stored as 16-bit unsigned
integers with one RescaleSlope/RescaleIntercept for the whole series, so that
value = stored * slope + intercept (exact for integer volumes in 0..65535).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from modic_core.volume import Volume

__all__ = ["write_dicom_series", "rescale_for_uint16", "deterministic_uid"]

_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def deterministic_uid(*parts: str) -> str:
    """A UID under the 2.25 root (UUID-derived) computed from ``parts``: same parts, same UID."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _ds(x: float) -> str:
    """A decimal string (VR DS, at most 16 characters) for ``x``."""
    from pydicom.valuerep import format_number_as_ds  # lazy: pydicom is heavy; only DICOM input/output needs it

    x = float(x)
    if abs(x) < 1e-12:
        x = 0.0
    return format_number_as_ds(x)


def rescale_for_uint16(array: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map float values to uint16 ``stored`` with ``array ~= stored * slope + intercept``.

    Integer-valued arrays within 0..65535 are stored exactly (slope 1, intercept 0); otherwise
    the range is spread over 0..65535 and the error is at most slope / 2.
    """
    a = np.asarray(array, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0 and hi <= 65535 and np.all(a == np.round(a)):
        return a.astype(np.uint16), 1.0, 0.0
    intercept = float(_ds(lo))
    slope = float(_ds((hi - lo) / 65535.0)) if hi > lo else 1.0
    if slope <= 0:
        slope = 1.0
    while (hi - intercept) / slope > 65535.49:  # rounding of the DS strings may shrink the slope
        slope = float(_ds(slope * (1.0 + 1e-6)))
    stored = np.clip(np.round((a - intercept) / slope), 0, 65535).astype(np.uint16)
    return stored, slope, intercept


def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    *,
    series_description: str | None = None,
    series_number: int = 1,
    study_uid: str | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    patient_id: str = "ANONYMOUS",
    patient_name: str = "ANONYMOUS",
    study_description: str = "",
    study_date: str = "20240101",
    scanning_sequence: str = "SE",
    sequence_variant: Sequence[str] = ("SK", "SP"),
    uid_seed: str | None = None,
) -> list[Path]:
    """Write ``volume`` to ``folder`` as ``IM00001.dcm`` ... (slice 0 first); returns the paths.

    UIDs not given are generated; with ``uid_seed`` they are derived from it (reproducible
    files). Give the same ``study_uid`` and ``frame_of_reference_uid`` to series that belong
    to one examination (as a phantom's T1 and T2 do). TR/TE, manufacturer, field strength and
    description come from ``volume.meta`` when set.
    """
    # lazy: pydicom is heavy; only DICOM input/output needs it
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = volume.meta

    def uid(name: str) -> str:
        return generate_uid() if uid_seed is None else deterministic_uid(uid_seed, name)

    study_uid = study_uid or uid("study")
    series_uid = series_uid or uid("series")
    frame_of_reference_uid = frame_of_reference_uid or meta.frame_of_reference_uid or uid("frame")
    description = series_description or meta.series_description or "MR series"

    nz, ny, nx = volume.shape
    sz, sy, sx = volume.spacing
    direction = np.asarray(volume.direction, dtype=np.float64)
    row_dir, col_dir, slice_dir = direction[:, 0], direction[:, 1], direction[:, 2]
    normal = np.cross(row_dir, col_dir)
    origin = np.asarray(volume.origin, dtype=np.float64)
    stored, slope, intercept = rescale_for_uint16(volume.array)
    lo, hi = float(volume.array.min()), float(volume.array.max())

    paths = []
    for k in range(nz):
        position = origin + k * sz * slice_dir
        sop_uid = uid(f"sop/{k}")

        fm = FileMetaDataset()
        fm.MediaStorageSOPClassUID = _MR_IMAGE_STORAGE
        fm.MediaStorageSOPInstanceUID = sop_uid
        fm.TransferSyntaxUID = ExplicitVRLittleEndian
        fm.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

        ds = Dataset()
        ds.file_meta = fm
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["DERIVED", "PRIMARY", "OTHER"]
        ds.SOPClassUID = _MR_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.AccessionNumber = ""
        ds.Modality = "MR"
        ds.Manufacturer = meta.manufacturer or "modic_core"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = study_description
        ds.SeriesDescription = description
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.BodyPartExamined = "LSPINE"
        ds.ScanningSequence = scanning_sequence
        ds.SequenceVariant = list(sequence_variant)
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        if meta.repetition_time_ms is not None:
            ds.RepetitionTime = _ds(meta.repetition_time_ms)
        if meta.echo_time_ms is not None:
            ds.EchoTime = _ds(meta.echo_time_ms)
        if meta.field_strength_t is not None:
            ds.MagneticFieldStrength = _ds(meta.field_strength_t)
        ds.SliceThickness = _ds(sz)
        ds.SpacingBetweenSlices = _ds(sz)
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = int(series_number)
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds(p) for p in position]
        ds.ImageOrientationPatient = [_ds(c) for c in (*row_dir, *col_dir)]
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds(float(position @ normal))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ny
        ds.Columns = nx
        ds.PixelSpacing = [_ds(sy), _ds(sx)]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.WindowCenter = _ds((lo + hi) / 2.0)
        ds.WindowWidth = _ds(max(hi - lo, 1.0))
        ds.RescaleIntercept = _ds(intercept)
        ds.RescaleSlope = _ds(slope)
        ds.RescaleType = "US"
        ds.PixelData = np.ascontiguousarray(stored[k]).astype("<u2").tobytes()

        path = folder / f"IM{k + 1:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
