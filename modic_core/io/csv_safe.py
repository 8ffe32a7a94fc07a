"""Cells that a spreadsheet would run as a formula are written as text.

A CSV cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab / carriage return, which some
spreadsheets strip before looking) is read by Excel, LibreOffice and Google Sheets as a formula
(e.g. a study ID ``=cmd|' /C calc'!A0``). Every CSV the product writes passes its string cells
through :func:`escape_cell`, which prefixes such text with an apostrophe (OWASP's advice).
Numbers stay numbers: only ``str`` values are touched, so ``-0.5`` in a numeric column is kept.
Text cells also lose their invisible format characters (bidi overrides such as U+202E, which
make a spreadsheet show spoofed words, zero-width characters, U+FEFF;
:func:`modic_core.text.strip_invisible`).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from modic_core.text import strip_invisible

__all__ = ["FORMULA_PREFIXES", "escape_cell", "escape_frame", "escape_row", "escape_rows", "unescape_cell"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    """``value`` without format characters, with a leading apostrophe when it is text a spreadsheet
    would run as a formula (non-text values unchanged)."""
    if not isinstance(value, str):
        return value
    value = strip_invisible(value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def escape_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a CSV row (column -> value) with every string cell escaped."""
    return {k: escape_cell(v) for k, v in row.items()}


def escape_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [escape_row(r) for r in rows]


def escape_frame(df):
    """A copy of a pandas DataFrame whose text cells (object/string columns) are escaped; headers too."""
    from pandas.api.types import is_object_dtype, is_string_dtype  # lazy: pandas is heavy; only the table path needs it

    out = df.copy()
    for col in out.columns:
        if is_object_dtype(out[col].dtype) or is_string_dtype(out[col].dtype):
            out[col] = out[col].map(escape_cell)
    out.columns = [escape_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def unescape_cell(value: Any) -> Any:
    """Undo :func:`escape_cell` (for reading back a CSV the product wrote, e.g. to resume)."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value
