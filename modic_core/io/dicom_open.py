"""Opening one DICOM file for pydicom within a time limit, and deflated files within a size limit.

Time (``MODIC_PARSE_SECONDS``): pydicom parses a file element by element through the file
object's ``read``; :class:`DeadlineFile` raises from ``read`` once the deadline has passed, so a
file with hundreds of thousands of elements is stopped mid-parse, in this process, within one
element of the limit. We chose this over parsing in a worker process with a timeout: a worker
costs a process start per file (hundreds of files per series), and the parsed dataset would have
to be pickled back. The decode of a frame by a C codec (JPEG, JPEG 2000) cannot be stopped from
Python; compressed series are decoded in a child process instead
(:mod:`modic_core.io.deadline_worker`).

Size (Deflated Explicit VR Little Endian, 1.2.840.10008.1.2.1.99): pydicom inflates the whole
dataset in memory before reading a single element (``zlib.decompress`` of the file), so a 1.6 MB
file can take gigabytes. :func:`check_deflated` inflates it first as a stream, counting and
discarding the output (:func:`modic_core.io.inflate.inflate_chunks`), and refuses it once it
would unpack to more than :func:`deflated_limit` bytes; only then does pydicom read it.
"""
from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
import zlib

from modic_core.errors import InputError
from modic_core.io.inflate import RAW_DEFLATE, inflate_chunks
from modic_core.settings import MIB, limits

__all__ = ["DEFLATED", "DeadlineFile", "check_deflated", "deflated_limit", "file_meta_end", "read_dataset"]

DEFLATED = "1.2.840.10008.1.2.1.99"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_HEADER_ALLOWANCE = 16 * MIB  # bytes of elements besides the pixels a deflated file may unpack to


class DeadlineFile:
    """A read-only binary file whose ``read`` raises ``on_timeout()`` once ``deadline``
    (``time.monotonic()``) has passed (and sets ``expired``: pydicom re-raises some errors met
    inside sequences as its own); everything else is the wrapped file's."""

    def __init__(self, fh: BinaryIO, deadline: float | None, on_timeout: Callable[[], Exception]) -> None:
        self._fh = fh
        self._deadline = deadline
        self._on_timeout = on_timeout
        self.seek, self.tell = fh.seek, fh.tell  # called per element: no wrapper
        self.expired = False

    def read(self, size: int = -1) -> bytes:
        if self._deadline is not None and time.monotonic() > self._deadline:
            self.expired = True
            raise self._on_timeout()
        return self._fh.read(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def read_dataset(
    path: Path,
    *,
    deadline: float | None,
    on_timeout: Callable[[], Exception],
    stop_before_pixels: bool = False,
) -> Any:
    """``pydicom.dcmread(path, force=True)`` stopped at ``deadline``; deflated files are first
    checked by :func:`check_deflated`."""
    import pydicom  # lazy: pydicom is heavy; only DICOM input/output needs it

    with open(path, "rb") as raw:
        meta_end, syntax = file_meta_end(raw)
        if syntax == DEFLATED:
            raw.seek(meta_end)
            check_deflated(raw, path=path, deadline=deadline, on_timeout=on_timeout)
        raw.seek(0)
        timed = DeadlineFile(raw, deadline, on_timeout)
        try:
            return pydicom.dcmread(timed, stop_before_pixels=stop_before_pixels, force=True)
        except Exception:
            if timed.expired:
                raise on_timeout() from None
            raise


def file_meta_end(fh: BinaryIO) -> tuple[int, str]:
    """Offset just after the File Meta group (0002,xxxx) of a Part 10 file and its transfer syntax
    UID; ``(0, '')`` when the file has no 128-byte preamble and 'DICM' prefix. Reads from the start."""
    fh.seek(0)
    head = fh.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        return 0, ""
    offset, syntax = 132, ""
    while True:
        element = fh.read(8)
        if len(element) < 8 or struct.unpack("<H", element[:2])[0] != 0x0002:
            return offset, syntax
        tag_element = struct.unpack("<H", element[2:4])[0]
        vr = element[4:6]
        if vr in _LONG_VRS:
            extra = fh.read(4)
            if len(extra) < 4:
                return offset, syntax
            length, size = struct.unpack("<I", extra)[0], 12
        else:
            length, size = struct.unpack("<H", element[6:8])[0], 8
        value = fh.read(length) if length < 1 << 16 else b""
        if tag_element == 0x0010:
            syntax = value.rstrip(b"\x00 ").decode("ascii", "replace")
        offset += size + length
        fh.seek(offset)


def deflated_limit(compressed_bytes: int) -> int:
    """Most bytes a deflated dataset of ``compressed_bytes`` may unpack to: the smaller of
    ``MODIC_MAX_COMPRESSION_RATIO`` times its size (at least ``ratio_check_min_bytes``) and the
    largest image one file may declare (``MODIC_MAX_VOXELS`` at 32 bits, plus 16 MiB of header)."""
    lim = limits()
    by_ratio = max(lim.ratio_check_min_bytes, int(compressed_bytes * lim.max_compression_ratio))
    return min(by_ratio, lim.max_voxels * 4 + _HEADER_ALLOWANCE)


def check_deflated(
    fh: BinaryIO,
    *,
    path: Path,
    deadline: float | None = None,
    on_timeout: Callable[[], Exception] | None = None,
) -> int:
    """Inflate the rest of ``fh`` (a deflated dataset) without keeping it; return its size or
    raise InputError when it exceeds :func:`deflated_limit`. Damaged streams are left to pydicom."""
    start = fh.tell()
    fh.seek(0, 2)
    compressed = fh.tell() - start
    fh.seek(start)
    limit = deflated_limit(compressed)

    def check() -> None:
        if deadline is not None and on_timeout is not None and time.monotonic() > deadline:
            raise on_timeout()

    total = 0
    try:
        for piece in inflate_chunks(fh, wbits=RAW_DEFLATE, max_out=limit + 1, check=check):
            total += len(piece)
    except zlib.error:
        return total
    if total > limit:
        ratio = limits().max_compression_ratio
        raise InputError(
            f"The DICOM file '{path.name}' is compressed (deflated) and would unpack to more than {limit / MIB:.0f} MiB "
            f"from {compressed / MIB:.1f} MiB, beyond the {ratio:g}x compression ratio (MODIC_MAX_COMPRESSION_RATIO) or "
            "the image size limits; it was not read. Please export the series uncompressed or with JPEG/JPEG 2000 "
            "compression."
        )
    return total
