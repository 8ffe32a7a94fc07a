"""What users give (paths, folders, zips, browser uploads) resolved into series, and loading one.

A *source* is one of:

- a :class:`~modic_core.Volume` (returned as is, after the checks);
- a path (``str`` or ``os.PathLike``) to a DICOM folder (searched recursively), a single DICOM
  file, a ``.zip``, an ``.mha``/``.mhd``, a ``.nii``/``.nii.gz`` (or ``.nrrd``);
- a list of such paths;
- a ``(filename, bytes)`` pair, an object with ``.name`` and ``.getvalue()`` (Streamlit's
  ``UploadedFile``), or a list of them (zips among them are unpacked).

Uploads and zips are written into a temporary folder that is removed before the call
returns (see :mod:`modic_core.io.upload`). Each DICOM series (SeriesInstanceUID) and each
MHA/NIfTI file is one series. Every problem with the input is an :class:`InputError`.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from modic_core.errors import InputError
from modic_core.settings import limits
from modic_core.text import DICOM_LO_CHARS, plain_text
from modic_core.volume import Volume
from modic_core.io.dicom import (
    DicomHeader,
    DicomScan,
    damaged_error,
    guess_sequence,
    orientation_name,
    read_dicom_series,
    salted_hash,
    scan_dicom,
    too_many_series,
    unique_instances,
)
from modic_core.io.images import is_image_file, read_image
from modic_core.io.upload import extract_zip, is_upload_like, materialize_uploads, skip_name, temporary_folder
from modic_core.io.layout import reoriented, sagittal_size
from modic_core.io.validation import check_volume

__all__ = ["SeriesInfo", "describe_source", "list_series", "load_series"]


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in a source, for choosing and pairing (no patient identifiers).

    ``key`` is opaque and stable for the same source: pass it (or the SeriesInfo, or
    ``index``) as ``load_series(source, series=...)``. ``rows``/``cols`` are the in-plane
    size in pixels; times are in ms.
    """

    index: int
    key: str
    description: str
    n_slices: int
    orientation: str  # 'sagittal', 'coronal', 'axial' or 'unknown'
    sequence: str  # 'T1', 'T2' or 'unknown'
    repetition_time_ms: float | None
    echo_time_ms: float | None
    rows: int
    cols: int
    kind: str  # 'dicom', 'mha' or 'nifti'
    series_number: int | None = None
    patient_hash: str | None = None  # salted one-way hashes (DICOM only): to group series by patient
    study_hash: str | None = None  # and by study, never to identify anyone

    @property
    def label(self) -> str:
        """Short text for a picker, e.g. ``'t1_tse_sag_320 - 15 slices, sagittal, T1'``."""
        name = self.description or f"series {self.index + 1}"
        return f"{name} - {self.n_slices} slice{'s' if self.n_slices != 1 else ''}, {self.orientation}, {self.sequence}"


@dataclass
class _Entry:
    info: SeriesInfo
    load: Callable[[], Volume]


def describe_source(source: Any) -> str:
    """A short, non-identifying description: a file or folder name, or ``'upload (N files)'``."""
    if isinstance(source, Volume):
        return "image in memory"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return path.name or str(path)
    if is_upload_like(source) or isinstance(source, (bytes, bytearray)):
        return "upload (1 file)"
    if isinstance(source, (list, tuple)):
        n = len(source)
        if n and all(is_upload_like(s) for s in source):
            return f"upload ({n} file{'s' if n != 1 else ''})"
        if n == 1:
            return describe_source(source[0])
        parents = {Path(s).parent.name for s in source if isinstance(s, (str, os.PathLike))}
        prefix = f"{parents.pop()} " if len(parents) == 1 and "" not in parents else ""
        return f"{prefix}({n} files)"
    return type(source).__name__


def list_series(source: Any) -> list[SeriesInfo]:
    """All series in ``source``, DICOM first (by series number), then image files by name.

    Raises InputError when the source holds no readable medical image.
    """
    if isinstance(source, Volume):
        return [_volume_info(source)]
    with _opened(source) as files:
        entries, scan = _entries(files)
        if not entries:
            raise _nothing_found(source, damaged=scan.damaged)
        return [e.info for e in entries]


