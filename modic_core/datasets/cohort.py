"""Labelled cohorts: folders with ``studies.csv`` and ``levels.csv`` (the spider2d format).

``studies.csv``: study_id, t1, t2 (paths relative to the folder), manufacturer, field_strength_t,
optionally t2_aligned (True/False: whether the T2 lines up with the T1), ...
``levels.csv``: study_id, level (e.g. "L4-L5"), ivd_label (1 = L5-S1 counting upward), modic (0-3),
and optionally a box x0, y0, x1, y1 in T1 pixel coordinates (x = column, y = row; for 3D studies
also z0, z1 in slice indices), and optionally the auxiliary per-disc gradings of :data:`AUX_GRADINGS`
(SPIDER's up_endplate, low_endplate, pfirrmann, disc_narrowing, disc_bulging, disc_herniation,
spondylolisthesis), kept in ``LevelLabel.extra`` as their values (as the SPIDER release reader keeps them;
:func:`aux_classes` turns them into class indices for multi-task training); a cell that is empty or not
one of the column's values counts as not graded, never as an error.
"""
from __future__ import annotations

import stat
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from modic_core.anatomy import LEVEL_NAMES, level_name  # noqa: F401  (re-exported)
from modic_core.datasets.records import CohortStudy, LevelLabel  # re-exported: the records of every cohort format
from modic_core.datasets.spider import iter_spider_release
from modic_core.datasets.tables import numeric_column, read_text_csv
from modic_core.errors import InputError

__all__ = ["AUX_GRADINGS", "aux_classes", "LevelLabel", "CohortStudy", "load_cohort", "iter_cohort", "read_cohort_tables", "LEVEL_NAMES", "level_name"]

BOX_COLUMNS = ("x0", "y0", "x1", "y1")

#: Auxiliary per-disc gradings of the SPIDER tables: column -> the values it may hold, in class order
#: (class index = position; Pfirrmann grades 1-5 are classes 0-4). Empty cells mean "not graded".
AUX_GRADINGS: dict[str, tuple[int, ...]] = {
    "up_endplate": (0, 1), "low_endplate": (0, 1), "pfirrmann": (1, 2, 3, 4, 5), "disc_narrowing": (0, 1),
    "disc_bulging": (0, 1), "disc_herniation": (0, 1), "spondylolisthesis": (0, 1),
}


def aux_classes(extra: dict) -> dict[str, int]:
    """Class index (position in :data:`AUX_GRADINGS`) of each auxiliary grading of a level's ``extra``;
    missing, empty or out-of-range values are left out (not graded)."""
    out = {}
    for col, values in AUX_GRADINGS.items():
        v = extra.get(col)
        try:
            v = None if v is None or pd.isna(v) else int(v)
        except (TypeError, ValueError):
            v = None
        if v is not None and v in values:
            out[col] = values.index(v)
    return out


