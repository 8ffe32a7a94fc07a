"""Bundled demo cases: real SPIDER studies (single mid-sagittal slice pairs) and a synthetic 3D
phantom written as DICOM. Paths are resolved relative to this package, so they work from any
working directory (override with the environment variable ``MODIC_DEMO_DIR``).

Folder layout (see ``demo/README.md`` for credits)::

    demo/cohort/studies.csv, levels.csv, studies/<id>/t1.mha, t2.mha   (cohort format)
    demo/phantom_dicom/t1/, t2/                                         (DICOM series)
    demo/phantom_dicom/studies.csv, levels.csv                           (its ground truth)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from modic_core.boxes import box_iou
from modic_core.datasets.cohort import LevelLabel, load_cohort
from modic_core.io.stamp import file_stamp
from modic_core import settings
from modic_core.datasets.synthetic import make_phantom
from modic_core.pairing import load_study

__all__ = ["DemoCase", "demo_dir", "list_demo_cases", "get_demo_case", "load_demo", "demo_levels", "demo_truth",
           "match_truth", "write_demo_phantom", "PHANTOM_PARAMS"]

# Exact parameters of the shipped phantom (regenerate with write_demo_phantom).
PHANTOM_PARAMS = dict(
    seed=7,
    shape=(15, 192, 192),
    spacing=(4.0, 1.3, 1.3),
    modic={"L2-L3": (3, "lower"), "L4-L5": (2, "both"), "L5-S1": (1, "upper")},
)
PHANTOM_NAME = "phantom-dicom"


@dataclass(frozen=True)
class DemoCase:
    """One demo case. ``kind``: "spider2d" (real, single slice .mha) or "synthetic-dicom"."""

    name: str
    description: str
    t1: Path
    t2: Path
    kind: str
    study_id: str
    cohort: Path  # cohort folder holding this case's labels


def demo_dir() -> Path:
    """The demo folder (repository ``demo/``)."""
    return settings.demo_dir()


def _describe_levels(levels: pd.DataFrame) -> str:
    mc = [f"MC{int(r.modic)} at {r.level}" for r in levels.itertuples() if int(r.modic) > 0]
    return ", ".join(mc) if mc else "no Modic changes"


def list_demo_cases() -> list[DemoCase]:
    """All demo cases, real SPIDER studies first (read once per version of the demo tables)."""
    root = demo_dir()
    return list(_list_demo_cases(root, file_stamp(root / "cohort" / "studies.csv", root / "cohort" / "levels.csv",
                                              root / "phantom_dicom" / "levels.csv", root / "phantom_dicom" / "t1")))


@functools.lru_cache(maxsize=8)
def _list_demo_cases(root: Path, stamp: tuple) -> tuple[DemoCase, ...]:
    cases: list[DemoCase] = []
    cohort = root / "cohort"
    if (cohort / "studies.csv").is_file():
        studies = pd.read_csv(cohort / "studies.csv", dtype={"study_id": str})
        levels = pd.read_csv(cohort / "levels.csv", dtype={"study_id": str})
        for row in studies.itertuples(index=False):
            lv = levels[levels.study_id == row.study_id]
            grids = "same grid" if (row.t1_width, row.t1_height) == (row.t2_width, row.t2_height) else "T1 and T2 on different grids"
            desc = (f"SPIDER study {row.study_id} ({row.manufacturer}, {row.field_strength_t:g} T): "
                    f"{_describe_levels(lv)}; one mid-sagittal slice, {grids}.")
            cases.append(DemoCase(f"spider-{row.study_id}", desc, cohort / row.t1, cohort / row.t2,
                                  "spider2d", str(row.study_id), cohort))
    ph = root / "phantom_dicom"
    if (ph / "t1").is_dir():
        lv = pd.read_csv(ph / "levels.csv") if (ph / "levels.csv").is_file() else pd.DataFrame(columns=["level", "modic"])
        z, y, x = PHANTOM_PARAMS["shape"]
        desc = (f"Synthetic 3D phantom as DICOM ({z} sagittal slices of {x}x{y}): "
                f"{_describe_levels(lv)}. Not a patient.")
        cases.append(DemoCase(PHANTOM_NAME, desc, ph / "t1", ph / "t2", "synthetic-dicom", "phantom", ph))
    return tuple(cases)


def get_demo_case(name: str) -> DemoCase:
    for case in list_demo_cases():
        if case.name == name:
            return case
    names = ", ".join(c.name for c in list_demo_cases())
    raise KeyError(f"no demo case {name!r}; available: {names}")


def load_demo(name: str):
    """Load a demo case as a :class:`~modic_core.volume.Study` (T2 resampled onto T1)."""
    case = get_demo_case(name)
    return load_study(case.t1, case.t2, study_id=case.name)


def demo_levels(name: str) -> list[LevelLabel]:
    """Ground-truth levels (top to bottom) of a demo case."""
    case = get_demo_case(name)
    levels = _cohort_levels(case.cohort, file_stamp(case.cohort / "studies.csv", case.cohort / "levels.csv")).get(case.study_id)
    return list(levels or [])


@functools.lru_cache(maxsize=8)
def _cohort_levels(cohort: Path, stamp: tuple) -> dict[str, tuple[LevelLabel, ...]]:
    """{study id: its labelled levels} of a demo cohort folder (read once per version of its tables)."""
    return {st.study_id: tuple(st.levels) for st in load_cohort(cohort)}


def match_truth(levels: Sequence[Any], truths: Sequence[Any], *, min_iou: float = 0.3) -> dict[str, Any]:
    """{detected level name: its truth} for detected ``levels`` (``.level``, ``.box``) and labelled
    discs ``truths`` (``.level``, ``.box`` or None).

    Each truth goes to the detected box it overlaps most (IoU >= ``min_iou``, one-to-one, best
    pairs first); a truth without a box goes to the detected level of the same name. Detected
    levels without a matching truth are left out.
    """
    pairs = []
    for i, lv in enumerate(levels):
        for j, t in enumerate(truths):
            box = getattr(t, "box", None)
            if box is not None:
                score = float(box_iou([float(v) for v in lv.box], [float(v) for v in box])[0, 0])
            else:
                score = 1.0 if t.level == lv.level else 0.0
            if score >= min_iou:
                pairs.append((score, i, j))
    out: dict[str, Any] = {}
    used_i, used_j = set(), set()
    for _, i, j in sorted(pairs, key=lambda p: -p[0]):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            out[levels[i].level] = truths[j]
    return out


def demo_truth(name: str, levels: Sequence[Any] | None = None) -> dict[str, str]:
    """The true grade ("MC0".."MC3") per level of a demo case: radiologist grades (SPIDER,
    ``demo/cohort/levels.csv``) or the phantom's own lesions.

    Without ``levels``: keyed by the labelled level names. With the detected levels of a report:
    keyed by the detected level names, matched by box overlap (:func:`match_truth`), so a level the
    detector named differently still gets its truth; unmatched detections are left out.
    """
    labels = demo_levels(name)
    if levels is None:
        return {lb.level: f"MC{int(lb.modic)}" for lb in labels}
    return {k: f"MC{int(t.modic)}" for k, t in match_truth(list(levels), labels).items()}


def write_demo_phantom(folder: str | Path | None = None) -> Path:
    """(Re)write the synthetic DICOM demo and its ground truth (cohort format) to ``folder``."""
    folder = Path(folder) if folder is not None else demo_dir() / "phantom_dicom"
    ph = make_phantom(**PHANTOM_PARAMS)
    ph.write(folder, fmt="dicom")
    z, y, x = ph.t1.shape
    pd.DataFrame([{
        "study_id": "phantom", "t1": "t1", "t2": "t2", "subset": "synthetic", "manufacturer": ph.t1.meta.manufacturer,
        "field_strength_t": ph.t1.meta.field_strength_t, "t1_spacing_mm": ph.t1.spacing[2], "t2_spacing_mm": ph.t2.spacing[2],
        "t1_width": x, "t1_height": y, "t2_width": x, "t2_height": y, "t1_slices": z, "t2_slices": z,
        "t1_slice_mm": ph.t1.spacing[0],
    }]).to_csv(folder / "studies.csv", index=False)
    rows = []
    for lv in ph.levels:
        x0, y0, x1, y1 = (int(round(v)) for v in lv.box)
        rows.append({"study_id": "phantom", "level": lv.level, "ivd_label": lv.ivd_label, "modic": lv.modic,
                     "up_endplate": lv.up_endplate, "low_endplate": lv.low_endplate,
                     "x0": x0, "y0": y0, "x1": x1, "y1": y1, "z0": lv.z_range[0], "z1": lv.z_range[1]})
    pd.DataFrame(rows).to_csv(folder / "levels.csv", index=False)
    return folder


if __name__ == "__main__":  # python -m modic_core.datasets.demo  -> rewrite the phantom demo
    print(write_demo_phantom())
