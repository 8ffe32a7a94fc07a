"""Shared training utilities: seeding, patient-level folds, checkpoints, file hashes."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Sequence
from dataclasses import replace

import numpy as np
import torch
from sklearn.model_selection import StratifiedGroupKFold

from modic_core.schema import sha256_file  # noqa: F401  (re-exported for training scripts)
from modic_core.classification.crops import CropSpec
from modic_core.classification.model import ClassifierConfig
from modic_core.datasets.cohort import AUX_GRADINGS
from modic_core.detection.model import DetectorConfig

__all__ = ["seed_everything", "patient_folds", "sha256_file", "atomic_torch_save", "set_threads"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads() -> None:
    n = int(os.environ.get("MODIC_THREADS", "0")) or os.cpu_count() or 1
    torch.set_num_threads(n)


def patient_folds(
    patient_ids: Sequence[str], *, n_folds: int = 5, seed: int = 0, strata: Sequence[int] | None = None
) -> list[list[str]]:
    """Split patients into ``n_folds`` disjoint, sorted lists of ids (each patient in exactly one).

    scikit-learn's ``StratifiedGroupKFold(shuffle=True, random_state=seed)`` with the patient as
    the group: ``patient_ids`` may repeat (e.g. one entry per disc) and ``strata`` gives one class
    per entry (e.g. "has an MC2 disc"); folds keep each patient whole and the strata's shares as
    equal as the patients allow. Without ``strata`` every entry is one class.

    The shipped model cards list the folds they were trained with under ``"folds"``; these lists,
    not this function, reproduce their numbers (the split differs from the earlier hand-written one).
    """
    ids = [str(p) for p in patient_ids]
    y = np.zeros(len(ids), int) if strata is None else np.asarray([int(s) for s in strata])
    if len(y) != len(ids):
        raise ValueError(f"{len(ids)} patient ids but {len(y)} strata")
    n_patients = len(set(ids))
    if not 2 <= n_folds <= n_patients:
        raise ValueError(f"n_folds must lie in [2, {n_patients}] (the number of patients); got {n_folds}")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = [sorted({ids[i] for i in test}) for _, test in splitter.split(np.zeros((len(ids), 1)), y, groups=ids)]
    return folds


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def crop_spec(cfg):
    """The :class:`CropSpec` of a :class:`~modic_core.schema.ClassifierTrainingConfig`."""
    return CropSpec(**cfg.crop)


def classifier_arch(cfg):
    """The architecture of a classifier training config: ``cfg.model`` if set, else the default for the crop depth;
    with ``cfg.aux_weight`` set, plus one auxiliary head per cohort grading (``AUX_GRADINGS``) unless it has them."""
    arch = ClassifierConfig.from_dict(cfg.model) if cfg.model else ClassifierConfig(depth_kernel=1 if crop_spec(cfg).depth == 1 else 3)
    if getattr(cfg, "aux_weight", None) and not arch.aux_heads:  # multi-task: one head per auxiliary grading
        arch = replace(arch, aux_heads=tuple((name, len(values)) for name, values in AUX_GRADINGS.items()))
    return arch


def detector_arch(cfg):
    """The :class:`DetectorConfig` of a :class:`~modic_core.schema.DetectorTrainingConfig` (default if unset)."""
    return DetectorConfig.from_dict(cfg.model) if cfg.model else DetectorConfig()
