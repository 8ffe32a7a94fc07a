"""Teaching page helpers: synthetic phantoms with a chosen Modic change, and what it does to signal.

Everything here is synthetic (:func:`modic_core.datasets.synthetic.make_phantom`); nothing is a patient.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = [
    "TEACHING_LEVELS",
    "ENDPLATES",
    "EXPECTED_SIGNAL",
    "teaching_phantom",
    "signal_summary",
    "signal_chart",
    "match_level",
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
    from modic_core.datasets.synthetic import make_phantom

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
    import plotly.graph_objects as go

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
    from modic_core.evaluation.metrics import iou_matrix

    levels = list(levels)
    if not levels:
        return None
    ious = iou_matrix(np.asarray([box], float), np.asarray([lv.box for lv in levels], float))[0]
    best, best_iou = None, min_iou
    for lv, iou in zip(levels, ious):
        if iou >= best_iou:
            best, best_iou = lv, iou
    return best
