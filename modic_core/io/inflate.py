"""Bounded, streaming inflation of zlib/gzip/raw-deflate data, one home for gzip NIfTI and
deflated DICOM.

:func:`inflate_chunks` never holds more than one chunk of inflated bytes (``chunk`` bytes,
1 MiB by default) and stops after ``max_out`` bytes, so a small compressed file cannot make the
reader allocate what it declares (``zlib.decompressobj`` with ``max_length``; the unconsumed
input is kept by the object and fed again). A gzip file may hold several members one after the
other (``cat a.gz b.gz``; zlib and gzip(1) read them as one stream); bytes after the last member
that do not start another member are ignored, as zlib's ``gzread`` and gzip(1) ("decompression
OK, trailing garbage ignored") do.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

__all__ = ["GZIP", "RAW_DEFLATE", "inflate_chunks"]

GZIP = 16 + zlib.MAX_WBITS  # wbits of a gzip member
RAW_DEFLATE = -zlib.MAX_WBITS  # wbits of a headerless deflate stream (DICOM Deflated Explicit VR LE)
_GZIP_MAGIC = b"\x1f\x8b"
_READ = 1 << 16  # compressed bytes read at a time


def inflate_chunks(
    fh: BinaryIO,
    *,
    wbits: int,
    max_out: int,
    chunk: int = 1 << 20,
    check: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """Inflated bytes of the stream read from ``fh``, in pieces of at most ``chunk`` bytes, at
    most ``max_out`` bytes in all (the caller sees it reached the bound by counting).

    A stream that ends early (truncated) simply stops; damaged data raises ``zlib.error``.
    ``check`` is called before each piece (e.g. to stop at a deadline by raising).
    """
    out = 0
    d = zlib.decompressobj(wbits)
    pending = b""
    while out < max_out:
        if check is not None:
            check()
        if not pending and not d.eof:
            pending = fh.read(_READ)
            if not pending:
                return  # input ended before the stream did: truncated
        if d.eof:
            rest = d.unused_data  # (after max_length, unconsumed_tail repeats it)
            if len(rest) < 2:
                rest += fh.read(2)
            if wbits != GZIP or not rest.startswith(_GZIP_MAGIC):
                return  # end of the (last) member: trailing bytes are ignored
            d, pending = zlib.decompressobj(wbits), rest
        piece = d.decompress(pending, min(chunk, max_out - out))
        pending = d.unconsumed_tail
        if piece:
            out += len(piece)
            yield piece

