"""The project's array layout for sagittal series, and the acquisition plane of an image file.

Every analysed volume is an array (z, y, x) = (slices left -> right, rows superior -> inferior,
columns anterior -> posterior): ITK/DICOM orientation code "PIR" (x towards posterior, y towards
inferior, z towards right). DICOM sagittal series and the SPIDER-derived cohort files already
come this way. Image files (.mha, .nii, .nrrd) may store the same sagittal acquisition in
another index order: the SPIDER release, for one, stores identity-direction ("LPS") volumes whose
numpy arrays run (inferior -> superior, anterior -> posterior, right -> left), which read as
"axial" by index order. :func:`to_sagittal_layout` permutes and flips such images into the
layout (no resampling) when the voxel geometry says the acquisition was sagittal, or 3D with
near-isotropic voxels (a sagittal reformat of a 3D acquisition loses nothing).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["ISOTROPIC_RATIO", "SAGITTAL_LAYOUT", "acquisition_plane", "reoriented", "sagittal_size", "to_sagittal_layout"]

SAGITTAL_LAYOUT = "PIR"
#: Voxels whose thickest side is less than this many times their thinnest are a 3D acquisition.
ISOTROPIC_RATIO = 1.5
_PLANES = ("sagittal", "coronal", "axial")  # by the dominant LPS axis (x: L-R, y: A-P, z: S-I) of the slice normal


def _axes(direction: Sequence[float]) -> np.ndarray:
    """Dominant LPS axis (0 = L-R, 1 = A-P, 2 = S-I) of each ITK index axis (x, y, z)."""
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    return np.argmax(np.abs(d), axis=0)


def acquisition_plane(size: Sequence[int], spacing: Sequence[float], direction: Sequence[float]) -> str:
    """'sagittal', 'coronal', 'axial' or '3d' for a 3D image (ITK order x, y, z; spacing in mm;
    direction row-major 3 x 3).

    A single-slice axis is the slice normal. Otherwise the thickest voxel side is the slice normal
    of a 2D acquisition, unless the voxels are near isotropic (thickest < ``ISOTROPIC_RATIO`` x
    thinnest): '3d'. The plane is named by the normal's dominant patient axis.
    """
    size, spacing = list(size), np.asarray(spacing, dtype=float)
    axes = _axes(direction)
    flat = [k for k in range(3) if size[k] == 1]
    if flat:
        return _PLANES[int(axes[flat[-1]])]
    if spacing.max() < ISOTROPIC_RATIO * spacing.min():
        return "3d"
    return _PLANES[int(axes[int(np.argmax(spacing))])]


def sagittal_size(size: Sequence[int], direction: Sequence[float]) -> tuple[int, int, int]:
    """(slices, rows, columns) the image will have in the sagittal layout (size in ITK order)."""
    axes = _axes(direction)
    by_patient = {int(a): int(n) for a, n in zip(axes, size)}
    if len(by_patient) < 3:  # degenerate direction: keep the stored order
        return int(size[2]), int(size[1]), int(size[0])
    return by_patient[0], by_patient[2], by_patient[1]


def reoriented(size: Sequence[int], spacing: Sequence[float], direction: Sequence[float]) -> bool:
    """Whether :func:`to_sagittal_layout` lays this 3D image out as sagittal: a sagittal or 3D
    acquisition whose direction maps each index axis to a different patient axis."""
    if len(set(_axes(direction).tolist())) < 3:
        return False
    return acquisition_plane(size, spacing, direction) in ("sagittal", "3d")


def to_sagittal_layout(image):
    """A 3D SimpleITK image in :data:`SAGITTAL_LAYOUT` when its acquisition is sagittal or 3D
    (:func:`acquisition_plane`); coronal and axial acquisitions, and images whose direction does
    not map each index axis to a different patient axis, are returned unchanged (the validation
    then names their plane)."""
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    if image.GetDimension() != 3:
        return image
    if not reoriented(image.GetSize(), image.GetSpacing(), image.GetDirection()):
        return image
    return sitk.DICOMOrient(image, SAGITTAL_LAYOUT)
