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


# --------------------------------------------------------------------------- hostile headers and names (issue #11)

SECRET = np.full(32 * 32 * 3, 77, np.uint8).tobytes()  # a "server file" outside the upload folder
INSIDE = np.arange(32 * 32 * 3, dtype=np.uint32).astype(np.uint8).tobytes()
path_piece = st.sampled_from(["..", ".", "", "/", "etc", "services", "x.raw", "secret.raw", "dev", "urandom", "sub", "%d", "LIST"])
data_file = st.one_of(
    st.lists(path_piece, min_size=1, max_size=8).map(lambda parts: "/".join(parts)),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), max_size=40),
)


@settings(max_examples=80, deadline=10_000, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(ref=data_file, fmt=st.sampled_from(["mhd", "nrrd"]))
def test_detached_headers_never_read_outside_their_folder(ref, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "secret.raw").write_bytes(SECRET)
        up = root / "up"
        (up / "sub").mkdir(parents=True)
        (up / "x.raw").write_bytes(INSIDE)
        if fmt == "mhd":
            text = ("ObjectType = Image\nNDims = 3\nTransformMatrix = 0 1 0 0 0 -1 -1 0 0\nElementSpacing = 0.8 0.8 4\n"
                    f"DimSize = 32 32 3\nElementType = MET_UCHAR\nElementDataFile = {ref}\n")
        else:
            text = ("NRRD0004\ntype: unsigned char\ndimension: 3\nsizes: 32 32 3\n"
                    "space directions: (0,0.8,0) (0,0,-0.8) (-4,0,0)\nencoding: raw\n"
                    f"data file: {ref}\n\n")
        (up / f"h.{fmt}").write_text(text, errors="surrogateescape")
        try:
            v = load_series(up / f"h.{fmt}")
        except InputError:
            return
        assert v.array.tobytes() != np.frombuffer(SECRET, np.uint8).astype(np.float32).tobytes()
        assert not np.all(v.array == 77)


member_name = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=300),
    min_size=1, max_size=4,
).map(lambda parts: "/".join(parts))


@settings(max_examples=60, deadline=10_000, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(member_name, min_size=1, max_size=6))
def test_zip_member_names_never_escape_collide_or_raise_oserror(names):
    import warnings
    import zipfile

    from modic_core.io import upload as up

    with tempfile.TemporaryDirectory() as tmp:
        z = Path(tmp) / "n.zip"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with zipfile.ZipFile(z, "w") as zf:
                for i, name in enumerate(names):
                    zf.writestr(name, str(i).encode())
        dest = Path(tmp) / "dest"
        dest.mkdir()
        try:
            files = up.extract_zip(z, dest)
        except InputError:
            return
        assert all(p.resolve().is_relative_to(dest.resolve()) for p in files)
        assert len({p.resolve() for p in files}) == len(files)  # nothing overwritten
        kept = [n for n in names if not up.skip_name(n) and not n.endswith(("/", "\\"))]
        assert sorted(int(p.read_bytes()) for p in files) == sorted(i for i, n in enumerate(names) if n in kept)


@settings(max_examples=60, deadline=10_000, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dims=st.lists(st.integers(-2, 32767), min_size=4, max_size=4),
    pixdim=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=3, max_size=3),
    cut=st.floats(0.0, 1.0),
)
def test_nifti_header_fuzz(dims, pixdim, cut):
    import struct

    import SimpleITK as sitk

    with tempfile.TemporaryDirectory() as tmp:
        img = sitk.GetImageFromArray(np.random.default_rng(0).integers(1, 99, (3, 32, 32)).astype(np.uint8))
        img.SetDirection((0, 0, -1, 1, 0, 0, 0, -1, 0))
        path = Path(tmp) / "f.nii"
        sitk.WriteImage(img, str(path))
        data = bytearray(path.read_bytes())
        struct.pack_into("<4h", data, 40, *dims)
        struct.pack_into("<3f", data, 80, *pixdim)
        kept = max(352, int(len(data) * cut))
        path.write_bytes(bytes(data[:kept]))
        try:
            v = load_series(path)
        except InputError:
            return
        _check(v)
        assert all(0 < s < 1000 for s in v.spacing)
        assert v.array.size <= kept - 352  # every voxel came from the file: nothing zero-filled


def test_a_member_ending_in_a_backslash_is_a_folder_not_a_file(tmp_path):
    import zipfile

    from modic_core.io import upload as up

    z = tmp_path / "n.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("0\\", b"0")  # found by the fuzzer above: a Windows-style folder entry
        zf.writestr("a/1.dcm", b"1")
    dest = tmp_path / "dest"
    dest.mkdir()
    files = up.extract_zip(z, dest)
    assert [p.read_bytes() for p in files] == [b"1"]
