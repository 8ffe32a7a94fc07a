"""Materialising browser uploads and zip archives into a temporary folder, safely.

Everything is written into a fresh :func:`tempfile.TemporaryDirectory` that is removed
when the context manager exits, also on errors. Sizes are in bytes. Every limit comes from
:func:`modic_core.settings.limits`, read at each call (environment variables override them).

Guards, all checked before anything is written (each failure is an :class:`~modic_core.InputError`):

- uploads above ``max_upload_bytes`` in total;
- zip members with absolute paths or ``..`` components (zip-slip);
- zips that declare more than ``max_unzipped_bytes``, members above ``ratio_check_min_bytes``
  compressed more than ``max_compression_ratio`` times, or whole zips above 64 MiB compressed
  more than that ratio (zip bombs; small members alone are exempt because a blank DICOM slice
  legitimately compresses ~1000x); what is really unpacked is counted too, since declared sizes can lie;
- more than ``max_zip_members`` members; encrypted members; compression methods Python cannot unpack;
- when ``max_series`` is given (uploads read as series, not cohorts): more than that many series,
  counted from the files' first bytes (:mod:`modic_core.io.series_count`) before anything is written.

Directories are stripped from uploaded file names; DICOMDIR, hidden files and macOS
``__MACOSX`` resource folders are skipped. Files whose names collide (after cleaning, or because a zip
holds one name twice) go to ``dup_2/``, ``dup_3/``... folders, never overwrite: no file is silently dropped. Names are
shortened to what every file system accepts.
"""
from __future__ import annotations

import hashlib
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modic_core.errors import InputError
from modic_core.io.series_count import HEAD_BYTES, check_series_count
from modic_core.io.tempdirs import UPLOAD_PREFIX, record_owner
from modic_core.settings import limits

__all__ = [
    "Upload",
    "as_uploads",
    "extract_zip",
    "is_upload_like",
    "materialize_uploads",
    "safe_filename",
    "skip_name",
    "stored_paths",
    "temporary_folder",
]

_CHUNK = 1 << 20
_WHOLE_ZIP_RATIO_MIN_BYTES = 64 << 20  # whole zips below this unpacked size are exempt from the ratio check
_MAX_NAME_BYTES = 120  # one path component, UTF-8 (file systems allow 255)
_MAX_REL_PATH_BYTES = 1024  # a member's folder path, UTF-8 (PATH_MAX is 4096 with the temp folder in front)
_MAX_DEPTH = 16
_SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_METHOD_NAMES = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "XZ", 98: "PPMd", 99: "WinZip AES encryption"}


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
    base = _shorten(base)
    if base in ("", ".", ".."):
        return fallback
    return base


def _shorten(name: str, max_bytes: int = _MAX_NAME_BYTES) -> str:
    """``name`` cut to ``max_bytes`` of UTF-8, keeping its (short) suffix and a hash of the whole."""
    if len(name.encode("utf-8", "surrogatepass")) <= max_bytes:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    suffix = "".join(Path(name).suffixes[-2:])
    suffix = suffix if len(suffix) <= 16 else ""
    head = name[: len(name) - len(suffix)] if suffix else name
    budget = max_bytes - len(suffix) - len(digest) - 1
    head = head.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")
    return f"{head}_{digest}{suffix}"


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
    """A fresh private temporary folder, removed on exit. It records its owner process (a hidden
    file, :mod:`modic_core.io.tempdirs`), so a start-up sweep removes it if the process is killed."""
    with tempfile.TemporaryDirectory(prefix=UPLOAD_PREFIX) as tmp:
        record_owner(Path(tmp))
        yield Path(tmp)


