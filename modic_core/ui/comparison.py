"""The normalization comparison: reading the shipped JSON defensively, tables and plotly charts.

``weights/normalization_comparison.json`` holds, per normalization method, the pooled
cross-validated :func:`modic_core.evaluation.metrics.classification_report`, the paired difference
against z-score, and breakdowns by manufacturer and field strength, plus ``best_method``,
``n_discs`` and ``notes``. The readers here accept a few layouts of that file (a ``methods``
or ``results`` mapping, or methods at the top level; the report under ``classification``,
``report``, ``pooled`` or directly) and never invent a number: a missing value is shown as
missing. Any class flagged ``too_few`` is shown as "too few cases (n=...)" instead of a bar.

The same charts serve a user's own cohort (an :func:`modic_core.evaluation.evaluate.evaluate` report).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from modic_core.export.style import CLASS_NAMES, class_color

__all__ = [
    "COMPARISON_FILE",
    "MethodResult",
    "SCALAR_METRICS",
    "best_method",
    "confusion_matrix_figure",
    "extract_methods",
    "fmt_estimate",
    "fmt_paired",
    "group_chart",
    "load_json",
    "metric_chart",
    "sensitivity_chart",
    "summary_table",
    "weights_dir",
]

COMPARISON_FILE = "normalization_comparison.json"

#: (key in the report, label) of the scalar scores charted side by side.
SCALAR_METRICS: list[tuple[str, str]] = [
    ("balanced_accuracy", "Balanced accuracy"),
    ("mc0_vs_mc2", "MC0-vs-MC2 balanced accuracy"),
    ("macro_f1", "Macro-F1"),
    ("weighted_f1", "Weighted-F1"),
    ("cohen_kappa", "Cohen's kappa"),
]

_GROUP_KEYS = {
    "manufacturer": ("manufacturer", "by_manufacturer", "scanner", "vendor"),
    "field_strength_t": ("field_strength_t", "field_strength", "by_field_strength", "by_field_strength_t", "tesla"),
}


def weights_dir() -> Path:
    """The shipped weights folder (``MODIC_WEIGHTS_DIR`` overrides, as for the classifiers)."""
    from modic_core import settings

    return settings.weights_dir()


def load_json(path: str | Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is absent or unreadable (never raises)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _is_report(d: Any) -> bool:
    return isinstance(d, Mapping) and "per_class" in d and "confusion_matrix" in d


def _find_report(entry: Any, depth: int = 2) -> dict[str, Any] | None:
    if _is_report(entry):
        return dict(entry)
    if not isinstance(entry, Mapping) or depth <= 0:
        return None
    for key in ("classification", "report", "pooled", "cv", "cross_validation", "metrics", "overall"):
        found = _find_report(entry.get(key), depth - 1)
        if found:
            return found
    for key, val in entry.items():
        if isinstance(key, str) and key.startswith(("by_", "paired", "diff")):
            continue
        found = _find_report(val, depth - 1)
        if found:
            return found
    return None


def _find_groups(entry: Mapping[str, Any], report: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """{group column: {group value: classification report}} from the usual places."""
    out: dict[str, dict[str, Any]] = {}
    sources: list[Mapping[str, Any]] = [entry]
    for key in ("by_group", "groups", "breakdown"):
        if isinstance(entry.get(key), Mapping):
            sources.append(entry[key])
    if report and isinstance(report.get("by_group"), Mapping):
        sources.append(report["by_group"])
    for col, aliases in _GROUP_KEYS.items():
        for src in sources:
            for alias in aliases:
                val = src.get(alias)
                if not isinstance(val, Mapping):
                    continue
                reps = {str(k): _find_report(v, 1) for k, v in val.items()}
                reps = {k: v for k, v in reps.items() if v}
                if reps:
                    out.setdefault(col, reps)
    return out


def _find_paired(entry: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{metric: paired-bootstrap result} of this method against the reference (z-score)."""
    for key, val in entry.items():
        if not (isinstance(key, str) and ("paired" in key or key.startswith("diff"))):
            continue
        if not isinstance(val, Mapping):
            continue
        if "diff" in val and "metric" in val:
            return {str(val["metric"]): dict(val)}
        nested = {str(k): dict(v) for k, v in val.items() if isinstance(v, Mapping) and "diff" in v}
        if nested:
            return nested
    return {}


