"""Checks that a volume, or a pair of volumes, can be analysed. Each failure is an InputError."""
from __future__ import annotations

import numpy as np

from modic_core.errors import InputError
from modic_core.settings import limits
from modic_core.volume import Volume

__all__ = ["ORTHONORMAL_TOL", "check_volume", "check_pair", "orthonormal", "sheared_error"]

#: Largest entry of |D^T D - I| for which a direction matrix D counts as orthonormal (a shear of
#: about 0.6 degrees); the DICOM reader allows the same on ImageOrientationPatient.
ORTHONORMAL_TOL = 0.01


def orthonormal(direction: np.ndarray) -> bool:
    """Whether the columns of a square direction matrix are unit vectors at right angles (within
    :data:`ORTHONORMAL_TOL`)."""
    d = np.asarray(direction, dtype=float)
    return bool(np.all(np.isfinite(d)) and np.max(np.abs(d.T @ d - np.eye(d.shape[1]))) <= ORTHONORMAL_TOL)


def sheared_error(name: str) -> InputError:
    """The sentence for an image whose voxel axes are not perpendicular (MHA, NRRD, NIfTI, DICOM)."""
    return InputError(
        f"The {name} has a sheared voxel grid (its axes are not perpendicular in the patient), which cannot be "
        "shown or measured without resampling. Please export it again without shear (scanner series are "
        "never sheared)."
    )


def check_volume(volume: Volume, *, role: str = "series", require_sagittal: bool = True) -> None:
    """Reject empty, constant, non-finite, implausibly spaced (``limits().min_spacing_mm`` ..
    ``max_spacing_mm``) and (unless ``require_sagittal`` is False) non-sagittal volumes."""
    arr = volume.array
    if arr.size == 0 or min(arr.shape[1:]) < 16:
        raise InputError(f"The {role} is empty or too small to be an MRI image ({arr.shape[2]}x{arr.shape[1]} pixels).")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"The {role} contains invalid pixel values (NaN or infinity); the file may be damaged.")
    if float(arr.max()) == float(arr.min()):
        raise InputError(f"The {role} is blank: every pixel has the same value.")
    if any((not np.isfinite(s)) or s <= 0 for s in volume.spacing):
        raise InputError(f"The {role} has an invalid pixel spacing {volume.spacing} mm.")
    lim = limits()
    if any(not lim.min_spacing_mm <= s <= lim.max_spacing_mm for s in volume.spacing):
        shown = " x ".join(f"{s:g}" for s in volume.spacing)
        raise InputError(
            f"The {role} declares an implausible voxel size ({shown} mm); MRI voxels lie between "
            f"{lim.min_spacing_mm:g} and {lim.max_spacing_mm:g} mm. The file's pixel spacing is probably wrong; "
            "please export the series again."
        )
    if not np.all(np.isfinite(volume.direction)) or abs(abs(float(np.linalg.det(volume.direction))) - 1) > 0.05:
        raise InputError(f"The {role} has an invalid orientation in space; the file may be damaged.")
    if not orthonormal(volume.direction):
        raise sheared_error(role)
    orient = volume.orientation()
    if require_sagittal and orient != "sagittal":
        raise InputError(
            f"The {role} is {orient}, not sagittal. Modic changes are graded on sagittal T1 and T2 series; "
            "please choose the sagittal series."
        )


def check_pair(t1: Volume, t2: Volume, *, geometry_trusted: bool = True) -> None:
    """Reject pairs that cannot be one examination's T1 and T2.

    ``geometry_trusted=False`` (the headers have different frames of reference) skips the spatial
    overlap test: the alignment check then places T2 on T1 from the images."""
    check_volume(t1, role="T1 series")
    check_volume(t2, role="T2 series")
    h1, h2 = t1.meta.patient_hash, t2.meta.patient_hash
    if h1 and h2 and h1 != h2:
        raise InputError("The T1 and T2 series belong to different patients. Please upload two series of the same examination.")
    if (
        t1.meta.source == "dicom"
        and t2.meta.source == "dicom"
        and t1.meta.series_uid_hash
        and t1.meta.series_uid_hash == t2.meta.series_uid_hash
    ):
        raise InputError("The same series was given as T1 and as T2. Please choose two different series.")
    if _same_image(t1, t2):
        raise InputError("The same image was given as T1 and as T2. Please choose two different series.")
    if t1.meta.sequence != "unknown" and t1.meta.sequence == t2.meta.sequence:
        raise InputError(
            f"Both series look like {t1.meta.sequence}-weighted images. Modic grading needs one T1- and one T2-weighted series."
        )
    # Spatial overlap of the two bounding boxes (LPS mm).
    b1, b2 = _bounds(t1), _bounds(t2)
    overlap = np.minimum(b1[1], b2[1]) - np.maximum(b1[0], b2[0])
    if geometry_trusted and np.any(overlap[1:] <= 0):  # posterior and superior extents must overlap
        raise InputError("The T1 and T2 series do not overlap in space; they cannot be from the same examination.")


def _same_image(a: Volume, b: Volume) -> bool:
    """Identical voxels on an identical grid (e.g. one MHA file given twice)."""
    return (
        a.shape == b.shape
        and np.allclose(a.spacing, b.spacing)
        and np.allclose(a.origin, b.origin)
        and np.allclose(a.direction, b.direction)
        and np.array_equal(a.array, b.array)
    )


def _bounds(v: Volume) -> np.ndarray:
    z, y, x = v.shape
    corners = np.array([[a, b, c] for a in (0, z - 1) for b in (0, y - 1) for c in (0, x - 1)], dtype=float)
    pts = v.index_to_physical(corners)
    return np.stack([pts.min(0), pts.max(0)])
