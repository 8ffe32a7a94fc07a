"""Streaming a WADO-RS ``multipart/related`` answer to files, counting bytes as they arrive.

The body is never held whole: each part (one DICOM instance) is written to its own file as soon as its
closing boundary is seen. The byte budget is checked on every chunk, so an oversized series stops at the
limit, before anything is decoded. A body that ends before the closing boundary is refused (truncated),
as is a content type other than ``multipart/related``.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from modic_core.pacs.errors import PacsError

__all__ = ["ByteBudget", "boundary_of", "write_parts"]


class ByteBudget:
    """Bytes still allowed across several transfers (e.g. both series of a pair). ``what`` names the
    limit in the message (e.g. "the upload limit (MODIC_MAX_UPLOAD_MB)")."""

    def __init__(self, limit: int, *, what: str) -> None:
        self.limit = int(limit)
        self.used = 0
        self.what = what

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise PacsError(f"The series sent by the PACS are larger than {self.limit / 2**20:.0f} MiB, "
                            f"{self.what}; please choose smaller series or ask the administrator to raise it.")


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/related`` content type; PacsError for any other content type."""
    media, *params = [p.strip() for p in (content_type or "").split(";")]
    if media.lower() != "multipart/related":
        raise PacsError(f"The PACS answered with {media[:40] or 'no content type'!r} instead of DICOM files "
                        "(multipart/related); check that the URL points at the archive's DICOMweb service.")
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1", "replace")
    raise PacsError("The PACS answered with a multipart message without a boundary; it cannot be read.")


def _content(part: bytes) -> bytes | None:
    part = part[2:] if part.startswith(b"\r\n") else part
    if not part.strip():
        return None
    end = part.find(b"\r\n\r\n")
    if end < 0:
        raise PacsError("The PACS sent a damaged multipart message (a part without headers); it cannot be read.")
    return part[end + 4:]


def write_parts(chunks: Iterable[bytes], boundary: bytes, folder: Path, *, budget: ByteBudget,
                prefix: str = "part") -> list[Path]:
    """Write each part's body to ``folder/<prefix>_<n>.dcm``; returns the paths in order.

    PacsError when the budget is exceeded or the body ends before the closing ``--boundary--``.
    """
    marker = b"--" + boundary
    buf = bytearray()
    paths: list[Path] = []
    started = closed = at_delimiter = False
    for chunk in chunks:
        if not chunk:
            continue
        budget.take(len(chunk))
        if closed:
            continue  # an epilogue after the closing boundary is ignored (still counted)
        buf += chunk
        while True:
            if at_delimiter:  # just after a boundary: "--" closes the message, anything else starts a part
                if len(buf) < 2:
                    break
                if buf[:2] == b"--":
                    closed = True
                    buf.clear()
                    break
                at_delimiter = False
            if not started:
                at = buf.find(marker)
                if at < 0:
                    break
                del buf[:at + len(marker)]
                started = at_delimiter = True
                continue
            at = buf.find(b"\r\n" + marker)
            if at < 0:
                break
            body = _content(bytes(buf[:at]))
            del buf[:at + 2 + len(marker)]
            at_delimiter = True
            if body is not None:
                path = folder / f"{prefix}_{len(paths) + 1:05d}.dcm"
                path.write_bytes(body)
                paths.append(path)
    if not closed:
        raise PacsError("The PACS stopped sending before the end of the series (truncated answer); "
                        "please try again, and ask the administrator if it keeps happening.")
    return paths
