"""The records every cohort format reads into: one study (:class:`CohortStudy`) and its levels' ground truth.

Shared by the cohort-folder reader (:mod:`modic_core.datasets.cohort`, which re-exports both names)
and the SPIDER release reader (:mod:`modic_core.datasets.spider`, whose ``SpiderStudy`` extends
:class:`CohortStudy`), so that neither reader imports the other's records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modic_core.pairing.study import load_study

__all__ = ["CohortStudy", "LevelLabel"]


@dataclass
class LevelLabel:
    """Ground truth of one disc level. ``box`` is (x0, y0, x1, y1) in T1 pixels or None."""

    level: str
    ivd_label: int
    modic: int
    box: tuple[float, float, float, float] | None = None
    z_range: tuple[int, int] | None = None  # slice range [z0, z1] of the region, 3D cohorts only
    extra: dict = field(default_factory=dict)  # further per-disc gradings (e.g. AUX_GRADINGS) -> value


@dataclass
class CohortStudy:
    """One labelled study: its T1 and T2 files, scanner, and per-level ground truth (:class:`LevelLabel`)."""

    study_id: str
    t1_path: Path
    t2_path: Path
    manufacturer: str = ""
    field_strength_t: float | None = None
    levels: list[LevelLabel] = field(default_factory=list)
    t2_aligned: bool | None = None  # studies.csv ``t2_aligned`` (False: T2 does not line up with T1); None when absent

    @property
    def has_boxes(self) -> bool:
        return bool(self.levels) and all(l.box is not None for l in self.levels)

    def load(self):
        """Load the paired :class:`~modic_core.volume.Study` (T2 resampled onto T1)."""
        return load_study(self.t1_path, self.t2_path, study_id=self.study_id)