def load_series(
    source: Any,
    *,
    series: str | int | SeriesInfo | None = None,
    require_sagittal: bool = True,
) -> Volume:
    """Load one series as a :class:`Volume` (array float32 (z, y, x), spacing mm, LPS geometry).

    With several series in ``source``, ``series`` (a key, an index or a SeriesInfo from
    :func:`list_series`) chooses one; without it an InputError asks the user to pick.
    Damaged DICOM files that belong to no readable series are an error unless a series
    was chosen (:func:`list_series` lists the readable ones).
    The volume is checked (:func:`modic_core.io.validation.check_volume`); ``require_sagittal``
    is False only for viewing other orientations.
    """
    if isinstance(source, Volume):
        volume = source
    else:
        with _opened(source) as files:
            entries, scan = _entries(files)
            if not entries:
                raise _nothing_found(source, damaged=scan.damaged)
            if series is None:
                if len(entries) > 1:
                    shown = "; ".join(e.info.label for e in entries[:6])
                    more = f" and {len(entries) - 6} more" if len(entries) > 6 else ""
                    raise InputError(
                        f"These files ({describe_source(source)}) hold {len(entries)} series: {shown}{more}. "
                        "Please choose one series."
                    )
                if scan.damaged:
                    raise damaged_error()
                entry = entries[0]
            else:
                entry = _pick(entries, series)
            volume = entry.load()
    check_volume(volume, role="series", require_sagittal=require_sagittal)
    return volume


# --------------------------------------------------------------------------- resolving sources


@contextmanager
def _opened(source: Any) -> Iterator[list[tuple[Path, str]]]:
    """Local files of ``source`` as (path, name relative to the source); temp files removed on exit."""
    with ExitStack() as stack:
        parts: list[Path] = []

        def scratch() -> Path:
            """A new empty folder inside one temporary folder, created on first use."""
            root = stack.enter_context(temporary_folder()) if not parts else parts[0].parent
            parts.append(root / f"part_{len(parts)}")
            parts[-1].mkdir()
            return parts[-1]

        uploads, paths = _split(source)
        files: list[tuple[Path, str]] = []
        try:
            max_series = limits().max_series
            for path in paths:
                files += _expand_path(path, scratch, max_series=max_series)
            if uploads:
                dest = scratch()
                files += [(p, p.relative_to(dest).as_posix())
                          for p in materialize_uploads(uploads, dest, max_series=max_series)]
        except OSError as exc:  # e.g. a name too long for this file system, a folder without permission
            raise InputError(
                f"The files could not be read ({exc.strerror or 'file system error'}). Please check that the "
                "folder is readable, and use shorter file and folder names."
            ) from exc
        yield files


def _split(source: Any) -> tuple[list[Any], list[Path]]:
    if isinstance(source, (bytes, bytearray)):
        return [("upload", bytes(source))], []
    if isinstance(source, (str, os.PathLike)) or is_upload_like(source):
        items = [source]
    elif isinstance(source, (list, tuple)):
        items = list(source)
    else:
        raise TypeError(f"Unsupported source type {type(source).__name__}")
    if not items:
        raise InputError("Nothing was given: please choose a DICOM folder, a zip, or MHA/NIfTI files.")
    uploads, paths = [], []
    for item in items:
        if is_upload_like(item):
            uploads.append(item)
        elif isinstance(item, (str, os.PathLike)):
            paths.append(Path(item))
        else:
            raise TypeError(f"Unsupported source item type {type(item).__name__}")
    return uploads, paths


def _expand_path(path: Path, scratch: Callable[[], Path], *, max_series: int | None = None) -> list[tuple[Path, str]]:
    if not path.exists():
        raise InputError(f"The file or folder '{path.name}' was not found; please check its name.")
    if path.is_dir():
        found = []
        for p in sorted(path.rglob("*")):
            rel = p.relative_to(path).as_posix()
            if p.is_file() and not skip_name(rel):
                found.append((p, rel))
        return found
    if path.suffix.lower() == ".zip":
        dest = scratch()
        return [(p, p.relative_to(dest).as_posix()) for p in extract_zip(path, dest, max_series=max_series)]
    return [(path, path.name)]


# --------------------------------------------------------------------------- series catalogue


def _entries(files: list[tuple[Path, str]]) -> tuple[list[_Entry], DicomScan]:
    """One entry per DICOM series and per image file, in display order, with their indexes.

    Raises InputError when nothing readable is found but the files hold zips (zips inside a zip
    are not unpacked: that would multiply the bomb checks).
    """
    images = [(p, rel) for p, rel in files if is_image_file(p)]
    image_paths = {p for p, _ in images}
    max_series = limits().max_series
    if len(images) > max_series:  # each image file is one series: refused before any header is read
        raise too_many_series(max_series)
    scan = scan_dicom((p for p, _ in files if p not in image_paths), max_series=max_series - len(images))
    dicom = []
    for key, headers in scan.series.items():
        dicom.append(_dicom_entry(key, headers))
    dicom.sort(key=lambda e: (e.info.series_number is None, e.info.series_number or 0, e.info.description, e.info.key))
    entries = dicom + [_image_entry(p, rel) for p, rel in sorted(images, key=lambda t: t[1])]
    nested = sorted(Path(rel).name for _, rel in files if rel.lower().endswith(".zip"))
    if not entries and nested:
        shown = ", ".join(nested[:3]) + (f" and {len(nested) - 3} more" if len(nested) > 3 else "")
        raise InputError(
            f"The zip holds other zip files ({shown}), which are not unpacked. Please unzip them and upload "
            "their contents, or upload each zip on its own."
        )
    return [_Entry(_reindex(e.info, i), e.load) for i, e in enumerate(entries)], scan


