"""Labelled cohorts: folders with ``studies.csv`` and ``levels.csv`` (the spider2d format).

``studies.csv``: study_id, t1, t2 (paths relative to the folder), manufacturer, field_strength_t, ...
``levels.csv``: study_id, level (e.g. "L4-L5"), ivd_label (1 = L5-S1 counting upward), modic (0-3),
and optionally a box x0, y0, x1, y1 in T1 pixel coordinates (x = column, y = row; for 3D studies
also z0, z1 in slice indices).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from modic_core.anatomy import LEVEL_NAMES, level_name  # noqa: F401  (re-exported)
from modic_core.errors import InputError

__all__ = ["LevelLabel", "CohortStudy", "load_cohort", "iter_cohort", "read_cohort_tables", "LEVEL_NAMES", "level_name"]

@dataclass
class LevelLabel:
    """Ground truth of one disc level. ``box`` is (x0, y0, x1, y1) in T1 pixels or None."""

    level: str
    ivd_label: int
    modic: int
    box: tuple[float, float, float, float] | None = None
    z_range: tuple[int, int] | None = None  # slice range [z0, z1] of the region, 3D cohorts only
    extra: dict = field(default_factory=dict)


@dataclass
class CohortStudy:
    study_id: str
    t1_path: Path
    t2_path: Path
    manufacturer: str = ""
    field_strength_t: float | None = None
    levels: list[LevelLabel] = field(default_factory=list)

    @property
    def has_boxes(self) -> bool:
        return bool(self.levels) and all(l.box is not None for l in self.levels)

    def load(self):
        """Load the paired :class:`~modic_core.volume.Study` (T2 resampled onto T1)."""
        from modic_core.pairing.study import load_study

        return load_study(self.t1_path, self.t2_path, study_id=self.study_id)


def read_cohort_tables(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = Path(folder)
    sp, lp = folder / "studies.csv", folder / "levels.csv"
    if not sp.is_file():
        raise InputError(f"The cohort folder has no studies.csv (looked in '{folder.name}').")
    studies = pd.read_csv(sp, dtype={"study_id": str})
    levels = pd.read_csv(lp, dtype={"study_id": str}) if lp.is_file() else pd.DataFrame(columns=["study_id", "level", "ivd_label", "modic"])
    for col in ("study_id", "t1", "t2"):
        if col not in studies.columns:
            raise InputError(f"studies.csv lacks the column '{col}'.")
    return studies, levels


def load_cohort(folder: str | Path) -> Iterator[CohortStudy]:
    """Yield each study of a cohort folder with its per-level labels (top to bottom)."""
    folder = Path(folder)
    studies, levels = read_cohort_tables(folder)
    by_study = {sid: df for sid, df in levels.groupby("study_id")}
    for row in studies.itertuples(index=False):
        sid = str(row.study_id)
        labels: list[LevelLabel] = []
        df = by_study.get(sid)
        if df is not None:
            for lv in df.itertuples(index=False):
                box = None
                if all(hasattr(lv, c) for c in ("x0", "y0", "x1", "y1")) and not pd.isna(lv.x0):
                    box = (float(lv.x0), float(lv.y0), float(lv.x1), float(lv.y1))
                zr = None
                if hasattr(lv, "z0") and not pd.isna(getattr(lv, "z0")):
                    zr = (int(lv.z0), int(lv.z1))
                ivd = int(lv.ivd_label) if hasattr(lv, "ivd_label") and not pd.isna(lv.ivd_label) else 0
                name = str(lv.level) if hasattr(lv, "level") and not pd.isna(lv.level) else level_name(ivd)
                modic = int(lv.modic) if not pd.isna(lv.modic) else -1
                labels.append(LevelLabel(name, ivd, modic, box, zr))
        labels.sort(key=lambda l: -l.ivd_label)  # top to bottom
        fs = getattr(row, "field_strength_t", None)
        yield CohortStudy(
            study_id=sid,
            t1_path=folder / str(row.t1),
            t2_path=folder / str(row.t2),
            manufacturer=str(getattr(row, "manufacturer", "") or ""),
            field_strength_t=None if fs is None or pd.isna(fs) else float(fs),
            levels=labels,
        )


def iter_cohort(folder: str | Path) -> Iterator[CohortStudy]:
    """Studies of a cohort folder, or of a SPIDER release root (``images/``, ``masks/``, ``overview.csv``)."""
    folder = Path(folder)
    if (folder / "studies.csv").is_file():
        yield from load_cohort(folder)
        return
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        from modic_core.datasets.spider import iter_spider_release

        yield from iter_spider_release(folder)
        return
    raise InputError(f"'{folder.name}' is neither a cohort folder (studies.csv) nor a SPIDER release (images/, masks/).")