@dataclass
class MethodResult:
    """One normalization method's results, as found in the file."""

    name: str
    label: str
    report: dict[str, Any] | None
    paired: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _method_label(name: str) -> str:
    from modic_core.normalization.methods import NORMALIZATIONS

    m = NORMALIZATIONS.get(name)
    return m.label if m else name


def extract_methods(comparison: Mapping[str, Any] | None) -> list[MethodResult]:
    """The methods in a comparison dict (registry order first), each with what could be found."""
    from modic_core.normalization.methods import NORMALIZATIONS

    if not comparison:
        return []
    container: Mapping[str, Any] | None = None
    for key in ("methods", "results", "per_method", "normalizations"):
        if isinstance(comparison.get(key), Mapping):
            container = comparison[key]
            break
    if container is None:
        container = {k: v for k, v in comparison.items() if k in NORMALIZATIONS}
    elif isinstance(container, list):  # pragma: no cover - defensive
        container = {str(e.get("name")): e for e in container if isinstance(e, Mapping)}
    order = [m for m in NORMALIZATIONS if m in container] + [m for m in container if m not in NORMALIZATIONS]
    out = []
    for name in order:
        entry = container[name]
        if not isinstance(entry, Mapping):
            continue
        report = _find_report(entry)
        out.append(MethodResult(
            name=str(name),
            label=_method_label(str(name)),
            report=report,
            paired=_find_paired(entry),
            groups=_find_groups(entry, report),
            extra={k: v for k, v in entry.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)},
        ))
    return out


def best_method(comparison: Mapping[str, Any] | None, default: str = "zscore") -> str:
    """``best_method`` of the comparison when it names a registered method, else ``default``."""
    from modic_core.normalization.methods import NORMALIZATIONS

    if comparison:
        bm = comparison.get("best_method")
        if isinstance(bm, Mapping):
            bm = bm.get("name") or bm.get("method")
        if isinstance(bm, str) and bm in NORMALIZATIONS:
            return bm
    return default


# --------------------------------------------------------------------------- values and text


def _estimate(report: Mapping[str, Any] | None, key: str) -> dict[str, Any] | None:
    if not report:
        return None
    val = report.get(key)
    return dict(val) if isinstance(val, Mapping) else None


def fmt_estimate(est: Mapping[str, Any] | None) -> str:
    """The estimate's own ``display`` text (with the "too few cases" wording), else built from its values."""
    if not est:
        return "—"
    if est.get("too_few"):
        return est.get("display") or f"too few cases (n={est.get('n', '?')})"
    if est.get("display"):
        return str(est["display"])
    v = est.get("value")
    if v is None:
        return "undefined"
    lo, hi = est.get("ci_low"), est.get("ci_high")
    return f"{v:.3f}" if lo is None or hi is None else f"{v:.3f} (95% CI {lo:.3f}-{hi:.3f})"


def fmt_paired(p: Mapping[str, Any] | None) -> str:
    if not p or p.get("diff") is None:
        return "—"
    d = float(p["diff"])
    lo, hi = p.get("ci_low"), p.get("ci_high")
    text = f"{d:+.3f}"
    if lo is not None and hi is not None:
        text += f" (95% CI {lo:+.3f} to {hi:+.3f})"
    return text


def summary_table(methods: list[MethodResult], *, best: str | None = None):
    """One row per method: every score as its display text (CIs, "too few cases" flags), paired difference."""
    import pandas as pd

    rows = []
    for m in methods:
        r = m.report
        row: dict[str, Any] = {"method": m.label + (" ★" if best and m.name == best else ""), "key": m.name}
        row["discs"] = r.get("n_discs") if r else None
        for key, label in SCALAR_METRICS:
            row[label] = fmt_estimate(_estimate(r, key))
        for c in CLASS_NAMES:
            est = (r or {}).get("per_class", {}).get(c, {}).get("sensitivity") if r else None
            row[f"Sensitivity {c}"] = fmt_estimate(est)
        if m.paired:
            metric = next((k for k in ("mc0_vs_mc2_balanced_accuracy", "balanced_accuracy") if k in m.paired), next(iter(m.paired)))
            label = {"mc0_vs_mc2_balanced_accuracy": "MC0-vs-MC2", "balanced_accuracy": "balanced accuracy"}.get(metric, metric)
            row["Δ vs z-score"] = f"{fmt_paired(m.paired[metric])} [{label}]"
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- charts


