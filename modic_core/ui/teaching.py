"""Teaching page helpers: synthetic phantoms with a chosen Modic change, and what it does to signal.

Everything here is synthetic (:func:`modic_core.datasets.synthetic.make_phantom`); nothing is a patient.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from modic_core.datasets.demo import match_truth
from modic_core.datasets.synthetic import make_phantom
from modic_core.boxes import box_iou

__all__ = [
    "TEACHING_LEVELS",
    "ENDPLATES",
    "EXPECTED_SIGNAL",
    "teaching_phantom",
    "signal_summary",
    "signal_chart",
    "match_level",
    "mc1_note",
    "truth_table",
    "truth_summary",
]

TEACHING_LEVELS = ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
ENDPLATES = {"upper": "upper endplate (vertebra above)", "lower": "lower endplate (vertebra below)", "both": "both endplates"}

#: Textbook appearance relative to normal marrow (Modic et al. 1988).
EXPECTED_SIGNAL = {
    0: "Normal marrow: no change on T1 or T2.",
    1: "Type 1 (oedema, inflammation): T1 hypointense (darker), T2 hyperintense (brighter).",
    2: "Type 2 (fatty replacement): T1 hyperintense (brighter), T2 iso- to hyperintense.",
    3: "Type 3 (sclerosis): T1 and T2 hypointense (darker). The model has no MC3 class: MC3 was excluded from training.",
}

TEACHING_SHAPE = (15, 192, 192)
TEACHING_SPACING = (4.0, 1.3, 1.3)


def teaching_phantom(level: str = "L4-L5", grade: int = 1, endplate: str = "both", *, seed: int = 11, variation: float = 0.5):
    """A 3D phantom (15 sagittal slices, like the DICOM demo) with one Modic change of ``grade`` at ``level``."""
    if level not in TEACHING_LEVELS:
        raise ValueError(f"level must be one of {TEACHING_LEVELS}")
    if grade not in (0, 1, 2, 3):
        raise ValueError("grade must be 0, 1, 2 or 3")
    if endplate not in ENDPLATES:
        raise ValueError(f"endplate must be one of {list(ENDPLATES)}")
    modic = {level: (int(grade), endplate)} if grade else {}
    return make_phantom(seed=int(seed), shape=TEACHING_SHAPE, spacing=TEACHING_SPACING, modic=modic, variation=variation)


def signal_summary(phantom, level: str) -> dict[str, Any]:
    """Median T1 and T2 signal of the lesion versus normal vertebral marrow, and their ratios.

    Normal marrow = vertebral-body voxels (SPIDER labels 1-99) outside any lesion, on the slices
    of the level's slab. Ratios > 1 mean the lesion is brighter than normal marrow.
    """
    lv = phantom.level(level)
    z0, z1 = lv.z_range
    sl = slice(int(z0), int(z1) + 1)
    labels = phantom.labels[sl]
    lesion = phantom.lesion_mask[sl]
    marrow = (labels >= 1) & (labels < 100) & ~lesion
    out: dict[str, Any] = {"level": level, "grade": int(lv.modic), "n_lesion_voxels": int(lesion.sum())}
    for name, vol in (("T1", phantom.t1), ("T2", phantom.t2)):
        arr = vol.array[sl]
        normal = float(np.median(arr[marrow])) if marrow.any() else float("nan")
        les = float(np.median(arr[lesion])) if lesion.any() else float("nan")
        out[name] = {"normal": normal, "lesion": les, "ratio": les / normal if normal and np.isfinite(les) else float("nan")}
    return out


def signal_chart(summary: dict[str, Any]):
    """Bars: lesion signal relative to normal marrow (= 1) on T1 and T2."""
    fig = go.Figure()
    fig.add_bar(name="normal marrow", x=["T1", "T2"], y=[1.0, 1.0], marker_color="#BBBBBB")
    if summary.get("n_lesion_voxels"):
        ratios = [summary["T1"]["ratio"], summary["T2"]["ratio"]]
        fig.add_bar(name=f"Modic type {summary['grade']} lesion", x=["T1", "T2"], y=ratios,
                    text=[f"{r:.2f}×" for r in ratios], textposition="outside", marker_color="#FF2E88")
    fig.update_layout(barmode="group", title="Lesion vs normal marrow (synthetic)",
                      yaxis=dict(title="relative signal", range=[0, 2.2]), height=320, margin=dict(t=50, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def match_level(levels: Sequence, box: Sequence[float], *, min_iou: float = 0.3):
    """The detected level whose box overlaps the true ``box`` most (IoU >= ``min_iou``), or None."""
    levels = list(levels)
    if not levels:
        return None
    ious = box_iou(np.asarray([box], float), np.asarray([lv.box for lv in levels], float))[0]
    best, best_iou = None, min_iou
    for lv, iou in zip(levels, ious):
        if iou >= best_iou:
            best, best_iou = lv, iou
    return best


def truth_table(truths: Sequence, levels: Sequence):
    """Truth beside prediction, one row per labelled disc (top to bottom): level, truth, detected
    level, prediction, its probability, and whether they agree ("—" when not detected or not graded).

    ``truths``: labelled discs with ``.level``, ``.modic``, ``.box`` (a phantom's ``levels`` or a
    demo case's :func:`~modic_core.datasets.demo.demo_levels`); ``levels``: a report's levels.
    """
    matched = match_truth(list(levels), list(truths))
    by_name = {lv.level: lv for lv in levels}
    by_truth = {t.level: by_name[name] for name, t in matched.items()}
    rows = []
    for t in truths:
        truth = f"MC{int(t.modic)}"
        lv = by_truth.get(t.level)
        graded = lv is not None and getattr(lv, "graded", True)
        p = float(lv.probabilities.get(lv.prediction, float("nan"))) if graded else float("nan")
        agree = "—" if not graded else ("no MC3 class" if truth == "MC3" else ("yes" if lv.prediction == truth else "no"))
        rows.append({"level": t.level, "truth": truth, "detected as": lv.level if lv is not None else "not detected",
                     "prediction": lv.prediction if lv is not None else "—", "P(prediction)": round(p, 2), "agrees": agree})
    return pd.DataFrame(rows, columns=["level", "truth", "detected as", "prediction", "P(prediction)", "agrees"])


def mc1_note(n_real_mc1: int | None) -> str:
    """What the MC1 numbers show (README "MC1 cannot be measured here"), with the shipped count of real MC1 discs."""
    n = "only a handful of" if n_real_mc1 is None else f"only {int(n_real_mc1)}"
    return (f"MC1 cannot be measured on real discs: the training cohort held {n} real MC1 discs, so every report shows "
            "\"too few cases\" for MC1. Training also painted synthetic MC1 bands (T1-dark, T2-bright) into normal crops, "
            "so on these synthetic phantoms the model predicts MC1 readily, at times also at normal or MC2 levels (see "
            "the table). A correct MC1 here shows that mechanism, not accuracy on real MC1.")


def truth_summary(table) -> str:
    """One sentence of what the table shows: agreements, normal levels called a Modic change, and MC1
    predictions at levels whose truth is not MC1."""
    scored = table[table["agrees"].isin(["yes", "no"])]
    n_ok = int((scored["agrees"] == "yes").sum())
    false_mc1 = table[(table["prediction"] == "MC1") & (table["truth"] != "MC1")]["level"].tolist()
    text = f"On this phantom the model agrees with the truth at {n_ok} of {len(scored)} gradable levels"
    normal = scored[scored["truth"] == "MC0"]
    if len(normal):
        n_fp = int(normal["prediction"].isin(["MC1", "MC2"]).sum())
        text += f"; it calls {n_fp} of {len(normal)} normal (MC0) levels a Modic change"
    if false_mc1:
        text += f"; it predicts MC1 at {len(false_mc1)} level(s) whose truth is not MC1 ({', '.join(false_mc1)})"
    return text + "."
