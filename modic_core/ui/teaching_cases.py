"""Teaching cases whose truth is known, and which of them the shipped model reads right.

Three sources, each case one disc level of one study (``TeachingCase``):

- ``real``: the three SPIDER demo studies (``demo/cohort``), graded by radiologists
  (:func:`modic_core.datasets.demo.demo_levels`);
- ``inserted``: a real level graded MC0 in those studies with a synthetic Modic type 1 band painted
  in (:func:`insert_mc1`: the training augmentation's band, :func:`modic_core.classification.augment.mc1_band`,
  at a known endplate, height in mm and strength, on the image before normalization; seeded);
- ``phantom``: levels of the synthetic DICOM demo (``demo/phantom_dicom``, not a patient).

Decision rule (applied once, offline, with :func:`measure_case` on the shipped weights, z-score,
detector threshold 0.5; re-checked by ``tests/ui/test_teaching_cases.py``): a case is an
**example** when the detector finds its level (box IoU >= 0.3 with the labelled box,
:func:`~modic_core.datasets.demo.match_truth`) and the model's top grade equals the truth.
Every other candidate is a **failure** case and carries ``why``: what the model says, the truth, and the
likely reason; the page shows failures only under "Where the model fails, and why", never as
plain teaching material. ``measured`` holds the model's grade and probabilities from that run
(``python -m modic_core.ui.teaching_cases`` prints them again for the installed weights).

The prediction set of a level (conformal, issue 23) is read in one place, :func:`prediction_set`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from modic_core.classification.augment import ENDPLATE_SIDES, blend_mc1, mc1_band
from modic_core.classification.crops import CropSpec
from modic_core.datasets.demo import demo_levels, load_demo, match_truth
from modic_core.analysis import analyze

__all__ = [
    "CASES",
    "CATALOGUE_NORMALIZATION",
    "CATALOGUE_THRESHOLD",
    "Insertion",
    "Measured",
    "TeachingCase",
    "case_label",
    "case_level",
    "case_study",
    "cases",
    "get_case",
    "insert_mc1",
    "measure_case",
    "prediction_set",
    "set_text",
    "teaching_case",
]

CATALOGUE_NORMALIZATION = "zscore"  # the method the catalogue was measured with (the shipped default)
CATALOGUE_THRESHOLD = 0.5  # detector threshold of that run
SOURCES = ("real", "inserted", "phantom")
ROLES = ("example", "failure")


@dataclass(frozen=True)
class Insertion:
    """A synthetic Modic type 1 band painted beside the ``endplate`` ("upper": marrow of the vertebra
    above the disc, "lower": below, "both") of the level, ``height_mm`` deep (superior-inferior,
    mm) over the central 70 % of the level's width, blended with weight ``strength`` (0-1) towards the
    region's dark T1 (5th percentile) and bright T2 (97th percentile) values; ``seed`` draws its
    5 % texture."""

    endplate: str
    height_mm: float
    strength: float = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.endplate not in ENDPLATE_SIDES:
            raise ValueError(f"endplate must be one of {ENDPLATE_SIDES}, not {self.endplate!r}")
        if not 0 < self.height_mm <= 30:
            raise ValueError(f"height_mm must be in (0, 30] mm, not {self.height_mm}")
        if not 0 < self.strength <= 1:
            raise ValueError(f"strength must be in (0, 1], not {self.strength}")

    @property
    def text(self) -> str:
        where = {"upper": "the upper endplate (vertebra above)", "lower": "the lower endplate (vertebra below)",
                 "both": "both endplates"}[self.endplate]
        return f"synthetic MC1 band {self.height_mm:g} mm high beside {where}, strength {self.strength:g}"


@dataclass(frozen=True)
class Measured:
    """The shipped model's reading of a case in the offline run: its top grade ("—": level not
    detected) and probabilities (grade -> probability)."""

    prediction: str
    probabilities: tuple[tuple[str, float], ...] = ()

    @property
    def text(self) -> str:
        probs = ", ".join(f"P({k}) {v:.2f}" for k, v in self.probabilities)
        return f"{self.prediction} ({probs})" if probs else self.prediction


@dataclass(frozen=True)
class TeachingCase:
    """One disc level with a known grade. ``study``: a demo case name (``list_demo_cases``);
    ``truth``: "MC0".."MC3"; ``role``: "example" or "failure" (module docstring's rule);
    ``why``: for a failure, one paragraph (model's reading, truth, likely reason); for an example,
    an optional teaching note."""

    key: str
    source: str
    study: str
    level: str
    truth: str
    role: str
    measured: Measured
    why: str = ""
    insertion: Insertion | None = None

    @property
    def is_example(self) -> bool:
        return self.role == "example"


def teaching_case(*, study: str, level: str, truth: str, source: str, role: str, measured: Measured,
                  why: str = "", insertion: Insertion | None = None) -> TeachingCase:
    """A checked :class:`TeachingCase`; its key is ``study/level`` (plus the insertion for inserted ones)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    if truth not in ("MC0", "MC1", "MC2", "MC3"):
        raise ValueError(f"truth must be MC0..MC3, not {truth!r}")
    if (source == "inserted") != (insertion is not None):
        raise ValueError("an inserted case needs its insertion, and only an inserted case has one")
    if role == "failure" and not why.strip():
        raise ValueError(f"failure case {study}/{level} needs its explanation")
    key = f"{study}/{level}"
    if insertion is not None:
        key += f"+MC1-{insertion.endplate}-{insertion.height_mm:g}mm"
    return TeachingCase(key, source, study, level, truth, role, measured, why.strip(), insertion)


# ---------------------------------------------------------------------------------------------
# Lesion insertion and the per-case study
# ---------------------------------------------------------------------------------------------

def insert_mc1(study, *, box: Sequence[float], insertion: Insertion):
    """A copy of ``study`` (a :class:`~modic_core.volume.Study`) with ``insertion`` painted at the
    level whose box is ``box`` = (x0, y0, x1, y1), T1 pixels.

    The band is :func:`~modic_core.classification.augment.mc1_band` on the T1 grid (the same
    geometry as training's synthetic MC1, in image pixels instead of crop pixels), painted on every
    slice; its dark/bright targets are the T1 5th / T2 97th percentiles of the classifier's crop
    area around the box (60 x 70 mm, ``CropSpec``), as training takes them from the crop. T2 is
    painted as resampled onto the T1 grid and also becomes ``t2_native``, so the alignment check
    and the classifier see the same lesion. Deterministic for a given ``insertion.seed``.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    _, ny, nx = study.t1.shape
    sy, sx = study.spacing[1], study.spacing[2]
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    mask = mc1_band((ny, nx), centre_yx=(cy, cx), half_height_px=(y1 - y0) / 2, half_width_px=(x1 - x0) / 2,
                    endplate=insertion.endplate, depth_px=insertion.height_mm / sy) * float(insertion.strength)
    spec = CropSpec()
    r0, r1 = int(max(0, cy - spec.height * spec.pixel_mm / 2 / sy)), int(min(ny, cy + spec.height * spec.pixel_mm / 2 / sy + 1))
    c0, c1 = int(max(0, cx - spec.width * spec.pixel_mm / 2 / sx)), int(min(nx, cx + spec.width * spec.pixel_mm / 2 / sx + 1))
    rng = np.random.default_rng(int(insertion.seed))
    texture = 1.0 + 0.05 * torch.from_numpy(rng.standard_normal((ny, nx)).astype(np.float32))
    t1 = study.t1.array.copy()
    t2 = study.t2.array.copy()
    for z in range(t1.shape[0]):
        a1, a2 = torch.from_numpy(t1[z]), torch.from_numpy(t2[z])
        dark = torch.quantile(a1[r0:r1, c0:c1].flatten(), 0.05)
        bright = torch.quantile(a2[r0:r1, c0:c1].flatten(), 0.97)
        p1, p2 = blend_mc1(a1, a2, mask, dark=dark, bright=bright, texture=texture)
        t1[z], t2[z] = p1.numpy(), p2.numpy()
    t2v = study.t2.with_array(t2)
    return dataclasses.replace(study, t1=study.t1.with_array(t1), t2=t2v, t2_native=t2v,
                               study_id=f"{study.study_id}+MC1")


def _label(case: TeachingCase):
    for lb in demo_levels(case.study):
        if lb.level == case.level:
            return lb
    raise KeyError(f"demo case {case.study} has no labelled level {case.level}")


def case_box(case: TeachingCase) -> tuple[float, float, float, float]:
    """The labelled box (x0, y0, x1, y1, T1 pixels) of the case's level."""
    return tuple(float(v) for v in _label(case).box)  # type: ignore[return-value]


def case_slice(case: TeachingCase) -> int:
    """The slice to show: the middle of the labelled slab (0 for single-slice studies)."""
    zr = getattr(_label(case), "z_range", None)
    return 0 if not zr else (int(zr[0]) + int(zr[1])) // 2


def case_study(case: TeachingCase):
    """The case's study: the demo study, with the lesion painted in for an inserted case."""
    study = load_demo(case.study)
    if case.insertion is None:
        return study
    return insert_mc1(study, box=case_box(case), insertion=case.insertion)


def case_level(case: TeachingCase, levels: Sequence[Any]):
    """The detected level of a report (``levels``) that matches the case's labelled box, or None."""
    label = _label(case)
    for name, truth in match_truth(list(levels), [label]).items():
        if truth is label:
            return next(lv for lv in levels if lv.level == name)
    return None


def prediction_set(level: Any) -> tuple[str, ...]:
    """The level's conformal prediction set (grade names, :attr:`LevelResult.prediction_set`), () when it has none."""
    return tuple(level.prediction_set or ())


def set_text(level: Any) -> str:
    """The prediction set for display: "MC2", "MC0 or MC2", or "—" when the level has none."""
    s = prediction_set(level)
    return " or ".join(s) if s else "—"


def measure_case(case: TeachingCase, *, normalization: str = CATALOGUE_NORMALIZATION,
                 threshold: float = CATALOGUE_THRESHOLD) -> Measured:
    """Run the installed models on the case (``modic_core.analysis.analyze``) and read its level."""
    report = analyze(case_study(case), normalization, threshold, gradcam=False)
    lv = case_level(case, report.levels)
    if lv is None or not getattr(lv, "graded", True):
        return Measured("—")
    return Measured(lv.prediction, tuple((k, round(float(v), 2)) for k, v in lv.probabilities.items()))


# ---------------------------------------------------------------------------------------------
# The catalogue (measured once with measure_case; see the module docstring)
# ---------------------------------------------------------------------------------------------

def _m(prediction: str, p0: float, p1: float, p2: float) -> Measured:
    return Measured(prediction, (("MC0", p0), ("MC1", p1), ("MC2", p2)))


def _real(study: str, level: str, truth: str, measured: Measured, why: str = "") -> TeachingCase:
    role = "example" if measured.prediction == truth else "failure"
    return teaching_case(study=study, level=level, truth=truth, source="real", role=role, measured=measured, why=why)


def _inserted(study: str, level: str, insertion: Insertion, measured: Measured, why: str = "") -> TeachingCase:
    role = "example" if measured.prediction == "MC1" else "failure"
    return teaching_case(study=study, level=level, truth="MC1", source="inserted", role=role, measured=measured,
                         why=why, insertion=insertion)


def _phantom(level: str, truth: str, measured: Measured, why: str = "") -> TeachingCase:
    role = "example" if measured.prediction == truth else "failure"
    return teaching_case(study="phantom-dicom", level=level, truth=truth, source="phantom", role=role,
                         measured=measured, why=why)


# Band medians quoted below: the z-scored classifier crop split into the marrow bands beside the
# endplates (modic_core.classification.bands; measured with modic_core.train.phantom_intensity.band_stats).
# Reference (README "What to expect, honestly"): real MC0 discs of the training cohort have a median T1
# marrow z-score of 0.00 (IQR -0.26 to +0.24), real MC2 discs +0.15.
_BRIGHT_104 = ("This Siemens 1.5 T study has bright marrow at every level: the T1 marrow bands sit at z +0.71 to +0.97, "
               "above the training cohort's real MC2 median (+0.15), at its MC0 levels as much as at its MC2 levels. "
               "Marrow brightness cannot tell its normal levels from its fatty ones, and the model leans to MC2.")
_NOT_ON_SLICE = ("The grade belongs to the whole disc level of the 3D scan, but the model sees only this mid-sagittal "
                 "8-bit slice (min-max stretched, about 6 % of its pixels at the maximum value).")
_PHANTOM_OOD = ("The phantom is computer-generated (12-bit, no 8-bit stretch) and its normal T1 marrow is too bright "
                "for the model: band z-score +0.66 to +0.80 against 0.00 for real MC0 discs. Regenerating the "
                "phantom with real marrow brightness did not help either (docs/limits.md): its "
                "appearance is outside what the model learned from SPIDER slices.")

CASES: tuple[TeachingCase, ...] = (
    # --- real SPIDER demo studies (radiologist grades, demo/cohort/levels.csv) -------------------------------
    _real("spider-104", "T11-T12", "MC0", _m("MC0", 0.65, 0.01, 0.34)),
    _real("spider-104", "T12-L1", "MC0", _m("MC2", 0.47, 0.01, 0.52),
          "The model says MC2 (P 0.52, against 0.47 for MC0: a coin toss; its 90 % set: MC0 or MC2); the truth is MC0. "
          + _BRIGHT_104 + " Here the T1 marrow bands have z +0.96."),
    _real("spider-104", "L1-L2", "MC0", _m("MC2", 0.42, 0.01, 0.57),
          "The model says MC2 (P 0.57; its 90 % set: MC0 or MC2); the truth is MC0. " + _BRIGHT_104
          + " Here the T1 marrow bands have z +0.97, as bright as the study's MC2 levels below (+0.79 to +0.96)."),
    _real("spider-104", "L2-L3", "MC2", _m("MC2", 0.15, 0.00, 0.84)),
    _real("spider-104", "L3-L4", "MC2", _m("MC2", 0.25, 0.00, 0.75)),
    _real("spider-104", "L4-L5", "MC2", _m("MC2", 0.18, 0.01, 0.81)),
    _real("spider-104", "L5-S1", "MC2", _m("MC2", 0.21, 0.00, 0.79)),
    _real("spider-4", "T12-L1", "MC0", _m("MC0", 0.95, 0.01, 0.04)),
    _real("spider-4", "L1-L2", "MC0", _m("MC0", 0.94, 0.01, 0.05)),
    _real("spider-4", "L2-L3", "MC0", _m("MC0", 0.79, 0.09, 0.12)),
    _real("spider-4", "L3-L4", "MC2", _m("MC1", 0.08, 0.78, 0.14),
          "The model says MC1 (P 0.78); the truth is MC2. On this slice the marrow beside the endplates is darker "
          "than usual on T1 (band z -0.29) and brighter on T2 (+0.29): T1-dark and T2-bright is the MC1 pattern, "
          "the one the synthetic MC1 bands of training taught the model. The fatty (T1-bright) part of the change "
          "does not show on this slice. " + _NOT_ON_SLICE + " MC1 in real discs is rare (4 in the training "
          "cohort), so an MC1 call on a real disc deserves suspicion."),
    _real("spider-4", "L4-L5", "MC2", _m("MC0", 0.55, 0.02, 0.43),
          "The model says MC0 (P 0.55; its 90 % set: MC0 or MC2); the truth is MC2 at both endplates. The T1 marrow bands "
          "have z +0.04, inside the range of normal discs (real MC0: -0.26 to +0.24), so the fat that defines MC2 "
          "is not visible as bright T1 marrow here. " + _NOT_ON_SLICE + " The change may lie lateral to this slice "
          "or be flattened by the stretch."),
    _real("spider-4", "L5-S1", "MC2", _m("MC0", 0.60, 0.01, 0.39),
          "The model says MC0 (P 0.60; its 90 % set: MC0 or MC2); the truth is MC2 at both endplates. The T1 marrow bands "
          "have z -0.11, no brighter than normal marrow (real MC0: -0.26 to +0.24). " + _NOT_ON_SLICE
          + " The change may lie lateral to this slice or be flattened by the stretch."),
    _real("spider-121", "T12-L1", "MC0", _m("MC0", 0.94, 0.01, 0.05)),
    _real("spider-121", "L1-L2", "MC0", _m("MC0", 0.81, 0.01, 0.17)),
    _real("spider-121", "L2-L3", "MC0", _m("MC2", 0.46, 0.02, 0.52),
          "The model says MC2 (P 0.52, against 0.46 for MC0; its 90 % set: MC0 or MC2); the truth is MC0. Its T1 marrow "
          "bands have z +0.22, in the brightest quarter of real normal discs and above the real MC2 median (+0.15); "
          "the raw T1 marrow/disc ratio is 1.72 against 1.53 typical of normal discs. A borderline level: the "
          "marrow looks a little fatty on this slice."),
    _real("spider-121", "L3-L4", "MC2", _m("MC0", 0.57, 0.03, 0.40),
          "The model says MC0 (P 0.57, P(MC2) 0.40; its 90 % set: MC0 or MC2); the truth is MC2. The grading flags "
          "neither endplate for this level (both endplate columns 0 in the source data), so the change is probably "
          "not on this mid-sagittal slice: the grade belongs to the 3D scan. A near miss on a label the slice "
          "may not show."),
    _real("spider-121", "L4-L5", "MC2", _m("MC2", 0.44, 0.01, 0.55)),
    _real("spider-121", "L5-S1", "MC2", _m("MC2", 0.34, 0.02, 0.64)),
    # --- synthetic MC1 painted on real MC0 levels (the training augmentation's band) ---------------------------
    _inserted("spider-4", "L1-L2", Insertion("upper", 6.0, 0.8, seed=1), _m("MC1", 0.00, 1.00, 0.00)),
    _inserted("spider-4", "L2-L3", Insertion("lower", 9.0, 0.8, seed=2), _m("MC1", 0.00, 1.00, 0.00)),
    _inserted("spider-121", "L1-L2", Insertion("lower", 6.0, 0.8, seed=3), _m("MC1", 0.00, 1.00, 0.00)),
    _inserted("spider-121", "T12-L1", Insertion("both", 7.0, 0.8, seed=4), _m("MC1", 0.00, 1.00, 0.00)),
    _inserted("spider-104", "T12-L1", Insertion("lower", 9.0, 0.8, seed=5), _m("MC1", 0.00, 1.00, 0.00)),
    _inserted("spider-4", "L1-L2", Insertion("lower", 4.0, 0.4, seed=6), _m("MC0", 0.44, 0.40, 0.16),
              "The model says MC0 (P 0.44, P(MC1) 0.40); the truth is MC1, a faint band (strength 0.4, 4 mm). "
              "Training painted its synthetic MC1 with strength 0.5-0.9 and 4-10 mm deep, so this band is fainter "
              "than any lesion the model was shown: it notices something (P(MC1) rises from 0.01 to 0.40) but not "
              "enough. Small, faint changes are where a reader must look for themselves."),
    _inserted("spider-104", "T12-L1", Insertion("upper", 3.0, 0.5, seed=7), _m("MC2", 0.46, 0.01, 0.52),
              "The model says MC2 (P 0.52), as it did for this level without the band; the truth is MC1, a thin "
              "band (3 mm, strength 0.5). Training's synthetic bands were 4-10 mm deep, so a 3 mm band is outside "
              "what it was shown, and this study's bright marrow already pulls every level towards MC2 "
              "(T1 marrow z +0.96 here)."),
    # --- the synthetic DICOM phantom (demo/phantom_dicom; not a patient) -----------------------------------------
    _phantom("T12-L1", "MC0", _m("MC2", 0.10, 0.04, 0.86),
             "The model says MC2 (P 0.86, and MC2 alone in its 90 % set); the truth is MC0 (normal). " + _PHANTOM_OOD),
    _phantom("L1-L2", "MC0", _m("MC2", 0.10, 0.02, 0.88),
             "The model says MC2 (P 0.88, and MC2 alone in its 90 % set); the truth is MC0 (normal). " + _PHANTOM_OOD),
    _phantom("L2-L3", "MC3", _m("MC2", 0.12, 0.01, 0.87),
             "The model says MC2 (P 0.87); the truth is MC3 (sclerosis, lower endplate). The model has no MC3 class: "
             "MC3 was excluded from training (6 discs in the cohort), so it cannot give this answer. On top of that "
             "the phantom's normal marrow already reads as MC2 (see its normal levels)."),
    _phantom("L3-L4", "MC0", _m("MC2", 0.03, 0.03, 0.94),
             "The model says MC2 (P 0.94, and MC2 alone in its 90 % set); the truth is MC0 (normal). " + _PHANTOM_OOD),
    _phantom("L4-L5", "MC2", _m("MC1", 0.00, 0.81, 0.19),
             "The model says MC1 (P 0.81); the truth is MC2 (both endplates). The phantom's lesion brightens T2 "
             "(marrow band z +0.59) but leaves T1 marrow (+0.65) no brighter than the phantom's normal levels "
             "(+0.66 to +0.80), so the only change the model can see is a T2-bright band: half of the synthetic "
             "MC1 pattern it learned, and nothing of the T1-bright fat of a real MC2."),
    _phantom("L5-S1", "MC1", _m("MC1", 0.00, 0.99, 0.01)),
)


def cases(*, source: str | None = None, role: str | None = None) -> list[TeachingCase]:
    """The catalogue's cases, optionally only one source and/or role, in catalogue order."""
    return [c for c in CASES if (source is None or c.source == source) and (role is None or c.role == role)]


def get_case(key: str) -> TeachingCase:
    for c in CASES:
        if c.key == key:
            return c
    raise KeyError(f"no teaching case {key!r}")


def case_label(case: TeachingCase) -> str:
    """A name for the case browser (says what the case is, the truth included)."""
    kind = {"real": "SPIDER study", "inserted": "SPIDER study", "phantom": "synthetic phantom"}[case.source]
    name = case.study.replace("spider-", "")
    base = f"{kind} {name} · {case.level}" if case.source != "phantom" else f"{kind} · {case.level}"
    if case.insertion is not None:
        return f"{base} + {case.insertion.text}"
    return f"{base} ({case.truth})"


if __name__ == "__main__":  # python -m modic_core.ui.teaching_cases: re-measure the catalogue
    for c in CASES:
        m = measure_case(c)
        flag = "" if (m.prediction == c.truth) == c.is_example else "   <-- role no longer holds"
        print(f"{c.key:45s} truth {c.truth}  {c.role:8s} model {m.text}{flag}")
