"""Loading MRI series from what users give: DICOM folders/files, zips, browser uploads, MHA, NIfTI.

Public entry points (stable): :func:`load_series`, :func:`list_series`.
A *source* is one of:

- a path to a DICOM folder, a single DICOM file, a ``.zip``, an ``.mha``/``.mhd`` or a ``.nii``/``.nii.gz``;
- a list of paths (DICOM files of one series, or one image file);
- a list of ``(filename, bytes)`` pairs, as a browser upload gives them.

Every problem with the input raises :class:`modic_core.InputError`.
"""
from __future__ import annotations

from modic_core.io.images import is_image_file, read_image, write_image
from modic_core.io.sources import SeriesInfo, describe_source, list_series, load_series

__all__ = [
    "SeriesInfo",
    "describe_source",
    "is_image_file",
    "list_series",
    "load_series",
    "read_image",
    "write_image",
]
