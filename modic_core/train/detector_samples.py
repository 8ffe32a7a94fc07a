"""Detector training samples: the boxed middle slices of a cohort's studies on the detector grid.

Shared by training (:mod:`modic_core.train.detector`) and the re-run of the held-out folds
(:mod:`modic_core.train.detection_cv`), which must cut exactly the same images.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from modic_core.datasets.cohort import CohortStudy
from modic_core.detection.preprocess import to_detector_grid

__all__ = ["DetectorSample", "load_detector_samples", "region_class"]


@dataclass
class DetectorSample:
    """One training image on the detector grid: (1, H, W) in [0, 1], boxes (N, 4) in grid pixels."""

    study_id: str
    sequence: str
    image: torch.Tensor
    boxes: torch.Tensor
    levels: list[str]
    scale: np.ndarray  # grid pixel = T1 pixel * scale (sy, sx)

    @property
    def labels(self) -> torch.Tensor:
        """Class of each box: 2 for the L5-S1 region (the sacral anchor), 1 for every other disc."""
        return torch.tensor([region_class(lv) for lv in self.levels], dtype=torch.int64)


def region_class(level: str) -> int:
    """Detector class of a region by its level name: 2 = L5-S1 (anchor of the level count), 1 = other."""
    return 2 if str(level).strip().upper() == "L5-S1" else 1


def load_detector_samples(studies: list[CohortStudy], *, sequences=("T1", "T2")) -> list[DetectorSample]:
    """Middle slice of T1 and of T2 (on the T1 grid) for each study with boxes (3D: see below)."""
    out = []
    for cs in tqdm(studies, desc="loading", file=sys.stderr, leave=False):
        study = cs.load()
        levels = list(cs.levels)
        zc = study.t1.shape[0] // 2
        if any(l.z_range is not None for l in levels):
            # 3D cohorts (SPIDER release): the slice nearest the median region centre, and the
            # regions whose slice range contains it.
            zc = int(np.median([sum(l.z_range) / 2 for l in levels if l.z_range is not None]))
            levels = [l for l in levels if l.z_range is None or l.z_range[0] <= zc <= l.z_range[1]]
        if not levels:
            continue
        for seq in sequences:
            vol = study.t1 if seq == "T1" else study.t2
            img, scale = to_detector_grid(vol.array[zc], vol.spacing[1:])
            boxes = np.array([l.box for l in levels], dtype=np.float32)
            boxes[:, [0, 2]] *= scale[1]
            boxes[:, [1, 3]] *= scale[0]
            out.append(DetectorSample(cs.study_id, seq, img, torch.from_numpy(boxes), [l.level for l in levels], scale))
    return out