def materialize_uploads(
    uploads: Iterable[Any],
    dest: Path,
    *,
    max_upload_bytes: int | None = None,
    max_unzipped_bytes: int | None = None,
    max_ratio: float | None = None,
    max_series: int | None = None,
) -> list[Path]:
    """Write uploads into ``dest`` (an existing, empty folder); zips are extracted.

    Returns the written file paths. Names are stripped of directories and made unique.
    Limits default to :func:`modic_core.settings.limits`, read at call time. ``max_series``
    (None: not counted) refuses, before writing, more series among the files or in one zip.
    """
    if max_upload_bytes is None:
        max_upload_bytes = limits().max_upload_bytes
    items = as_uploads(uploads)
    total = sum(len(u.data) for u in items)
    if total > max_upload_bytes:
        raise InputError(
            f"The upload is too large ({_human(total)}); the limit is {_human(max_upload_bytes)}. "
            "Please upload only the two sagittal series you need."
        )
    if max_series is not None and len(items) > max_series:
        plain = [u for u in items if not skip_name(u.name) and not u.name.lower().endswith(".zip")]
        check_series_count(((u.name, lambda u=u: u.data[:HEAD_BYTES]) for u in plain), max_series=max_series)
    paths: list[Path] = []
    used: set[str] = set()
    for i, item in enumerate(items):
        if skip_name(item.name):
            continue
        rel = _unique([safe_filename(item.name, fallback=f"upload_{i}")], used)
        if rel[-1].lower().endswith(".zip"):
            sub = dest.joinpath(*_unique([f"zip_{i}"], used))
            try:
                sub.mkdir(parents=True)
            except OSError as exc:
                raise _store_error(exc) from exc
            zpath = dest / f".zip_{i}.zip"  # hidden: never read as an image itself
            _write(zpath, item.data)
            try:
                paths += extract_zip(zpath, sub, max_unzipped_bytes=max_unzipped_bytes, max_ratio=max_ratio,
                                     max_series=max_series)
            finally:
                zpath.unlink(missing_ok=True)
            continue
        path = dest.joinpath(*rel)
        _write(path, item.data)
        paths.append(path)
    return paths


def stored_paths(names: Sequence[str]) -> list[str | None]:
    """Where :func:`materialize_uploads` stores each upload of these names, relative to ``dest``
    (``"t1.mha"``, ``"dup_2/t1.mha"`` for the second file of that name); None for skipped names and zips."""
    out: list[str | None] = []
    used: set[str] = set()
    for i, name in enumerate(names):
        if skip_name(name):
            out.append(None)
            continue
        rel = _unique([safe_filename(name, fallback=f"upload_{i}")], used)
        if rel[-1].lower().endswith(".zip"):
            _unique([f"zip_{i}"], used)  # the zip's folder, as materialize_uploads names it
            out.append(None)
        else:
            out.append("/".join(rel))
    return out


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise _store_error(exc) from exc


def _store_error(exc: OSError) -> InputError:
    return InputError(
        f"The uploaded files could not be stored on the server ({exc.strerror or 'file system error'}). "
        "Please try again with fewer or smaller files, or with shorter file and folder names."
    )


def extract_zip(
    zip_path: Path | str,
    dest: Path,
    *,
    max_unzipped_bytes: int | None = None,
    max_ratio: float | None = None,
    max_members: int | None = None,
    max_series: int | None = None,
) -> list[Path]:
    """Extract a zip into ``dest`` after checking every member; returns the extracted files.

    Limits default to :func:`modic_core.settings.limits`, read at call time. Nothing is
    written unless every member passes the checks. ``max_series`` (None, as for cohort zips:
    not counted) refuses a zip holding more series, counted from the members' first bytes.
    """
    lim = limits()
    max_unzipped_bytes = lim.max_unzipped_bytes if max_unzipped_bytes is None else max_unzipped_bytes
    max_ratio = lim.max_compression_ratio if max_ratio is None else max_ratio
    max_members = lim.max_zip_members if max_members is None else max_members
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError("The zip file is damaged or not a zip archive; please create it again.") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise InputError(
                f"The zip file holds {len(infos)} files, more than the {max_members} allowed. "
                "Please zip only the two sagittal series you need."
            )
        members = _checked_members(
            infos, max_unzipped_bytes=max_unzipped_bytes, max_ratio=max_ratio, ratio_min=lim.ratio_check_min_bytes
        )
        if max_series is not None and len(members) > max_series:
            check_series_count(((info.filename, lambda info=info: _member_head(zf, info)) for info, _ in members),
                               max_series=max_series)
        root = dest.resolve()
        written = 0
        out: list[Path] = []
        for info, parts in members:
            target = root.joinpath(*parts)
            if not target.resolve().is_relative_to(root):  # defence in depth after the name checks
                raise _zip_slip()
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as dst:
                    member_bytes = 0
                    while chunk := src.read(_CHUNK):
                        member_bytes += len(chunk)
                        written += len(chunk)
                        # Declared sizes can lie: count what is really unpacked.
                        if written > max_unzipped_bytes or member_bytes > info.file_size:
                            raise _zip_bomb(max_unzipped_bytes)
                        dst.write(chunk)
            except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
                raise InputError("The zip file is damaged and could not be unpacked; please create it again.") from exc
            except OSError as exc:
                raise _store_error(exc) from exc
            out.append(target)
    return out


