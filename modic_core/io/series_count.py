"""Counting the series of an upload or zip from the files' first bytes, before anything is unpacked.

An upload of thousands of tiny one-slice series (issue #21) would otherwise be written to disk file
by file, scanned and paired before being refused. :func:`check_series_count` stops as soon as more
than ``limits().max_series`` (``MODIC_MAX_SERIES``) distinct series are seen: an image file
(MHA/NIfTI/NRRD, by name) is one series; a DICOM file's SeriesInstanceUID (0020,000E) is found in
its first :data:`HEAD_BYTES` bytes (explicit or implicit VR, little endian). Files whose UID is not
found there are not counted; the header scan (:func:`modic_core.io.dicom.scan_dicom`) counts them later.
The UIDs are kept in memory for the count only.
"""
from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable

from modic_core.io.dicom import too_many_series
from modic_core.io.images import is_image_file

__all__ = ["HEAD_BYTES", "check_series_count", "series_uid_in"]

HEAD_BYTES = 16 << 10  # the SeriesInstanceUID of a DICOM file lies well within its first 16 KiB
_TAG = b"\x20\x00\x0e\x00"  # (0020,000E) little endian
_UID = re.compile(rb"[0-9.]{1,64}")


def series_uid_in(head: bytes) -> bytes | None:
    """The SeriesInstanceUID in the first bytes of a DICOM file, or None when not found there."""
    start = 0
    while (at := head.find(_TAG, start)) >= 0:
        start = at + 1
        if head[at + 4 : at + 6] == b"UI":  # explicit VR: 2-byte length
            if at + 8 > len(head):
                return None
            length, value_at = struct.unpack_from("<H", head, at + 6)[0], at + 8
        else:  # implicit VR: 4-byte length
            if at + 8 > len(head):
                return None
            length, value_at = struct.unpack_from("<I", head, at + 4)[0], at + 8
        value = head[value_at : value_at + length].rstrip(b"\x00 ")
        if 0 < length <= 64 and value_at + length <= len(head) and _UID.fullmatch(value):
            return value
    return None


def check_series_count(files: Iterable[tuple[str, Callable[[], bytes]]], *, max_series: int) -> None:
    """Raise :func:`~modic_core.io.dicom.too_many_series` once more than ``max_series`` series are seen.

    ``files`` are ``(name, head)`` pairs; ``head()`` returns (at least) the file's first
    :data:`HEAD_BYTES` bytes and is called only for names that are not image files.
    """
    seen: set[bytes] = set()
    for name, head in files:
        key = b"file:" + name.encode("utf-8", "surrogatepass") if is_image_file(name) else series_uid_in(head())
        if key is None:
            continue
        seen.add(key)
        if len(seen) > max_series:
            raise too_many_series(max_series)
