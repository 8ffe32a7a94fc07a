"""Fuzzing the reader: truncated and bit-flipped real DICOM, random bytes.

Every case ends in a valid Volume or an InputError, never another exception or a hang.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from modic_core import InputError, Volume
from modic_core.io import list_series, load_series

from .conftest import DICOM_FILES

# Hypothesis caches constants (and examples) under ./.hypothesis even with database=None; keep the
# checkout clean by pointing it at a temporary folder (removed at exit) unless CI chose a place.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    _HYPOTHESIS_HOME = tempfile.TemporaryDirectory(prefix="hypothesis_")
    set_hypothesis_home_dir(_HYPOTHESIS_HOME.name)

REAL = DICOM_FILES[6].read_bytes()
PIXELS_AT = REAL.rfind(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data: the header ends here
assert 1000 < PIXELS_AT < 4000

truncated = st.integers(0, len(REAL) - 1).map(lambda n: ("truncated", REAL[:n]))


def _flip(flips: list[tuple[int, int]]) -> tuple[str, bytes]:
    data = bytearray(REAL)
    for offset, bit in flips:
        data[offset] ^= 1 << bit
    return "flipped", bytes(data)


header_flips = st.lists(st.tuples(st.integers(0, PIXELS_AT + 12), st.integers(0, 7)), min_size=1, max_size=6).map(_flip)
anywhere_flips = st.lists(st.tuples(st.integers(0, len(REAL) - 1), st.integers(0, 7)), min_size=1, max_size=20).map(_flip)
random_bytes = st.tuples(st.booleans(), st.binary(max_size=4096)).map(
    lambda t: ("random", (b"\x00" * 128 + b"DICM" if t[0] else b"") + t[1])
)
cases = st.one_of(truncated, header_flips, header_flips, anywhere_flips, random_bytes)


def _check(result) -> None:
    assert isinstance(result, Volume)
    assert result.array.dtype == np.float32 and result.array.ndim == 3
    assert np.all(np.isfinite(result.array))
    assert result.orientation() == "sagittal"


@settings(
    max_examples=60,
    deadline=10_000,
    database=None,  # never write a .hypothesis folder into the checkout
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=cases, as_upload=st.booleans())
def test_reader_never_raises_anything_but_input_error(case, as_upload):
    kind, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "IM0001.dcm"
        path.write_bytes(data)
        source = [("IM0001.dcm", data)] if as_upload else path
        try:
            _check(load_series(source))
        except InputError as exc:
            assert str(exc) and "Traceback" not in str(exc)
        try:
            infos = list_series(source)
            assert len(infos) == 1
        except InputError:
            pass


def test_fuzz_inputs_reach_the_decoder():
    """Sanity check of the corpus: the untouched file loads, and header flips parse as DICOM."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ok.dcm"
        path.write_bytes(REAL)
        _check(load_series(path))
    ds = pydicom.dcmread(DICOM_FILES[6], stop_before_pixels=True)
    assert ds.Rows == 320