def _checked_members(
    infos: list[zipfile.ZipInfo], *, max_unzipped_bytes: int, max_ratio: float, ratio_min: int
) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    """Members to extract with their cleaned, unique relative paths; raises before anything is written."""
    members = []
    total = compressed = 0
    used: set[str] = set()
    for info in infos:
        raw = info.filename
        if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw):
            raise _zip_slip()
        parts = [p for p in re.split(r"[\\/]", raw) if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise _zip_slip()
        if info.is_dir() or raw.endswith("\\") or not parts or skip_name(raw):
            continue  # a trailing backslash is a folder in zips written on Windows
        if stat.S_ISLNK(info.external_attr >> 16):
            continue  # symbolic links are never followed or created
        if info.flag_bits & 0x1 or info.flag_bits & 0x40:
            raise InputError("The zip file is password-protected (encrypted); please upload an unencrypted zip.")
        if info.compress_type not in _SUPPORTED_METHODS:
            method = _METHOD_NAMES.get(info.compress_type, "unknown")
            raise InputError(
                f"The zip file uses a compression method this program cannot unpack ({method}, method "
                f"{info.compress_type}). Please create the zip again with standard (Deflate) compression."
            )
        total += info.file_size
        compressed += info.compress_size
        if total > max_unzipped_bytes:
            raise _zip_bomb(max_unzipped_bytes)
        if info.file_size >= ratio_min and info.file_size > max_ratio * max(info.compress_size, 1):
            raise _zip_bomb(max_unzipped_bytes)
        members.append((info, _member_path(parts, used)))
    if total >= _WHOLE_ZIP_RATIO_MIN_BYTES and total > max_ratio * max(compressed, 1):
        raise _zip_bomb(max_unzipped_bytes)
    return members


def _member_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The first bytes of a member (empty when it cannot be read; the extraction reports that)."""
    try:
        with zf.open(info) as src:
            return src.read(HEAD_BYTES)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError, OSError):
        return b""


def _member_path(parts: list[str], used: set[str]) -> list[str]:
    """Cleaned relative path of a member: short components, a hashed folder when too deep, unique."""
    folders = [safe_filename(p, fallback="_") for p in parts[:-1]]
    if len(folders) > _MAX_DEPTH or len("/".join(folders).encode("utf-8")) > _MAX_REL_PATH_BYTES:
        # Keep files of one folder together (a .mhd and its .raw) under one short folder name.
        folders = ["d_" + hashlib.sha256("/".join(parts[:-1]).encode("utf-8", "surrogatepass")).hexdigest()[:16]]
    return _unique([*folders, safe_filename(parts[-1], fallback="_")], used)


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


def _unique(rel: list[str], used: set[str]) -> list[str]:
    """``rel``, or ``dup_2/rel``, ``dup_3/rel``... when taken: files keep their names (and a .mhd
    stays beside its .raw), and nothing is overwritten."""
    candidate, k = rel, 1
    while "/".join(candidate) in used:
        k += 1
        candidate = [f"dup_{k}", *rel]
    used.add("/".join(candidate))
    return candidate


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover

