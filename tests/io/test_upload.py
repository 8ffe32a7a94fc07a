"""Uploads and zips: zip-slip, zip bombs, size limits, name hygiene, temp folders removed."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from modic_core import InputError
from modic_core.io import load_series
from modic_core.io import upload as up

from .conftest import DICOM_DIR, assert_input_error, uploads_of, zip_folder

MIB = 1 << 20


def make_zip(path, members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


@pytest.mark.parametrize("name", ["../evil.dcm", "a/../../evil.dcm", "/tmp/evil.dcm", "C:\\evil.dcm", "..\\evil.dcm"])
def test_zip_slip_is_rejected(tmp_path, private_tempdir, name):
    z = make_zip(tmp_path / "x.zip", {"ok/IM1.dcm": b"x", name: b"payload"})
    for source in (z, [("x.zip", z.read_bytes())]):
        assert_input_error(lambda s=source: load_series(s), "outside its own folder")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InputError):
        up.extract_zip(z, dest)
    assert list(dest.iterdir()) == []  # checked before anything is written
    assert not (tmp_path / "evil.dcm").exists()
    assert list(private_tempdir.iterdir()) == []


def test_zip_bomb_by_ratio(tmp_path, private_tempdir):
    z = make_zip(tmp_path / "bomb.zip", {"IM1.dcm": bytes(20 * MIB)})  # ~1000x compression
    assert z.stat().st_size < MIB
    assert_input_error(lambda: load_series(z), "implausibly large")
    assert_input_error(lambda: load_series([("bomb.zip", z.read_bytes())]), "implausibly large")
    assert list(private_tempdir.iterdir()) == []


def test_zip_bomb_by_total_size(tmp_path, monkeypatch):
    z = zip_folder(DICOM_DIR, tmp_path / "s.zip")  # ~3 MiB unpacked, ordinary compression
    with pytest.raises(InputError, match="implausibly large"):
        up.extract_zip(z, tmp_path, max_unzipped_bytes=MIB)
    monkeypatch.setenv("MODIC_MAX_UNZIPPED_MB", "2")
    assert_input_error(lambda: load_series(z), "implausibly large", "2.0 MiB")


def test_highly_compressible_small_members_are_fine(tmp_path):
    # A blank DICOM slice compresses ~1000x; below RATIO_CHECK_MIN_BYTES that is not a bomb.
    z = make_zip(tmp_path / "blank.zip", {"IM1.dcm": bytes(500_000), "IM2.dcm": bytes(500_000)})
    dest = tmp_path / "out"
    dest.mkdir()
    files = up.extract_zip(z, dest)
    assert sorted(p.name for p in files) == ["IM1.dcm", "IM2.dcm"]
    assert all(p.stat().st_size == 500_000 for p in files)


def test_too_many_members(tmp_path):
    z = make_zip(tmp_path / "many.zip", {f"f{i}": b"" for i in range(30)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(InputError, match="30 files"):
        up.extract_zip(z, tmp_path, max_members=20)


def test_damaged_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(np.random.default_rng(3).bytes(5000))
    assert_input_error(lambda: load_series(bad), "damaged or not a zip")
    good = zip_folder(DICOM_DIR, tmp_path / "good.zip").read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good[: len(good) // 2])  # central directory missing
    assert_input_error(lambda: load_series(cut), "zip file is damaged")


def test_symlink_members_are_not_created(tmp_path):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("link.dcm")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
        zf.writestr("real.txt", "hi")
    dest = tmp_path / "out"
    dest.mkdir()
    assert [p.name for p in up.extract_zip(z, dest)] == ["real.txt"]
    assert not (dest / "link.dcm").exists()


def test_upload_beyond_size_limit(tmp_path, monkeypatch, private_tempdir):
    uploads = uploads_of(DICOM_DIR)  # ~3 MiB
    with pytest.raises(InputError, match="too large"):
        up.materialize_uploads(uploads, tmp_path, max_upload_bytes=MIB)
    assert list(tmp_path.iterdir()) == [private_tempdir]  # nothing written
    monkeypatch.setenv("MODIC_MAX_UPLOAD_MB", "1")
    assert_input_error(lambda: load_series(uploads), "too large", "1.0 MiB")
    assert list(private_tempdir.iterdir()) == []


def test_default_limits(monkeypatch):
    from modic_core.settings import limits

    for var in ("MODIC_MAX_UPLOAD_MB", "MODIC_MAX_UNZIPPED_MB", "MODIC_MAX_COMPRESSION_RATIO"):
        monkeypatch.delenv(var, raising=False)
    lim = limits()
    assert lim.max_upload_bytes == 1 << 30
    assert lim.max_unzipped_bytes == 1 << 30
    assert lim.max_compression_ratio == 200
    monkeypatch.setenv("MODIC_MAX_UPLOAD_MB", "3")  # read at call time
    assert limits().max_upload_bytes == 3 * MIB


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IM0001", "IM0001"),
        ("a/b/c/IM0001.dcm", "IM0001.dcm"),
        ("C:\\Users\\x\\scan.dcm", "scan.dcm"),
        ("../../etc/passwd", "passwd"),
        ("..", "file"),
        ("", "file"),
        ("weird name;rm -rf.dcm", "weird_name_rm_-rf.dcm"),
    ],
)
def test_safe_filename(name, expected):
    assert up.safe_filename(name) == expected


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        ("IM0001", False),
        ("DICOMDIR", True),
        ("export/dicomdir", True),
        (".DS_Store", True),
        ("__MACOSX/._IM0001", True),
        ("series/.hidden/IM1", True),
        ("../IM1.dcm", False),  # not hidden; uploads lose their folders, zips reject '..' before
    ],
)
def test_skip_name(name, skipped):
    assert up.skip_name(name) is skipped


def test_uploads_are_written_with_unique_names(tmp_path):
    files = up.materialize_uploads([("a/IM1", b"1"), ("b/IM1", b"2"), ("IM2", b"3")], tmp_path)
    assert sorted(p.read_bytes() for p in files) == [b"1", b"2", b"3"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in files) == ["IM1", "IM2", "dup_2/IM1"]
