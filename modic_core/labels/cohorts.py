"""Labelled cohort folders in and out of the label store (``modic-labels import`` / ``export``).

Import: each study of a cohort folder (:func:`modic_core.datasets.cohort.iter_cohort`) is stored once (key =
salted pixel hash, :func:`modic_core.labels.files.study_key`) with an analysis of model version
:data:`IMPORT_VERSION` holding its labelled levels, and each level with a Modic grade (0-3) becomes a review by the
given reviewer (grade ``MC<modic>``, the cohort's box when it has one). Idempotent: a study already stored gets no
new analysis, and a level whose latest review by that reviewer already has the same grade and box is skipped.

Export: every reviewed study as a cohort folder (``studies.csv``, ``levels.csv``, ``studies/<key>/t1.mha``,
``t2.mha`` copied from the store), readable by ``iter_cohort``. A level's grade is its latest review (the most
recently saved, of any reviewer, or of ``reviewer`` when given); its name the review's corrected name if any; levels
graded "not_gradable" are left out. Study IDs and paths are the store's hashes: no name, ID or file name of the
source reaches the folder.
"""
from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

from modic_core.anatomy import LEVEL_NAMES
from modic_core.datasets.cohort import iter_cohort
from modic_core.errors import InputError
from modic_core.labels import files
from modic_core.labels.store import LabelStore, ReviewRecord

__all__ = ["IMPORT_VERSION", "ExportSummary", "ImportSummary", "export_cohort", "import_cohort"]

#: ``model_version`` of the analysis an imported study is stored with (its levels are the cohort's labels).
IMPORT_VERSION = "cohort import"
_LEVEL_COLUMNS = ("study_id", "level", "ivd_label", "modic", "x0", "y0", "x1", "y1", "z0", "z1")


@dataclass(frozen=True)
class ImportSummary:
    """Counts of one import: studies read, newly stored, reviews added, levels skipped (already reviewed alike)."""

    studies: int
    new_studies: int
    reviews_added: int
    reviews_skipped: int


@dataclass(frozen=True)
class ExportSummary:
    """Counts of one export: studies and levels written to the folder, and the reviewed levels left out because
    their grade is "not_gradable"."""

    studies: int
    levels: int
    not_gradable: int = 0


def _import_levels(labels) -> list[dict]:
    return [{"level": lv.level, "box": list(lv.box) if lv.box is not None else [], "score": 0.0, "probabilities": {},
             "prediction": f"MC{lv.modic}", "z_range": list(lv.z_range) if lv.z_range is not None else [],
             "graded": True} for lv in labels]


def import_cohort(store: LabelStore, *, cohort: Path, reviewer: str) -> ImportSummary:
    """Enter the cohort folder ``cohort`` into ``store`` as studies and ``reviewer``'s reviews (see the module).
    InputError when the folder is missing or not a cohort, or the reviewer name is empty."""
    cohort = Path(cohort)
    if not cohort.is_dir():
        raise InputError(f"The cohort folder '{cohort.name}' does not exist; give a folder with studies.csv and levels.csv.")
    if not str(reviewer).strip():
        raise InputError("The import needs a reviewer name (--reviewer NAME); give one.")
    reviewer = reviewer.strip()
    studies = new = added = skipped = 0
    for cs in iter_cohort(cohort):
        labels = [lv for lv in cs.levels if 0 <= lv.modic <= 3]
        if not labels:
            continue
        studies += 1
        study = cs.load()
        key = files.study_key(study)
        analysis_id = None
        if store.get_study(key) is None:
            record = {"normalization": "none", "threshold": 0.5, "levels": _import_levels(labels)}
            _, analysis = store.add_study(study=study, analysis=record, model_version=IMPORT_VERSION, actor=reviewer)
            analysis_id = analysis.id
            new += 1
        latest = {r.level: r for r in store.latest_reviews(key) if r.reviewer == reviewer}
        for lv in labels:
            grade, box = f"MC{lv.modic}", None if lv.box is None else tuple(float(v) for v in lv.box)
            prev = latest.get(lv.level)
            if prev is not None and prev.grade == grade and prev.box == box:
                skipped += 1
                continue
            store.add_review(study_id=key, level=lv.level, reviewer=reviewer, grade=grade, box=box,  # type: ignore[arg-type]
                             analysis_id=analysis_id)
            added += 1
    return ImportSummary(studies=studies, new_studies=new, reviews_added=added, reviews_skipped=skipped)


def _latest_per_level(reviews: list[ReviewRecord], reviewer: str | None) -> list[ReviewRecord]:
    latest: dict[str, ReviewRecord] = {}
    for r in reviews:  # in the order saved: the last one per level wins
        if reviewer is None or r.reviewer == reviewer:
            latest[r.level] = r
    return list(latest.values())


def export_cohort(store: LabelStore, *, out: Path, reviewer: str | None = None) -> ExportSummary:
    """Write the reviewed studies of ``store`` as a cohort folder ``out`` (see the module). InputError when
    ``out`` exists and is not an empty folder."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"The output folder '{out.name}' exists and is not empty; give a new or empty folder.")
    study_rows, level_rows, not_gradable = [], [], 0
    for st in store.list_studies():
        z_ranges = {lv.get("level"): lv.get("z_range") for an in store.analyses(st.id) for lv in an.levels}
        latest = _latest_per_level(store.reviews(st.id), reviewer)
        chosen = [r for r in latest if r.grade != "not_gradable"]
        not_gradable += len(latest) - len(chosen)
        if not chosen:
            continue
        folder = out / "studies" / st.id  # the store's hash: no source name or ID
        folder.mkdir(parents=True, exist_ok=True)
        src = store.image_paths(st.id)
        for role in ("t1", "t2"):
            shutil.copyfile(src[role], folder / files.IMAGE_NAMES[role])
        study_rows.append({"study_id": st.id, "t1": f"studies/{st.id}/{files.IMAGE_NAMES['t1']}",
                           "t2": f"studies/{st.id}/{files.IMAGE_NAMES['t2']}"})
        for r in chosen:
            name = r.corrected_level or r.level
            box = r.box or ("", "", "", "")
            z = z_ranges.get(r.level) or ("", "")
            ivd = LEVEL_NAMES.index(name) + 1 if name in LEVEL_NAMES else ""
            level_rows.append(dict(zip(_LEVEL_COLUMNS, (st.id, name, ivd, r.grade[2:], *box, *z))))
    if not study_rows:
        raise InputError("The label store holds no reviewed study" + (f" by {reviewer!r}" if reviewer else "")
                         + "; import or review studies before exporting.")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "studies.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["study_id", "t1", "t2"])
        w.writeheader()
        w.writerows(study_rows)
    with open(out / "levels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(_LEVEL_COLUMNS))
        w.writeheader()
        w.writerows(level_rows)
    return ExportSummary(studies=len(study_rows), levels=len(level_rows), not_gradable=not_gradable)
