"""Reading and writing MetaImage (.mha/.mhd), NRRD and NIfTI (.nii/.nii.gz) files with SimpleITK.

Every file is checked by :func:`modic_core.io.image_headers.inspect_image` first (format from
the content, detached data files confined to the header's folder, declared size within the
limits, NIfTI voxel size and length) and read with the ImageIO that check chose.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from modic_core.errors import InputError
from modic_core.io.validation import orthonormal, sheared_error
from modic_core.text import DICOM_LO_CHARS, plain_text
from modic_core.volume import Volume, VolumeMeta
from modic_core.io.layout import to_sagittal_layout

__all__ = ["IMAGE_SUFFIXES", "is_image_file", "read_image", "write_image"]

IMAGE_SUFFIXES = (".mha", ".mhd", ".nii", ".nii.gz", ".nrrd")


def is_image_file(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(IMAGE_SUFFIXES)


def read_image(path: str | Path, *, sequence: str = "unknown") -> Volume:
    """Read one image file into a :class:`Volume` (array z, y, x; spacing mm), sagittal and 3D
    acquisitions in the project's sagittal layout (:mod:`modic_core.io.layout`).

    NIfTI files are placed by nibabel's rule (sform when its code is set, else qform;
    :mod:`modic_core.io.nifti_header`), not ITK's; a note in ``meta.notes`` says when the two
    disagreed. A 2D file (MHA/NRRD ``NDims = 2``, NIfTI ``dim[0] = 2``) is refused: an MHA/NRRD
    one has no slice orientation in the patient (as DICOM images without ImageOrientationPatient,
    also refused), and ITK cannot place a 2D NIfTI outside the axial plane; a single slice is read
    from a 3D file of one slice, as the SPIDER-derived cohort stores them. Sheared voxel grids are
    refused.
    """
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    from modic_core.io.image_headers import inspect_image  # lazy: pulls in nibabel; only image files need it

    path = Path(path)
    header = inspect_image(path)
    if len(header.size) == 2:
        raise InputError(
            f"The image '{path.name}' is two-dimensional, with no slice orientation in the patient, so it cannot be "
            "known to be a sagittal slice. Please give a 3D file (a single sagittal slice is fine) or the DICOM series."
        )
    reader = sitk.ImageFileReader()
    reader.SetImageIO(header.io_name)
    reader.SetFileName(str(path))
    try:
        image = reader.Execute()
    except RuntimeError as exc:  # ITK raises RuntimeError for unreadable files
        raise InputError(
            f"The file '{path.name}' could not be read as an MHA/NIfTI image; it may be damaged or of another type."
        ) from exc
    if image.GetDimension() not in (2, 3):
        raise InputError(f"The file '{path.name}' has {image.GetDimension()} dimensions; a 3D (or single-slice) series is needed.")
    geometry = header.geometry if image.GetDimension() == 3 else None
    if geometry is not None:  # NIfTI: nibabel's placement, not ITK's choice between qform and sform
        image.SetSpacing(geometry.spacing)
        image.SetOrigin(geometry.origin)
        image.SetDirection(tuple(float(v) for v in geometry.direction.flatten()))
    if not orthonormal(np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)):
        raise sheared_error(f"image '{path.name}'")
    image = to_sagittal_layout(image)  # e.g. the SPIDER release's identity-direction volumes
    source = "nifti" if ".nii" in path.name.lower() else "mha"
    notes = geometry.notes if geometry is not None else ()
    for note in notes:
        warnings.warn(note, stacklevel=2)
    meta = VolumeMeta(series_description=plain_text(path.name, limit=DICOM_LO_CHARS), sequence=sequence, source=source, notes=notes)
    return Volume.from_sitk(image, meta)


def write_image(volume: Volume, path: str | Path) -> Path:
    """Write a :class:`Volume` to .mha/.nii(.gz) keeping its geometry."""
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    path = Path(path)
    sitk.WriteImage(volume.to_sitk(), str(path), useCompression=True)
    return path
