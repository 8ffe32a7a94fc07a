"""Pairing a T1 and a T2 series into a :class:`Study` on the T1 grid."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from modic_core.errors import InputError
from modic_core.volume import Study, Volume
from modic_core.io import load_series, describe_source
from modic_core.io.validation import check_pair
from modic_core.pairing.identity import identity_warnings

__all__ = ["load_study", "make_study", "resample_to"]


def resample_to(moving: Volume, reference: Volume, *, interpolator: str = "linear") -> Volume:
    """Resample ``moving`` onto ``reference``'s grid by physical (LPS) coordinates.

    Voxels of the reference grid outside ``moving`` get 0.
    """
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    interp = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor}[interpolator]
    mov = moving.to_sitk()
    if reference.shape[0] == 1 and moving.shape[0] == 1:
        # Single-slice series (2D exports): slice positions along the normal may differ a little.
        # Project the moving slice onto the reference plane along the reference normal, then
        # resample in 3D so the in-plane (sagittal) geometry is kept.
        normal = reference.slice_normal
        offset = float(np.dot(np.asarray(moving.origin) - np.asarray(reference.origin), normal))
        mov.SetOrigin(tuple(np.asarray(moving.origin) - offset * normal))
    # The output grid from the reference's geometry alone (a reference image would copy its voxels).
    nz, ny, nx = reference.shape
    sz, sy, sx = reference.spacing
    out = sitk.Resample(mov, (nx, ny, nz), sitk.Transform(), interp, tuple(reference.origin), (sx, sy, sz),
                        tuple(reference.direction.flatten()), 0.0, sitk.sitkFloat32)
    del mov
    arr = sitk.GetArrayFromImage(out)  # float32 already: no second copy
    del out
    return Volume(arr, reference.spacing, reference.origin, reference.direction.copy(), moving.meta)


def make_study(t1: Volume, t2: Volume, *, sources: dict[str, str] | None = None, study_id: str = "") -> Study:
    """Check that two volumes form a sagittal T1/T2 pair and resample T2 onto T1."""
    warnings = identity_warnings(t1.meta, t2.meta)  # different patients: InputError
    warnings += [note for v in (t1, t2) for note in v.meta.notes]  # how the reader read the files
    trusted = not (t1.meta.frame_of_reference_uid and t2.meta.frame_of_reference_uid
                   and t1.meta.frame_of_reference_uid != t2.meta.frame_of_reference_uid)
    check_pair(t1, t2, geometry_trusted=trusted)
    if t1.meta.sequence == "T2" or t2.meta.sequence == "T1":
        given = "T2" if t1.meta.sequence == "T2" else "T1"
        slot = "T1" if given == "T2" else "T2"
        raise InputError(
            f"The series given as {slot} looks {given}-weighted (from its description or timing): T1 and T2 seem "
            "swapped. Please give the T1-weighted series as T1 and the T2-weighted series as T2."
        )
    # The caller says which series is which: record it where the reader could not tell.
    if t1.meta.sequence == "unknown":
        t1 = Volume(t1.array, t1.spacing, t1.origin, t1.direction, dataclasses.replace(t1.meta, sequence="T1"))
    if t2.meta.sequence == "unknown":
        t2 = Volume(t2.array, t2.spacing, t2.origin, t2.direction, dataclasses.replace(t2.meta, sequence="T2"))
    t2r = resample_to(t2, t1)
    if not np.any(t2r.array) and trusted:
        raise InputError("The T1 and T2 series do not overlap in space; they cannot be from the same examination.")
    return Study(t1=t1, t2=t2r, t2_native=t2, sources=dict(sources or {}), study_id=study_id, warnings=warnings)


def load_study(t1: Any, t2: Any, *, study_id: str = "") -> Study:
    """Load a paired study; each source is anything :func:`modic_core.io.load_series` accepts."""
    v1 = load_series(t1)
    v2 = load_series(t2)
    return make_study(v1, v2, sources={"t1": describe_source(t1), "t2": describe_source(t2)}, study_id=study_id)