def _err(est: Mapping[str, Any] | None) -> tuple[float | None, float, float]:
    if not est or est.get("value") is None:
        return None, 0.0, 0.0
    v = float(est["value"])
    lo, hi = est.get("ci_low"), est.get("ci_high")
    return v, (v - float(lo)) if lo is not None else 0.0, (float(hi) - v) if hi is not None else 0.0


_PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D", "#BAB0AC"]


def metric_chart(methods: list[MethodResult], *, best: str | None = None, title: str = "Scores with 95% CIs (patient bootstrap)"):
    """Grouped bars: x = score, one bar per method, error bars = 95% CIs. Undefined scores are left out."""
    import plotly.graph_objects as go

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
            name=m.label + (" (best)" if m.name == best else ""), x=labels, y=vals, text=text, textposition="outside",
            error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1.2, width=3),
            marker=dict(color=_PALETTE[i % len(_PALETTE)], line=dict(width=2 if m.name == best else 0, color="black")),
        )
    fig.update_layout(barmode="group", title=title, yaxis=dict(title="value", range=[min(0, _min_y(fig)), 1.08]),
                      legend=dict(orientation="h", y=-0.2), height=430, margin=dict(t=50, b=10))
    return fig


def _min_y(fig) -> float:
    ys = [y for tr in fig.data for y in (tr.y or []) if y is not None]
    return min(ys) - 0.1 if ys and min(ys) < 0 else 0.0


def sensitivity_chart(methods: list[MethodResult], *, title: str = "Per-class sensitivity with 95% CIs"):
    """x = class, one bar per method. Classes flagged ``too_few`` get no bar but the text "too few cases (n=...)"."""
    import plotly.graph_objects as go

    fig = go.Figure()
    flagged: dict[str, str] = {}
    for i, m in enumerate(methods):
        vals, lo, hi, text = [], [], [], []
        for c in CLASS_NAMES:
            est = (m.report or {}).get("per_class", {}).get(c, {}).get("sensitivity")
            if est and est.get("too_few"):
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
        fig.add_bar(name=m.label, x=list(CLASS_NAMES), y=vals, text=text, textposition="outside",
                    error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1.2, width=3),
                    marker_color=_PALETTE[i % len(_PALETTE)])
    for c, text in flagged.items():
        fig.add_annotation(x=c, y=0.5, text=text, showarrow=False, font=dict(size=13, color="#B00020"),
                           bgcolor="rgba(255,255,255,0.85)", bordercolor="#B00020")
    fig.update_layout(barmode="group", title=title, yaxis=dict(title="sensitivity", range=[0, 1.1]),
                      legend=dict(orientation="h", y=-0.2), height=400, margin=dict(t=50, b=10))
    return fig


def confusion_matrix_figure(report: Mapping[str, Any] | None, *, title: str = "", height: int = 300):
    """3x3 confusion matrix heat map (rows true, columns predicted) with counts and row shares."""
    import numpy as np
    import plotly.graph_objects as go

    cm = np.asarray((report or {}).get("confusion_matrix") or np.zeros((3, 3)), dtype=float)
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    text = [[f"{int(cm[i, j])}<br>({share[i, j]:.0%})" for j in range(cm.shape[1])] for i in range(cm.shape[0])]
    labels = list(CLASS_NAMES)[: cm.shape[0]]
    fig = go.Figure(go.Heatmap(z=share, x=[f"pred {c}" for c in labels], y=[f"true {c}" for c in labels], text=text,
                               texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1, showscale=False,
                               hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def group_chart(methods: list[MethodResult], column: str, *, metric: str = "balanced_accuracy", title: str | None = None):
    """Per-scanner breakdown: x = group value (with n), one bar per method, the chosen score with CIs.

    A group whose score is undefined, or has fewer than 10 discs, is labelled instead of drawn.
    """
    import plotly.graph_objects as go

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
            n = int(rep.get("n_discs", 0)) if rep else 0
            xs.append(f"{g} (n={n})" if rep else g)
            if rep is None or n < 10:
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