def _reindex(info: SeriesInfo, index: int) -> SeriesInfo:
    return dataclasses.replace(info, index=index)


def _dicom_entry(key: str, headers: list[DicomHeader]) -> _Entry:
    first = headers[0]
    n = len(unique_instances(headers)) if first.frames == 1 else first.frames
    info = SeriesInfo(
        index=0,
        key=key,
        description=first.series_description,
        n_slices=n,
        orientation=first.orientation,
        sequence=first.sequence,
        repetition_time_ms=first.repetition_time_ms,
        echo_time_ms=first.echo_time_ms,
        rows=first.rows,
        cols=first.cols,
        kind="dicom",
        series_number=first.series_number,
        patient_hash=first.patient_hash,
        study_hash=first.study_hash,
    )
    return _Entry(info, lambda: read_dicom_series(headers))


def _image_entry(path: Path, rel: str) -> _Entry:
    from modic_core.io.image_headers import inspect_image  # lazy: pulls in nibabel; only image files need it

    header = inspect_image(path)
    size = header.size
    dim = len(size)
    normal = np.asarray(header.direction).reshape(dim, dim)[:, 2] if dim == 3 else np.array([0.0, 0.0, 1.0])
    orientation = orientation_name(normal[:3]) if dim == 3 else "unknown"  # a 2D file has no slice orientation
    n_slices, rows, cols = (int(size[2]) if dim >= 3 else 1), (int(size[1]) if dim >= 2 else 1), int(size[0])
    if dim == 3 and len(header.spacing) == 3 and reoriented(size, header.spacing, header.direction):
        orientation = "sagittal"  # as read_image will lay it out (modic_core.io.layout)
        n_slices, rows, cols = sagittal_size(size, header.direction)
    sequence = guess_sequence(path.name)
    info = SeriesInfo(
        index=0,
        key=image_series_key(rel),
        description=plain_text(path.name, limit=DICOM_LO_CHARS),
        n_slices=n_slices,
        orientation=orientation,
        sequence=sequence,
        repetition_time_ms=None,
        echo_time_ms=None,
        rows=rows,
        cols=cols,
        kind="nifti" if ".nii" in path.name.lower() else "mha",
    )
    return _Entry(info, lambda: read_image(path, sequence=sequence))


def image_series_key(rel: str) -> str:
    """``SeriesInfo.key`` of an image file stored at ``rel`` (its path relative to the source)."""
    return "file-" + salted_hash(rel)


def _volume_info(v: Volume) -> SeriesInfo:
    return SeriesInfo(
        index=0,
        key="volume",
        description=v.meta.series_description,
        n_slices=v.shape[0],
        orientation=v.orientation(),
        sequence=v.meta.sequence,
        repetition_time_ms=v.meta.repetition_time_ms,
        echo_time_ms=v.meta.echo_time_ms,
        rows=v.shape[1],
        cols=v.shape[2],
        kind=v.meta.source or "volume",
    )


def _pick(entries: list[_Entry], series: str | int | SeriesInfo) -> _Entry:
    if isinstance(series, SeriesInfo):
        series = series.key
    if isinstance(series, (int, np.integer)) and not isinstance(series, bool):
        if 0 <= int(series) < len(entries):
            return entries[int(series)]
        raise InputError(f"There is no series number {int(series) + 1}; the source holds {len(entries)} series.")
    for entry in entries:
        if entry.info.key == series:
            return entry
    raise InputError("The chosen series was not found in these files; please choose the series again.")


def _nothing_found(source: Any, *, damaged: int) -> InputError:
    if damaged:
        return InputError(
            f"The DICOM files in {describe_source(source)} are damaged or truncated and could not be read. "
            "Please export the series again."
        )
    return InputError(
        f"No medical image was found in {describe_source(source)}: this is not a medical image "
        "(DICOM, MHA or NIfTI). Please give a DICOM folder, a zip of one, or MHA/NIfTI files."
    )