def read_cohort_tables(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``studies.csv`` and ``levels.csv`` of a cohort folder, checked (every problem an InputError).

    Cells are read as text (``keep_default_na=False``: IDs such as "NA" or "null" are kept);
    numeric columns (``field_strength_t``; ``ivd_label``, ``modic``, ``x0``..``y1``, ``z0``, ``z1``)
    are converted, empty cells becoming NaN. Study IDs must be unique and non-empty.
    """
    folder = Path(folder)
    sp, lp = folder / "studies.csv", folder / "levels.csv"
    if not sp.is_file():
        raise InputError(f"The cohort folder has no studies.csv (looked in '{folder.name}').")
    studies = read_text_csv(sp, "studies.csv")
    for col in ("study_id", "t1", "t2"):
        if col not in studies.columns:
            raise InputError(f"studies.csv lacks the column '{col}'; it needs study_id, t1 and t2 (image paths in the folder).")
    if studies.empty:
        raise InputError("studies.csv lists no study; add one row per study (study_id, t1, t2).")
    for col in ("study_id", "t1", "t2"):
        empty = studies[col] == ""
        if empty.any():
            raise InputError(f"studies.csv, line {int(np.flatnonzero(empty.to_numpy())[0]) + 2}: the column '{col}' is empty.")
    dup = studies["study_id"][studies["study_id"].duplicated()]
    if len(dup):
        shown = ", ".join(sorted(set(dup))[:3])
        raise InputError(f"studies.csv lists the study_id {shown} more than once; every study needs its own ID.")
    if "field_strength_t" in studies.columns:
        studies["field_strength_t"] = numeric_column(studies, "field_strength_t", "studies.csv")
    if lp.is_file():
        levels = read_text_csv(lp, "levels.csv")
        for col in ("study_id", "modic"):
            if col not in levels.columns:
                raise InputError(f"levels.csv lacks the column '{col}'; it needs study_id, level or ivd_label, and modic (0-3).")
        if "level" not in levels.columns and "ivd_label" not in levels.columns:
            raise InputError("levels.csv needs a 'level' (e.g. L4-L5) or an 'ivd_label' (1 = L5-S1) column.")
        levels["modic"] = numeric_column(levels, "modic", "levels.csv", allowed=(0, 1, 2, 3))
        for col in ("ivd_label", *BOX_COLUMNS, "z0", "z1"):
            if col in levels.columns:
                levels[col] = numeric_column(levels, col, "levels.csv")
        for col, values in AUX_GRADINGS.items():  # optional and training-only: anything else is "not graded"
            if col in levels.columns:
                v = pd.to_numeric(levels[col].where(levels[col] != ""), errors="coerce")
                levels[col] = v.where(v.isin(list(values)))
    else:
        levels = pd.DataFrame(columns=["study_id", "level", "ivd_label", "modic"])
    return studies, levels


def _inside(root: Path, value: str, *, line: int, col: str) -> Path:
    """``root / value`` resolved; InputError unless it lies inside ``root`` and is a file or folder (no device)."""
    where = f"studies.csv, line {line}, column '{col}'"
    path = (root / value).resolve()
    if not path.is_relative_to(root):
        raise InputError(f"{where}: the image path leads outside the cohort folder; paths must be relative and inside it.")
    if path.exists():
        _check_entry(path, root, where)
        if path.is_dir():
            for sub in path.rglob("*"):
                _check_entry(sub, root, where)
    return path


def _check_entry(path: Path, root: Path, where: str) -> None:
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise InputError(f"{where}: a link in the image path leads outside the cohort folder.")
    if resolved.exists():
        mode = resolved.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise InputError(f"{where}: the image path is not a regular file (a device or pipe); give an image file.")


def load_cohort(folder: str | Path) -> Iterator[CohortStudy]:
    """Yield each study of a cohort folder with its per-level labels (top to bottom).

    Every image path is resolved and must lie inside ``folder`` (no ``..``, absolute paths or
    links leading out) and be a regular file or a folder of them; otherwise an InputError is
    raised before any image is read.
    """
    root = Path(folder).resolve()
    studies, levels = read_cohort_tables(root)
    paths = [
        (_inside(root, t1, line=i + 2, col="t1"), _inside(root, t2, line=i + 2, col="t2"))
        for i, (t1, t2) in enumerate(zip(studies["t1"], studies["t2"]))
    ]
    by_study = {sid: df for sid, df in levels.groupby("study_id")}
    has_box = all(c in levels.columns for c in BOX_COLUMNS)
    for row, (t1_path, t2_path) in zip(studies.to_dict("records"), paths):
        sid = str(row["study_id"])
        labels: list[LevelLabel] = []
        df = by_study.get(sid)
        if df is not None:
            for lv in df.to_dict("records"):
                box = None
                if has_box and not any(pd.isna(lv[c]) for c in BOX_COLUMNS):
                    box = tuple(float(lv[c]) for c in BOX_COLUMNS)
                zr = None
                if not pd.isna(lv.get("z0", np.nan)) and not pd.isna(lv.get("z1", np.nan)):
                    zr = (int(lv["z0"]), int(lv["z1"]))
                ivd = int(lv["ivd_label"]) if not pd.isna(lv.get("ivd_label", np.nan)) else 0
                name = str(lv.get("level", "") or "") or level_name(ivd)
                modic = int(lv["modic"]) if not pd.isna(lv["modic"]) else -1
                aux = {c: int(lv[c]) for c in AUX_GRADINGS if c in lv and not pd.isna(lv[c])}
                labels.append(LevelLabel(name, ivd, modic, box, zr, aux))
        labels.sort(key=lambda l: -l.ivd_label)  # top to bottom
        fs = row.get("field_strength_t")
        yield CohortStudy(
            t2_aligned=_flag(row.get("t2_aligned")),
            study_id=sid,
            t1_path=t1_path,
            t2_path=t2_path,
            manufacturer=str(row.get("manufacturer", "") or ""),
            field_strength_t=None if fs is None or pd.isna(fs) else float(fs),
            levels=labels,
        )


def _flag(value) -> bool | None:
    """A yes/no cell of studies.csv ("True"/"False", "1"/"0", "yes"/"no"); None when empty or absent."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("true", "1", "yes", "y"):
        return True
    if text in ("false", "0", "no", "n"):
        return False
    return None


def iter_cohort(folder: str | Path) -> Iterator[CohortStudy]:
    """Studies of a cohort folder, or of a SPIDER release root (``images/``, ``masks/``, ``overview.csv``)."""
    folder = Path(folder)
    if (folder / "studies.csv").is_file():
        yield from load_cohort(folder)
        return
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        yield from iter_spider_release(folder)
        return
    raise InputError(f"'{folder.name}' is neither a cohort folder (studies.csv) nor a SPIDER release (images/, masks/).")
