"""Materialising browser uploads and zip archives into a temporary folder, safely.

Everything is written into a fresh :func:`tempfile.TemporaryDirectory` that is removed
when the context manager exits, also on errors. Sizes are in bytes.

Guards (each failure is an :class:`~modic_core.InputError`):

- uploads above ``MAX_UPLOAD_BYTES`` in total;
- zip members with absolute paths or ``..`` components (zip-slip);
- zips that unpack to more than ``MAX_UNZIPPED_BYTES``, or with a member larger than
  ``RATIO_CHECK_MIN_BYTES`` compressed more than ``MAX_COMPRESSION_RATIO`` times (zip bomb;
  small members are exempt because a blank DICOM slice legitimately compresses ~1000x);
- more than ``MAX_ZIP_MEMBERS`` members.

Directories are stripped from uploaded file names; DICOMDIR, hidden files and macOS
``__MACOSX`` resource folders are skipped.
"""
from __future__ import annotations

import re
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modic_core.errors import InputError

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_UNZIPPED_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_ZIP_MEMBERS",
    "RATIO_CHECK_MIN_BYTES",
    "Upload",
    "as_uploads",
    "extract_zip",
    "is_upload_like",
    "materialize_uploads",
    "safe_filename",
    "skip_name",
    "temporary_folder",
]

GIB = 1 << 30
MAX_UPLOAD_BYTES = GIB
MAX_UNZIPPED_BYTES = GIB
MAX_COMPRESSION_RATIO = 200.0
RATIO_CHECK_MIN_BYTES = 1 << 20
MAX_ZIP_MEMBERS = 50_000
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as the browser gave it and its content."""

    name: str
    data: bytes


def is_upload_like(item: Any) -> bool:
    """True for ``(filename, bytes)`` pairs and objects with ``.name`` and ``.getvalue()``."""
    if isinstance(item, Upload):
        return True
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (bytes, bytearray, memoryview)):
        return True
    return hasattr(item, "getvalue") and hasattr(item, "name")


def as_uploads(items: Iterable[Any]) -> list[Upload]:
    """Normalise ``(name, bytes)`` pairs and Streamlit ``UploadedFile``-like objects."""
    out = []
    for item in items:
        if isinstance(item, Upload):
            out.append(item)
        elif isinstance(item, tuple):
            out.append(Upload(str(item[0]), bytes(item[1])))
        else:
            out.append(Upload(str(item.name), bytes(item.getvalue())))
    return out


def safe_filename(name: str, *, fallback: str = "file") -> str:
    """Last path component of ``name`` with unusual characters replaced (never empty, no dirs)."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = re.sub(r"[^\w.\-]+", "_", base).strip()
    base = base[-200:]
    if base in ("", ".", ".."):
        return fallback
    return base


def skip_name(name: str) -> bool:
    """True for names we never read: hidden files, DICOMDIR, macOS resource forks."""
    parts = [p for p in re.split(r"[\\/]", name) if p not in ("", ".", "..")]
    if not parts:
        return True
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return True
    return parts[-1].upper() == "DICOMDIR"


