"""Reading and writing MetaImage (.mha/.mhd), NRRD and NIfTI (.nii/.nii.gz) files with SimpleITK.

Every file is checked by :func:`modic_core.io.image_headers.inspect_image` first (format from
the content, detached data files confined to the header's folder, declared size within the
limits, NIfTI voxel size and length) and read with the ImageIO that check chose.
"""
from __future__ import annotations

from pathlib import Path

from modic_core.errors import InputError
from modic_core.text import DICOM_LO_CHARS, plain_text
from modic_core.volume import Volume, VolumeMeta

__all__ = ["IMAGE_SUFFIXES", "is_image_file", "read_image", "write_image"]

IMAGE_SUFFIXES = (".mha", ".mhd", ".nii", ".nii.gz", ".nrrd")


def is_image_file(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(IMAGE_SUFFIXES)


def read_image(path: str | Path, *, sequence: str = "unknown") -> Volume:
    """Read one image file into a :class:`Volume` (array z, y, x; spacing mm), sagittal and 3D
    acquisitions in the project's sagittal layout (:mod:`modic_core.io.layout`)."""
    import SimpleITK as sitk

    from modic_core.io.image_headers import inspect_image
    from modic_core.io.layout import to_sagittal_layout

    path = Path(path)
    header = inspect_image(path)
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
    image = to_sagittal_layout(image)  # e.g. the SPIDER release's identity-direction volumes
    source = "nifti" if ".nii" in path.name.lower() else "mha"
    meta = VolumeMeta(series_description=plain_text(path.name, limit=DICOM_LO_CHARS), sequence=sequence, source=source)
    return Volume.from_sitk(image, meta)


def write_image(volume: Volume, path: str | Path) -> Path:
    """Write a :class:`Volume` to .mha/.nii(.gz) keeping its geometry."""
    import SimpleITK as sitk

    path = Path(path)
    sitk.WriteImage(volume.to_sitk(), str(path), useCompression=True)
    return path
