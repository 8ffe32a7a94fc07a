"""The teaching page's quiz and case views: neutral case names, the running score, what the
model says about a case, and the crops (T1, T2, Grad-CAM) drawn for it.

Streamlit-free: the page (``pages/teaching.py``) keeps the state and lays out the widgets.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from modic_core.export.render import compose_rgb, crop, crop_bounds, crop_figure, slice_heatmap, to_display, window_defaults
from modic_core.export.style import class_color
from modic_core.ui.teaching_cases import CASES, TeachingCase, case_label, set_text

__all__ = [
    "GRADES",
    "QUIZ_SEED",
    "QuizScore",
    "case_figures",
    "catalogue_rows",
    "model_reading",
    "quiz_cases",
    "quiz_label",
]

GRADES = ("MC0", "MC1", "MC2", "MC3")
QUIZ_SEED = 21  # the quiz's fixed shuffle of the catalogue (chosen so that it opens on a real level)
TRUTH_BOX = "#4FC3F7"  # the level to grade, drawn before anything of the model is shown


@dataclass(frozen=True)
class QuizScore:
    """Cases checked and graded right; each case counts once (its first check)."""

    answered: int = 0
    right: int = 0
    seen: tuple[str, ...] = ()

    def add(self, *, key: str, right: bool) -> "QuizScore":
        """The score after checking case ``key``; unchanged when that case was checked before."""
        if key in self.seen:
            return self
        return replace(self, answered=self.answered + 1, right=self.right + int(bool(right)), seen=self.seen + (key,))

    @property
    def text(self) -> str:
        if not self.answered:
            return "No case checked yet."
        return f"{self.right} of {self.answered} right ({100 * self.right / self.answered:.0f} %)."


def quiz_cases(catalogue: Sequence[TeachingCase] = CASES, *, seed: int = QUIZ_SEED) -> list[TeachingCase]:
    """Every catalogue case (examples and failures alike) in a fixed shuffled order, so that neither the
    order nor the name gives the grade away."""
    order = np.random.default_rng(seed).permutation(len(catalogue))
    return [catalogue[int(i)] for i in order]


def quiz_label(index: int, case: TeachingCase) -> str:
    """A name that says nothing of the truth or of the model: "Case 7 · L1-L2"."""
    return f"Case {index + 1} · {case.level}"


def model_reading(case: TeachingCase, level: Any | None) -> dict[str, Any]:
    """What the model says about the case's level (``level``: the matched report level, or None).

    Keys: ``found`` (bool), ``prediction``, ``set`` ("MC0 or MC2", "—" without a set), ``probabilities``
    ("P(MC0) 0.10 · …"), ``right`` (top grade equals the truth), ``as_catalogued`` (False when an
    example is now misread, or a failure now read right: the installed weights differ from the
    catalogue's run).
    """
    if level is None or not getattr(level, "graded", True):
        return {"found": False, "prediction": "—", "set": "—", "probabilities": "", "right": False,
                "as_catalogued": not case.is_example}
    right = level.prediction == case.truth
    probs = " · ".join(f"P({k}) {float(v):.2f}" for k, v in level.probabilities.items())
    return {"found": True, "prediction": level.prediction, "set": set_text(level), "probabilities": probs,
            "right": right, "as_catalogued": right == case.is_example}


def catalogue_rows(catalogue: Sequence[TeachingCase]) -> list[dict[str, str]]:
    """One row per case for an overview table: case, truth, and the model's reading in the catalogue's run."""
    return [{"case": case_label(c), "truth": c.truth, "model (catalogue run)": c.measured.text} for c in catalogue]


def case_figures(study, box: Sequence[float], z: int, *, level: Any | None = None, height: int = 260) -> list:
    """Crops around ``box`` (x0, y0, x1, y1, T1 pixels) on slice ``z``: T1 and T2, and with a
    report ``level`` a third with its Grad-CAM over T1. Before the model is shown (``level`` None)
    the box is the labelled one in a neutral colour; after, the detected box in the grade's colour."""
    _, ny, nx = study.t1.shape
    shown = tuple(float(v) for v in (box if level is None else level.box))
    bounds = crop_bounds(shown, (ny, nx))
    inner = (shown[0] - bounds[2], shown[1] - bounds[0], shown[2] - bounds[2], shown[3] - bounds[0])
    g1 = crop(to_display(study.t1.array[z], window_defaults(study.t1.array)), bounds)
    g2 = crop(to_display(study.t2.array[z], window_defaults(study.t2.array)), bounds)
    color = TRUTH_BOX if level is None else class_color(level.prediction)
    spacing = tuple(study.spacing[1:])
    figs = [crop_figure(compose_rgb(g1), title="T1", box_in_crop=inner, color=color, spacing_yx=spacing, height=height),
            crop_figure(compose_rgb(g2), title="T2", box_in_crop=inner, color=color, spacing_yx=spacing, height=height)]
    if level is not None:
        heat = slice_heatmap([level], z, (ny, nx))
        figs.append(crop_figure(compose_rgb(g1, None if heat is None else crop(heat, bounds), 0.6),
                                title=f"Grad-CAM ({level.prediction})", box_in_crop=inner, color=color,
                                spacing_yx=spacing, height=height))
    return figs
