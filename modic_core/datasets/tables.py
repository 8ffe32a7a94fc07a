"""Reading the product's CSV tables (cohort tables, predictions, labels) strictly and as text.

Cells are read as text with no NA guessing (``keep_default_na=False``), so an ID such as "NA",
"null" or "None" stays itself; numeric columns are then converted explicitly, an empty cell
becoming NaN and anything else that is not a finite number an :class:`~modic_core.InputError`
naming the file, line and column. A leading apostrophe that :mod:`modic_core.io.csv_safe`
added to a formula-like cell is removed again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from modic_core.errors import InputError
from modic_core.io.csv_safe import unescape_cell

__all__ = ["numeric_column", "read_text_csv"]


def read_text_csv(path: str | Path, what: str) -> pd.DataFrame:
    """The CSV at ``path`` as a DataFrame of stripped text cells; ``what`` names it in errors."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} is a folder, not a CSV file; give the path of the CSV file.")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise InputError(f"{what} is empty; it needs a header row and one row per entry.") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} is not a text CSV file (it could not be read as UTF-8); export it again as CSV.") from None
    except FileNotFoundError:
        raise InputError(f"{what} was not found; please check the path.") from None
    except (pd.errors.ParserError, ValueError, OSError):
        raise InputError(f"{what} could not be read as a CSV table; check its commas and quotes.") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda s: s.str.strip().map(unescape_cell)) if len(df.columns) else df


def numeric_column(df: pd.DataFrame, col: str, what: str, *, allowed: Sequence[float] | None = None) -> pd.Series:
    """Column ``col`` of a text table as float (empty cells NaN).

    InputError naming the first bad line (as counted in the file, header = line 1) when a
    non-empty cell is not a finite number, or not one of ``allowed``.
    """
    text = df[col].astype(str)
    values = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
    bad = (text != "") & ~np.isfinite(values)
    if allowed is not None:
        bad |= values.notna() & ~values.isin(list(allowed))
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        want = ", ".join(f"{a:g}" for a in allowed) if allowed is not None else "a number"
        raise InputError(f"{what}, line {line}: the column '{col}' must hold {want} (or be empty); please correct it.")
    return values