@contextmanager
def temporary_folder() -> Iterator[Path]:
    """A fresh private temporary folder, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="modic_upload_") as tmp:
        yield Path(tmp)


def materialize_uploads(
    uploads: Iterable[Any],
    dest: Path,
    *,
    max_upload_bytes: int | None = None,
    max_unzipped_bytes: int | None = None,
    max_ratio: float | None = None,
) -> list[Path]:
    """Write uploads into ``dest`` (an existing, empty folder); zips are extracted.

    Returns the written file paths. Names are stripped of directories and made unique.
    Limits default to the module constants, read at call time.
    """
    if max_upload_bytes is None:
        max_upload_bytes = MAX_UPLOAD_BYTES
    items = as_uploads(uploads)
    total = sum(len(u.data) for u in items)
    if total > max_upload_bytes:
        raise InputError(
            f"The upload is too large ({_human(total)}); the limit is {_human(max_upload_bytes)}. "
            "Please upload only the two sagittal series you need."
        )
    paths: list[Path] = []
    used: set[str] = set()
    for i, item in enumerate(items):
        if skip_name(item.name):
            continue
        name = _unique(safe_filename(item.name, fallback=f"upload_{i}"), used, i)
        if name.lower().endswith(".zip"):
            sub = dest / f"zip_{i}"
            sub.mkdir()
            zpath = dest / f".zip_{i}.zip"  # hidden: never read as an image itself
            zpath.write_bytes(item.data)
            try:
                paths += extract_zip(zpath, sub, max_unzipped_bytes=max_unzipped_bytes, max_ratio=max_ratio)
            finally:
                zpath.unlink(missing_ok=True)
            continue
        path = dest / name
        path.write_bytes(item.data)
        paths.append(path)
    return paths


def extract_zip(
    zip_path: Path | str,
    dest: Path,
    *,
    max_unzipped_bytes: int | None = None,
    max_ratio: float | None = None,
    max_members: int | None = None,
) -> list[Path]:
    """Extract a zip into ``dest`` after checking every member; returns the extracted files.

    Limits default to the module constants, read at call time.
    """
    max_unzipped_bytes = MAX_UNZIPPED_BYTES if max_unzipped_bytes is None else max_unzipped_bytes
    max_ratio = MAX_COMPRESSION_RATIO if max_ratio is None else max_ratio
    max_members = MAX_ZIP_MEMBERS if max_members is None else max_members
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError("The zip file is damaged or not a zip archive; please create it again.") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise InputError(f"The zip file holds {len(infos)} files, more than the {max_members} allowed.")
        members = _checked_members(infos, max_unzipped_bytes=max_unzipped_bytes, max_ratio=max_ratio)
        root = dest.resolve()
        written = 0
        out: list[Path] = []
        for info, parts in members:
            target = root.joinpath(*parts)
            if not target.resolve().is_relative_to(root):  # defence in depth after the name checks
                raise _zip_slip()
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    member_bytes = 0
                    while chunk := src.read(_CHUNK):
                        member_bytes += len(chunk)
                        written += len(chunk)
                        # Declared sizes can lie: count what is really unpacked.
                        if written > max_unzipped_bytes or member_bytes > info.file_size:
                            raise _zip_bomb(max_unzipped_bytes)
                        dst.write(chunk)
            except RuntimeError as exc:  # encrypted member
                raise InputError("The zip file is password-protected; please upload an unencrypted zip.") from exc
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
                raise InputError("The zip file is damaged and could not be unpacked; please create it again.") from exc
            out.append(target)
    return out


def _checked_members(
    infos: list[zipfile.ZipInfo], *, max_unzipped_bytes: int, max_ratio: float
) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    members = []
    total = 0
    for info in infos:
        raw = info.filename
        if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw):
            raise _zip_slip()
        parts = [p for p in re.split(r"[\\/]", raw) if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise _zip_slip()
        if info.is_dir() or not parts or skip_name(raw):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            continue  # symbolic links are never followed or created
        total += info.file_size
        if total > max_unzipped_bytes:
            raise _zip_bomb(max_unzipped_bytes)
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > max_ratio * max(info.compress_size, 1):
            raise _zip_bomb(max_unzipped_bytes)
        safe_parts = [safe_filename(p, fallback="_") for p in parts]
        members.append((info, safe_parts))
    return members


def _zip_slip() -> InputError:
    return InputError(
        "The zip file contains paths that point outside its own folder (for example '../'); "
        "for safety it was not opened. Please zip the image folder again."
    )


def _zip_bomb(limit: int) -> InputError:
    return InputError(
        f"The zip file unpacks to an implausibly large size (more than {_human(limit)}, or extreme compression); "
        "for safety it was not opened."
    )


def _unique(name: str, used: set[str], i: int) -> str:
    if name in used:
        name = f"{i}_{name}"
    used.add(name)
    return name


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover

