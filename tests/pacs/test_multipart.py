"""The streamed multipart reader: boundaries split across chunks, preamble and epilogue, truncation, budget."""
from __future__ import annotations

import pytest

from modic_core.pacs.errors import PacsError
from modic_core.pacs.multipart import ByteBudget, boundary_of, write_parts

B = b"xYz"


def _body(*parts: bytes, close: bool = True) -> bytes:
    out = b"preamble\r\n"
    for p in parts:
        out += b"--" + B + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
    return out + (b"--" + B + b"--\r\nepilogue" if close else b"")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_parts_survive_any_chunking(tmp_path, size):
    parts = [b"first\r\n--xY", b"", b"third" * 50]
    body = _body(*parts)
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    paths = write_parts(chunks, B, tmp_path, budget=ByteBudget(10**6, what="x"))
    assert [p.read_bytes() for p in paths] == parts


def test_a_body_without_its_closing_boundary_is_truncated(tmp_path):
    with pytest.raises(PacsError, match="truncated"):
        write_parts([_body(b"a", b"b", close=False)], B, tmp_path, budget=ByteBudget(10**6, what="x"))
    with pytest.raises(PacsError, match="truncated"):
        write_parts([], B, tmp_path, budget=ByteBudget(10**6, what="x"))


def test_the_budget_is_checked_per_chunk_across_transfers(tmp_path):
    budget = ByteBudget(250, what="the upload limit (MODIC_MAX_UPLOAD_MB)")
    write_parts([_body(b"a" * 100)], B, tmp_path, budget=budget)
    with pytest.raises(PacsError, match="MODIC_MAX_UPLOAD_MB"):
        write_parts([_body(b"b" * 100)], B, tmp_path, budget=budget, prefix="t2")


@pytest.mark.parametrize("content_type", [None, "text/html", "application/dicom", "multipart/related"])
def test_content_types_other_than_multipart_with_boundary(content_type):
    with pytest.raises(PacsError):
        boundary_of(content_type)
    assert boundary_of('multipart/related; type="application/dicom"; boundary="a b"') == b"a b"
