"""Typed containers for image volumes and paired studies.

Axis order everywhere is (z, y, x) = (slice, row, column). Physical coordinates
are patient LPS millimetres, as in DICOM and ITK.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modic_core.errors import InputError

__all__ = ["Volume", "Study", "VolumeMeta", "pixel_digest", "scanner_group", "field_strength_group"]


@dataclass(frozen=True)
class VolumeMeta:
    """Non-identifying metadata of one series."""

    modality: str = "MR"
    series_description: str = ""
    sequence: str = "unknown"  # "T1", "T2" or "unknown"
    repetition_time_ms: float | None = None
    echo_time_ms: float | None = None
    manufacturer: str = ""
    field_strength_t: float | None = None
    patient_hash: str | None = None  # one-way hash, only to check two series belong together
    study_hash: str | None = None
    series_uid_hash: str | None = None
    frame_of_reference_uid: str | None = None
    date_hash: str | None = None  # one-way hash of the study date
    demographics_hash: str | None = None  # one-way hash of patient age and sex
    source: str = ""  # "dicom", "mha", "nifti", "synthetic"
    notes: tuple[str, ...] = ()  # sentences about how the file was read (e.g. which NIfTI placement was used)
    # The scanner's first display window (DICOM WindowCenter / WindowWidth), in the array's units (the
    # rescaled, modality values the VOI window applies to); None when the series has none.
    window_center: float | None = None
    window_width: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Volume:
    """A 3D image.

    Attributes:
        array: float32 array shaped (z, y, x) = (slice, row, column).
        spacing: voxel size in mm, (z, y, x).
        origin: LPS position (mm) of voxel (0, 0, 0), as (x, y, z) in patient space.
        direction: 3x3 matrix whose columns are the patient-space unit vectors of the
            array's x (column), y (row) and z (slice) index axes (ITK convention).
        meta: non-identifying metadata.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    meta: VolumeMeta = field(default_factory=VolumeMeta)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"Volume array must be 3D (z, y, x), got shape {arr.shape}")
        self.array = arr.astype(np.float32, copy=False)
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    def with_array(self, array: np.ndarray, **meta_changes: Any) -> "Volume":
        """Same geometry, new voxel values (shape must match)."""
        array = np.asarray(array, dtype=np.float32)
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} != {self.array.shape}")
        meta = dataclasses.replace(self.meta, **meta_changes) if meta_changes else self.meta
        return Volume(array, self.spacing, self.origin, self.direction.copy(), meta)

    def to_sitk(self):
        """SimpleITK image with the same geometry (ITK index order is x, y, z)."""
        import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

        img = sitk.GetImageFromArray(self.array)
        img.SetSpacing((self.spacing[2], self.spacing[1], self.spacing[0]))
        img.SetOrigin(self.origin)
        img.SetDirection(tuple(self.direction.flatten()))
        return img

    @classmethod
    def from_sitk(cls, image, meta: VolumeMeta | None = None) -> "Volume":
        """Build from a SimpleITK image (2D images become one slice)."""
        import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise InputError("The image has colour (several values per pixel); a greyscale MRI series is needed.")
        arr = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)  # a float32 image: no second copy
        sx, sy, sz = image.GetSpacing()
        return cls(
            arr,
            (sz, sy, sx),
            tuple(image.GetOrigin()),
            np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3),
            meta or VolumeMeta(),
        )

    def index_to_physical(self, zyx: np.ndarray) -> np.ndarray:
        """Map (N, 3) continuous indices in (z, y, x) order to LPS mm (N, 3) as (x, y, z)."""
        zyx = np.atleast_2d(np.asarray(zyx, dtype=np.float64))
        ijk = zyx[:, ::-1] * np.asarray(self.spacing[::-1])
        return np.asarray(self.origin) + ijk @ self.direction.T

    @property
    def slice_normal(self) -> np.ndarray:
        """Unit vector (LPS) along increasing slice index."""
        return self.direction[:, 2]

    def orientation(self) -> str:
        """'sagittal', 'coronal' or 'axial' from the slice normal's dominant LPS axis."""
        axis = int(np.argmax(np.abs(self.slice_normal)))
        return ("sagittal", "coronal", "axial")[axis]


@dataclass
class Study:
    """A paired sagittal T1/T2 study; ``t2`` is resampled onto the T1 grid.

    ``t2_native`` keeps the T2 series on its own grid; ``sources`` records where
    each came from (neutral descriptions, never patient identifiers); ``warnings`` are the
    identity check's sentences (different studies, dates, frames of reference).
    """

    t1: Volume
    t2: Volume
    t2_native: Volume | None = None
    sources: dict[str, str] = field(default_factory=dict)
    study_id: str = ""
    warnings: list[str] = field(default_factory=list)  # plain sentences from the pairing checks

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.t1.shape

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.t1.spacing


def pixel_digest(study: Study, *, digest_size: int, person: bytes, key: bytes = b"") -> str:
    """Hex BLAKE2b of a study's T1 and T2 pixels and geometry (no header text, no patient data).

    Covers, for T1 then T2: shape, dtype, spacing (mm), origin (mm), direction matrix and every
    byte of the (z, y, x) array, so one voxel or one millimetre of geometry changes it. ``person``
    names the use, ``key`` salts it; ``digest_size`` is in bytes (1-64). Reads every voxel once.
    """
    h = hashlib.blake2b(digest_size=digest_size, person=person, key=key)
    for vol in (study.t1, study.t2):
        arr = np.ascontiguousarray(vol.array)
        h.update(f"{arr.shape}|{arr.dtype.str}|".encode())
        for geo in (vol.spacing, vol.origin, vol.direction):
            h.update(np.asarray(geo, dtype=np.float64).tobytes())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def scanner_group(manufacturer: object) -> str:
    """The scanner maker as one word ("Philips", "Siemens", "GE", ...): the DICOM header's spellings
    ("Philips Healthcare", "Philips Medical Systems", "SIEMENS") merged; "unknown" when empty."""
    text = "" if manufacturer is None or (isinstance(manufacturer, float) and np.isnan(manufacturer)) else str(manufacturer).strip()
    if not text:
        return "unknown"
    low = text.lower()
    for key, name in (("philips", "Philips"), ("siemens", "Siemens"), ("ge ", "GE"), ("general electric", "GE"),
                      ("toshiba", "Canon"), ("canon", "Canon"), ("hitachi", "Hitachi")):
        if low.startswith(key) or low == key.strip():
            return name
    return text


def field_strength_group(value: object) -> str:
    """The field strength as a group name ("1.5 T", "3 T"); "unknown" when absent."""
    return "unknown" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{float(value):g} T"
