"""Shared helpers for the data-layer tests: the real DICOM fixture and edited copies of it.

Every test input is written under pytest's ``tmp_path``; the fixtures folder is read only.
"""
from __future__ import annotations

import copy
import functools
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from modic_core import InputError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DICOM_DIR = FIXTURES / "dicom_t1_sag"
SPIDER_DIR = FIXTURES / "spider_pair"
DICOM_FILES = sorted(DICOM_DIR.glob("*.dcm"))


@functools.lru_cache(maxsize=1)
def _fixture_datasets() -> tuple[pydicom.Dataset, ...]:
    return tuple(pydicom.dcmread(p) for p in DICOM_FILES)


def fixture_datasets() -> list[pydicom.Dataset]:
    """Fresh, editable copies of the 15 fixture slices (instance order)."""
    return [copy.deepcopy(ds) for ds in _fixture_datasets()]


def normal_of(ds: pydicom.Dataset) -> np.ndarray:
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    n = np.cross(iop[:3], iop[3:])
    return n / np.linalg.norm(n)


def write_series(
    folder: Path,
    datasets: list[pydicom.Dataset] | None = None,
    *,
    edit: Callable[[int, pydicom.Dataset], None] | None = None,
    new_series: bool = True,
    description: str | None = None,
    tr: float | None = None,
    te: float | None = None,
    patient_id: str | None = None,
) -> Path:
    """Write (edited copies of) the fixture series into ``folder`` and return it.

    ``new_series`` gives the copy its own SeriesInstanceUID and SOPInstanceUIDs.
    ``edit(i, ds)`` is applied to each slice after the other changes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    datasets = fixture_datasets() if datasets is None else datasets
    series_uid = generate_uid()
    for i, ds in enumerate(datasets):
        if new_series:
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if description is not None:
            ds.SeriesDescription = description
        if tr is not None:
            ds.RepetitionTime = tr
        if te is not None:
            ds.EchoTime = te
        if patient_id is not None:
            ds.PatientID = patient_id
        if edit is not None:
            edit(i, ds)
        ds.save_as(folder / f"IM{i:04d}.dcm", enforce_file_format=True)
    return folder


def write_t2_series(
    folder: Path,
    *,
    datasets: list[pydicom.Dataset] | None = None,
    edit: Callable[[int, pydicom.Dataset], None] | None = None,
    **kw,
) -> Path:
    """A 'T2' copy of the fixture: new series, description 'T2 TSE SAG', TR 3000 ms, TE 100 ms,
    pixel values inverted (4095 - value), so it is not the same image as the T1."""

    def t2_edit(i: int, ds: pydicom.Dataset) -> None:
        ds.PixelData = (4095 - ds.pixel_array.astype(np.int32)).clip(0).astype(np.uint16).tobytes()
        if edit is not None:
            edit(i, ds)

    return write_series(folder, datasets, description="T2 TSE SAG", tr=3000, te=100, edit=t2_edit, **kw)


def zip_folder(folder: Path, zip_path: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(folder).as_posix())
    return zip_path


def uploads_of(folder: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) pairs as a browser upload gives them."""
    return [(p.name, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


class FakeUploadedFile:
    """Quacks like Streamlit's UploadedFile (.name, .getvalue())."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._data = data

    def getvalue(self) -> bytes:
        return self._data


def dicom_bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def assert_input_error(fn: Callable[[], object], *phrases: str) -> InputError:
    """``fn()`` raises InputError whose message is a readable sentence containing every phrase."""
    with pytest.raises(InputError) as info:
        fn()
    msg = str(info.value)
    for phrase in phrases:
        assert phrase.lower() in msg.lower(), f"{phrase!r} not in {msg!r}"
    assert msg[:1].isupper() and msg.rstrip().endswith((".", ")")), msg
    assert "Traceback" not in msg and "Error" not in msg, msg
    return info.value


@pytest.fixture()
def private_tempdir(tmp_path, monkeypatch) -> Path:
    """Redirect :mod:`tempfile` into an empty folder so tests can check nothing is left behind."""
    import tempfile

    tmp = tmp_path / "tempdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp
