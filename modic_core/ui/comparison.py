"""The normalization comparison: the shipped typed record, tables and plotly charts.

``weights/normalization_comparison.json`` is a :class:`modic_core.schema.NormalizationComparison`
(written by ``modic_core.train.compare``): per normalization method the pooled cross-validated
classification report, the paired difference against the reference (z-score), and breakdowns by
manufacturer and field strength, plus ``best_method``, ``n_discs`` and ``notes``. A file of
another kind or version raises :class:`modic_core.schema.SchemaError` (shown as a message by the
pages); a missing value is shown as missing, never invented. Any class flagged ``too_few`` is
shown as "too few cases (n=...)" instead of a bar.

The same charts serve a user's own cohort (a :class:`modic_core.schema.CohortMetrics`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from modic_core import settings
from modic_core.evaluation.method_choice import DEFAULT_RULE, choose_default
from modic_core.export.style import CLASS_NAMES, class_color
from modic_core.io.stamp import file_stamp
from modic_core.schema import CalibrationRecord, ClassificationReport, Estimate, NormalizationComparison, PairedDiff, SchemaError
from modic_core.normalization.methods import NORMALIZATIONS

__all__ = [
    "COMPARISON_FILE",
    "DEFAULT_RULE",
    "MethodResult",
    "SCALAR_METRICS",
    "best_method",
    "calibration_table",
    "comparison_methods",
    "default_statement",
    "group_table",
    "confusion_matrix_figure",
    "fmt_estimate",
    "fmt_paired",
    "group_chart",
    "load_comparison",
    "metric_chart",
    "paired_chart",
    "reliability_chart",
    "sensitivity_chart",
    "shipped_best_method",
    "shipped_starred_method",
    "starred_method",
    "summary_table",
    "weights_dir",
]

COMPARISON_FILE = "normalization_comparison.json"

#: (attribute of the report, label) of the scalar scores charted side by side.
SCALAR_METRICS: list[tuple[str, str]] = [
    ("balanced_accuracy", "Balanced accuracy"),
    ("mc0_vs_mc2", "MC0-vs-MC2 balanced accuracy"),
    ("macro_f1", "Macro-F1"),
    ("weighted_f1", "Weighted-F1"),
    ("cohen_kappa", "Cohen's kappa"),
]


def weights_dir() -> Path:
    """The shipped weights folder (``MODIC_WEIGHTS_DIR`` overrides, as for the classifiers)."""
    return settings.weights_dir()


def load_comparison(folder: str | Path | None = None) -> NormalizationComparison | None:
    """The shipped comparison, or None when it is not installed.

    Raises:
        SchemaError: the file is not a comparison of a version this program reads.
    """
    path = Path(folder or weights_dir()) / COMPARISON_FILE
    return _load_comparison_cached(path, file_stamp(path)) if path.is_file() else None


@functools.lru_cache(maxsize=4)
def _load_comparison_cached(path: Path, stamp: tuple) -> NormalizationComparison:
    """One parse per file version (``stamp``: :func:`~modic_core.io.stamp.file_stamp`): the sidebar reads
    the comparison on every rerun. The returned document is shared: callers must not modify it."""
    return NormalizationComparison.load(path)


@dataclass
class MethodResult:
    """One normalization method's results: its report, paired differences (by metric) and group breakdowns."""

    name: str
    label: str
    report: ClassificationReport | None
    paired: dict[str, PairedDiff] = field(default_factory=dict)
    groups: dict[str, dict[str, ClassificationReport]] = field(default_factory=dict)
    calibration: CalibrationRecord | None = None


def _method_label(name: str) -> str:
    m = NORMALIZATIONS.get(name)
    return m.label if m else name


def comparison_methods(comparison: NormalizationComparison | None) -> list[MethodResult]:
    """The methods of a comparison, registry order first."""
    if comparison is None:
        return []
    entries = comparison.methods
    order = [m for m in NORMALIZATIONS if m in entries] + [m for m in entries if m not in NORMALIZATIONS]
    return [MethodResult(name=name, label=_method_label(name), report=entries[name].metrics,
                         paired=dict(entries[name].paired or {}), groups=entries[name].groups(),
                         calibration=entries[name].calibration)
            for name in order]


def best_method(comparison: NormalizationComparison | None, default: str | None = None) -> str:
    """The default method of the comparison by the rule fixed in advance
    (:func:`modic_core.evaluation.method_choice.choose_default`: z-score unless another method is better
    with a paired 95 % CI excluding zero), when it is a registered method; else ``default``. A stored
    ``best_method`` chosen by point estimate (older files) is not followed."""
    if comparison is not None:
        method = choose_default(comparison).method
        if method in NORMALIZATIONS:
            return method
    return default or settings.default_normalization()


def starred_method(comparison: NormalizationComparison | None) -> str | None:
    """The method that gets the "best method" star: only one that beat z-score by the rule; else None."""
    if comparison is None:
        return None
    choice = choose_default(comparison)
    return choice.method if choice.differs else None


def default_statement(comparison: NormalizationComparison) -> str:
    """One sentence for the page: which method is the default and why (the rule's outcome)."""
    return choose_default(comparison).reason


def shipped_best_method(default: str | None = None) -> str:
    """The shipped comparison's default method by the rule; ``default`` when it is absent or unreadable
    (the sidebar must not fail; the comparison pages show the SchemaError)."""
    try:
        return best_method(load_comparison(), default=default)
    except SchemaError:
        return default or settings.default_normalization()


def shipped_starred_method() -> str | None:
    """The shipped comparison's starred method (None: no star; also when the file is absent or unreadable)."""
    try:
        return starred_method(load_comparison())
    except SchemaError:
        return None


# --------------------------------------------------------------------------- values and text


def _estimate(report: ClassificationReport | None, key: str) -> Estimate | None:
    return getattr(report, key, None) if report is not None else None


def _sensitivity(report: ClassificationReport | None, cls_name: str) -> Estimate | None:
    return report.sensitivity(cls_name) if report is not None else None


def fmt_estimate(est: Estimate | None) -> str:
    """The estimate's own ``display`` text (with the "too few cases" wording), else built from its values."""
    if est is None:
        return "—"
    if est.too_few:
        return est.display or f"too few cases (n={est.n if est.n is not None else '?'})"
    if est.display:
        return est.display
    v = est.value
    if v is None:
        return "undefined"
    lo, hi = est.ci_low, est.ci_high
    return f"{v:.3f}" if lo is None or hi is None else f"{v:.3f} (95% CI {lo:.3f}-{hi:.3f})"


def fmt_paired(p: PairedDiff | None) -> str:
    if p is None or p.diff is None:
        return "—"
    text = f"{p.diff:+.3f}"
    if p.ci_low is not None and p.ci_high is not None:
        text += f" (95% CI {p.ci_low:+.3f} to {p.ci_high:+.3f})"
    return text


_PAIRED_LABELS = {"mc0_vs_mc2_balanced_accuracy": "MC0-vs-MC2", "balanced_accuracy": "balanced accuracy"}


def _paired_metric(m: MethodResult) -> str:
    """The paired difference shown for a method: MC0-vs-MC2 when computed, else balanced accuracy, else the first."""
    return next((k for k in _PAIRED_LABELS if k in m.paired), next(iter(m.paired)))


def summary_table(methods: list[MethodResult], *, best: str | None = None):
    """One row per method: every score as its display text (CIs, "too few cases" flags), paired difference."""
    rows = []
    for m in methods:
        r = m.report
        row: dict[str, Any] = {"method": m.label + (" ★" if best and m.name == best else ""), "key": m.name}
        row["discs"] = r.n_discs if r else None
        if any(x.paired for x in methods):  # third column, so it is on screen without scrolling
            row["Δ vs z-score"] = "reference" if not m.paired else ""
        if m.paired:
            metric = _paired_metric(m)
            row["Δ vs z-score"] = f"{fmt_paired(m.paired[metric])} [{_PAIRED_LABELS.get(metric, metric)}]"
        for key, label in SCALAR_METRICS:
            row[label] = fmt_estimate(_estimate(r, key))
        for c in CLASS_NAMES:
            row[f"Sensitivity {c}"] = fmt_estimate(_sensitivity(r, c))
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- charts


def _err(est: Estimate | None) -> tuple[float | None, float, float]:
    if est is None or est.value is None:
        return None, 0.0, 0.0
    v = float(est.value)
    lo, hi = est.ci_low, est.ci_high
    return v, (v - float(lo)) if lo is not None else 0.0, (float(hi) - v) if hi is not None else 0.0


#: Value labels of grouped bars: written upward inside each bar from its base (clear of the error bars), so neighbouring labels
#: never run into each other ("0.610.61"); a label that does not fit its bar is hidden (the table has it).
_BAR_TEXT = dict(textposition="inside", insidetextanchor="start", textangle=-90, textfont=dict(size=11, color="white"),
                 cliponaxis=False)
_UNIFORM_TEXT = dict(minsize=9, mode="hide")

_PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D", "#BAB0AC"]


def metric_chart(methods: list[MethodResult], *, best: str | None = None, title: str = "Scores with 95% CIs (patient bootstrap)"):
    """Grouped bars: x = score, one bar per method, error bars = 95% CIs. Undefined scores are left out."""
    fig = go.Figure()
    labels = [label for _, label in SCALAR_METRICS]
    for i, m in enumerate(methods):
        vals, lo, hi, text = [], [], [], []
        for key, _ in SCALAR_METRICS:
            v, a, b = _err(_estimate(m.report, key))
            vals.append(v)
            lo.append(a)
            hi.append(b)
            text.append("" if v is None else f"{v:.2f}")
        fig.add_bar(
            name=m.label + (" (best)" if m.name == best else ""), x=labels, y=vals, text=text, **_BAR_TEXT,
            error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1.2, width=3),
            marker=dict(color=_PALETTE[i % len(_PALETTE)], line=dict(width=2 if m.name == best else 0, color="black")),
        )
    fig.update_layout(barmode="group", title=title, yaxis=dict(title="value", range=[min(0, _min_y(fig)), 1.08]),
                      legend=dict(orientation="h", y=-0.2), height=430, margin=dict(t=50, b=10), uniformtext=_UNIFORM_TEXT)
    return fig


def _min_y(fig) -> float:
    ys = [y for tr in fig.data for y in (tr.y or []) if y is not None]
    return min(ys) - 0.1 if ys and min(ys) < 0 else 0.0


def sensitivity_chart(methods: list[MethodResult], *, title: str = "Per-class sensitivity with 95% CIs"):
    """x = class, one bar per method. Classes flagged ``too_few`` get no bar but the text "too few cases (n=...)"."""
    fig = go.Figure()
    flagged: dict[str, str] = {}
    for i, m in enumerate(methods):
        vals, lo, hi, text = [], [], [], []
        for c in CLASS_NAMES:
            est = _sensitivity(m.report, c)
            if est is not None and est.too_few:
                flagged[c] = fmt_estimate(est)
                vals.append(None)
                lo.append(0.0)
                hi.append(0.0)
                text.append("")
                continue
            v, a, b = _err(est)
            vals.append(v)
            lo.append(a)
            hi.append(b)
            text.append("" if v is None else f"{v:.2f}")
        fig.add_bar(name=m.label, x=list(CLASS_NAMES), y=vals, text=text, **_BAR_TEXT,
                    error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1.2, width=3),
                    marker_color=_PALETTE[i % len(_PALETTE)])
    for c, text in flagged.items():
        fig.add_annotation(x=c, y=0.5, text=text, showarrow=False, font=dict(size=13, color="#B00020"),
                           bgcolor="rgba(255,255,255,0.85)", bordercolor="#B00020")
    fig.update_layout(barmode="group", title=title, yaxis=dict(title="sensitivity", range=[0, 1.1]),
                      legend=dict(orientation="h", y=-0.2), height=400, margin=dict(t=50, b=10), uniformtext=_UNIFORM_TEXT)
    return fig


def confusion_matrix_figure(report: ClassificationReport | None, *, title: str = "", height: int = 300):
    """3x3 confusion matrix heat map (rows true, columns predicted) with counts and row shares.

    A true class whose sensitivity is flagged ``too_few`` (e.g. MC1 with n = 4) is drawn grey,
    not on the blue scale, and its row is labelled "too few cases (n=...)": its shares are not
    comparable with the other rows'.
    """
    cm = np.asarray(report.confusion_matrix if report is not None else np.zeros((3, 3)), dtype=float)
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    labels = list(CLASS_NAMES)[: cm.shape[0]]
    few = [bool(getattr(_sensitivity(report, c), "too_few", False)) for c in labels]
    z = np.where(np.array(few)[:, None], np.nan, share)
    text = [[f"{int(cm[i, j])}" if few[i] else f"{int(cm[i, j])}<br>({share[i, j]:.0%})" for j in range(cm.shape[1])]
            for i in range(cm.shape[0])]
    ylab = [f"true {c}" + (f"<br><i>too few (n={int(rows[i, 0])})</i>" if few[i] else "") for i, c in enumerate(labels)]
    fig = go.Figure(go.Heatmap(z=z, x=[f"pred {c}" for c in labels], y=ylab, text=text, texttemplate="%{text}",
                               colorscale="Blues", zmin=0, zmax=1, showscale=False, xgap=1, ygap=1,
                               hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=height, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="#D9D9D9")  # NaN cells (too-few rows) show this grey
    return fig


def paired_chart(methods: list[MethodResult], *, title: str = "Paired difference vs z-score (95% CI, patient bootstrap)"):
    """Forest plot: per method its paired difference against the reference with the 95% CI; 0 = no difference.

    None when no method has a paired difference.
    """
    rows = [(m, _paired_metric(m)) for m in methods if m.paired]
    rows = [(m, k, m.paired[k]) for m, k in rows if m.paired[k].diff is not None]
    if not rows:
        return None
    fig = go.Figure()
    ys = [f"{m.label} [{_PAIRED_LABELS.get(k, k)}]" for m, k, _ in rows]
    diffs = [float(p.diff) for _, _, p in rows]
    plus = [float(p.ci_high) - float(p.diff) if p.ci_high is not None else 0.0 for _, _, p in rows]
    minus = [float(p.diff) - float(p.ci_low) if p.ci_low is not None else 0.0 for _, _, p in rows]
    fig.add_scatter(x=diffs, y=ys, mode="markers+text", text=[f"{d:+.3f}" for d in diffs], textposition="top center",
                    marker=dict(size=10, color="#4C78A8"), error_x=dict(type="data", symmetric=False, array=plus,
                                                                       arrayminus=minus, thickness=1.5, width=6),
                    hovertemplate="%{y}: %{x:+.3f}<extra></extra>", showlegend=False)
    fig.add_vline(x=0, line=dict(color="#555555", dash="dash"))
    fig.update_layout(title=title, xaxis=dict(title="method minus z-score (positive = better)", zeroline=False),
                      height=120 + 45 * len(rows), margin=dict(t=50, b=10, l=10, r=10))
    return fig


def group_chart(methods: list[MethodResult], column: str, *, metric: str = "balanced_accuracy", title: str | None = None):
    """Per-scanner breakdown: x = group value (with n), one bar per method, the chosen score with CIs.

    A group with fewer than 10 discs, or whose score is flagged "too few cases" (e.g. MC0-vs-MC2 with
    fewer than 10 MC2 discs), is labelled instead of drawn.
    """
    groups: list[str] = []
    for m in methods:
        for g in m.groups.get(column, {}):
            if g not in groups:
                groups.append(g)
    fig = go.Figure()
    small: dict[str, int] = {}
    for i, m in enumerate(methods):
        reps = m.groups.get(column, {})
        vals, lo, hi, xs = [], [], [], []
        for g in groups:
            rep = reps.get(g)
            n = int(rep.n_discs) if rep else 0
            xs.append(f"{g} (n={n})" if rep else g)
            est = _estimate(rep, metric) if rep is not None else None
            if rep is None or n < 10 or (est is not None and est.too_few):
                if rep is not None:
                    small[xs[-1]] = n
                vals.append(None)
                lo.append(0.0)
                hi.append(0.0)
                continue
            v, a, b = _err(_estimate(rep, metric))
            vals.append(v)
            lo.append(a)
            hi.append(b)
        fig.add_bar(name=m.label, x=xs, y=vals, marker_color=_PALETTE[i % len(_PALETTE)],
                    error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1.2, width=3))
    for x, n in small.items():
        fig.add_annotation(x=x, y=0.5, text=f"too few cases (n={n})", showarrow=False, font=dict(color="#B00020"))
    label = dict(SCALAR_METRICS).get(metric, metric)
    fig.update_layout(barmode="group", title=title or f"{label} by {column.replace('_t', ' (T)').replace('_', ' ')}",
                      yaxis=dict(range=[0, 1.1], title=label), legend=dict(orientation="h", y=-0.25), height=400,
                      margin=dict(t=50, b=10))
    return fig


def class_color_map() -> dict[str, str]:
    return {c: class_color(c) for c in CLASS_NAMES}


# --------------------------------------------------------------------------- per-scanner and calibration tables

_GROUP_LABELS = {"manufacturer": "manufacturer", "field_strength_t": "field strength"}


def group_table(methods: list[MethodResult], *, column: str | None = None):
    """One row per method and scanner group (maker, field strength): discs, MC0-vs-MC2 and balanced
    accuracy with 95 % CIs, per-class sensitivity; scores of groups with too few cases say so."""
    rows = []
    for m in methods:
        for col, reps in m.groups.items():
            if column is not None and col != column:
                continue
            for g, rep in reps.items():
                mc02 = _estimate(rep, "mc0_vs_mc2")
                rows.append({
                    "method": m.label, "grouped by": _GROUP_LABELS.get(col, col), "group": g, "discs": rep.n_discs,
                    "patients": rep.n_patients,
                    "MC0-vs-MC2 balanced accuracy": fmt_estimate(mc02),
                    "Balanced accuracy": fmt_estimate(_estimate(rep, "balanced_accuracy")),
                    **{f"Sensitivity {c}": fmt_estimate(_sensitivity(rep, c)) for c in CLASS_NAMES},
                    "too few cases": bool((mc02 is not None and mc02.too_few) or rep.n_discs < 10),
                })
    return pd.DataFrame(rows)


def _value(est: Estimate | None) -> str:
    return fmt_estimate(est) if est is not None else "—"


def calibration_table(methods: list[MethodResult]):
    """One row per method with a calibration record: temperature, ECE before/after (nested), and the old in-sample
    "uncertain" flag the prediction sets replaced (its threshold, share flagged, accuracy of the rest; 95 % CIs)."""
    rows = []
    for m in methods:
        c = m.calibration
        if c is None:
            continue
        u = c.uncertainty
        rows.append({
            "method": m.label, "temperature": round(c.temperature, 3),
            "ECE before": None if c.ece_before is None else round(c.ece_before, 3),
            "ECE after (nested)": None if c.ece_after is None else round(c.ece_after, 3),
            "old flag: below": c.uncertain_below,
            "old flag: levels flagged": _value(u.rate) if u else "—",
            "old flag: accuracy of the rest": _value(u.accuracy_rest) if u else "—",
            "old flag: MC0-vs-MC2 of the rest": _value(u.mc0_vs_mc2_rest) if u else "—",
        })
    return pd.DataFrame(rows)


def reliability_chart(calibration: CalibrationRecord, *, title: str = "Reliability diagram (top label)"):
    """Accuracy against mean confidence per bin, before and after temperature scaling (nested), with
    the diagonal of perfect calibration; marker size grows with the bin's disc count. Empty bins are left out."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#999999", dash="dash"), name="perfectly calibrated",
                    hoverinfo="skip")
    for bins, name, color, ece in ((calibration.reliability_before, "before scaling", "#E45756", calibration.ece_before),
                                   (calibration.reliability_after, "after scaling (nested)", "#4C78A8", calibration.ece_after)):
        pts = [b for b in bins if b.n and b.confidence is not None and b.accuracy is not None]
        if not pts:
            continue
        label = name + ("" if ece is None else f", ECE {ece:.3f}")
        fig.add_scatter(x=[b.confidence for b in pts], y=[b.accuracy for b in pts], mode="lines+markers", name=label,
                        marker=dict(color=color, size=[6 + min(14, b.n ** 0.5) for b in pts]),
                        line=dict(color=color), text=[f"n={b.n}" for b in pts],
                        hovertemplate="confidence %{x:.2f}, accuracy %{y:.2f}, %{text}<extra></extra>")
    fig.update_layout(title=title, xaxis=dict(title="mean top-label probability in the bin", range=[0, 1.02]),
                      yaxis=dict(title="share correct", range=[0, 1.02]), height=380, margin=dict(t=50, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig
