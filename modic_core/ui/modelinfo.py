"""Reading the shipped model cards (``weights/detector.json``, ``weights/classifier_<method>.json``).

Each card is a typed record (:class:`modic_core.schema.DetectorCard`,
:class:`modic_core.schema.ClassifierCard`) written by the training scripts: command, data, the
training config, sha256, cross-validated metrics. The model card page shows them as found: every
number comes from these files, none is typed in. An absent file is reported as "not trained yet";
a file of another kind or version as its :class:`~modic_core.schema.SchemaError` message.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modic_core.schema import (ClassificationReport, ClassifierCard, ConformalEvaluation, DetectionCV, DetectorCard, GradcamAudit, Record,
                               ModelScores, SchemaError, SimulatedSite)
from modic_core.evaluation.headline import headline, load_shipped, plain_headline
from modic_core.evaluation.site_summary import SITE_FILE, as_site, load_site, site_rows
from modic_core.ui.comparison import weights_dir
from modic_core.normalization.methods import NORMALIZATIONS

__all__ = ["ModelEntry", "model_records", "provenance_rows", "metrics_rows", "classification_rows", "detection_rows",
           "load_gradcam_audit", "gradcam_chart", "load_conformal", "risk_coverage_chart", "SET_MEANING",
           "load_simulated_site", "simulated_site_intro", "simulated_site_frame", "simulated_site_chart", "card_headline"]

#: What a prediction set means, in one line for a clinician.
SET_MEANING = ("A grade set lists every grade the model cannot rule out: on cross-validation the true grade was inside "
               "it for about the chosen share of levels (e.g. 90 %). One grade = the model is sure at that level; "
               "\"MC0 or MC2\" = it is not, read the level yourself.")


@dataclass
class ModelEntry:
    """One shipped model: its card (None when absent or unreadable) and why it could not be read."""

    name: str
    file: str
    weights_present: bool
    card: DetectorCard | ClassifierCard | None = None
    error: str | None = None

    @property
    def present(self) -> bool:
        return self.card is not None


def model_records(folder: str | Path | None = None) -> list[ModelEntry]:
    """The detector's card then one per normalization method (registry order)."""
    folder = Path(folder) if folder else weights_dir()
    names = [("detector", "detector.json", DetectorCard)]
    names += [(f"classifier ({m})", f"classifier_{m}.json", ClassifierCard) for m in NORMALIZATIONS]
    out = []
    for name, fname, cls in names:
        entry = ModelEntry(name, fname, weights_present=(folder / fname.replace(".json", ".pt")).is_file())
        if (folder / fname).is_file():
            try:
                entry.card = cls.load(folder / fname)
            except SchemaError as exc:
                entry.error = str(exc)
        out.append(entry)
    return out


def _scalars(rec: Record) -> str:
    return ", ".join(f"{k}={v}" for k, v in rec.to_dict().items() if not isinstance(v, (dict, list)))


def provenance_rows(card: DetectorCard | ClassifierCard) -> list[tuple[str, str]]:
    """(field, text) of a card's provenance: command, data, training config, weights file and sha256."""
    rows = [("command", card.command), ("data", _scalars(card.data)), ("training config", _scalars(card.config)),
            ("weights", card.weights), ("sha256", card.sha256)]
    if isinstance(card, DetectorCard):
        rows.append(("cross_validation_status", card.cross_validation_status))
    return rows


def classification_rows(report: ClassificationReport) -> list[tuple[str, str]]:
    """Headline scores of a classification report: display texts with CIs, "too few cases" flags."""
    rows: list[tuple[str, str]] = [("number of discs", str(report.n_discs))]
    if report.n_patients is not None:
        rows.append(("number of patients", str(report.n_patients)))
    labels = [("balanced_accuracy", "balanced accuracy"), ("mc0_vs_mc2", "MC0-vs-MC2 balanced accuracy"),
              ("macro_f1", "macro-F1"), ("weighted_f1", "weighted-F1"), ("cohen_kappa", "Cohen's kappa"),
              ("accuracy", "accuracy")]
    for key, label in labels:
        est = getattr(report, key)
        if est is not None and est.display:
            rows.append((label, est.display))
    for cls, pc in report.per_class.items():
        if pc.sensitivity.display:
            rows.append((f"sensitivity {cls} (n={pc.n_true})", pc.sensitivity.display))
    return rows


def detection_rows(cv: DetectionCV) -> list[tuple[str, str]]:
    """Headline rows of the detector's cross-validation at its default threshold."""
    t = f"{cv.default_threshold:g}"
    rows: list[tuple[str, str]] = []
    for seq, r in cv.at_default().items():
        for label, est in (("mean IoU", r.mean_iou), ("discs with IoU >= 0.7", r.recall.get("0.7")),
                           ("recall at IoU 0.5", r.recall.get("0.5")), ("false positives per image", r.fp_per_image),
                           ("level names right", r.level_accuracy)):
            if est is not None and est.display:
                rows.append((f"{seq} slice, threshold {t}: {label}", est.display))
    fp = cv.false_positive_locations_at_default_threshold
    if fp:
        rows.append(("false positives: above the top graded disc / below L5-S1 / within the column",
                     f"{fp.get('above_top_graded_disc')} / {fp.get('below_lowest_graded_disc')} / "
                     f"{fp.get('within_graded_column')} (over {fp.get('images')} images)"))
    return rows


def metrics_rows(card: DetectorCard | ClassifierCard) -> list[tuple[str, str]]:
    """The card's cross-validated metrics as (metric, text) rows; empty when not computed yet."""
    cv: Any = card.cross_validation
    if cv is None:
        return []
    return detection_rows(cv) if isinstance(card, DetectorCard) else classification_rows(cv)


def load_gradcam_audit(folder: str | Path | None = None) -> GradcamAudit | None:
    """``weights/gradcam_audit.json`` (None when absent; SchemaError when of another kind or version)."""
    path = (Path(folder) if folder else weights_dir()) / "gradcam_audit.json"
    return GradcamAudit.load(path) if path.is_file() else None


def gradcam_chart(doc: GradcamAudit, method: str | None = None):
    """Plotly figure: per variant, the mean share of the map mass in the marrow bands, the disc band and outside
    on real MC2 discs (left), and the share of MC2 and MC0 discs whose map is denser in the marrow than in the disc
    (right); patient-bootstrap 95 % CIs as error bars. Every number is read from ``doc``."""
    method = method or doc.rule_method
    variants = [v for v in doc.variants if doc.row(method, v, "MC2") is not None]
    labels = [v + (" ★" if v == doc.chosen else "") for v in variants]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.1,
                        subplot_titles=("Share of the map's mass (real MC2 discs)", "Discs denser in marrow than in disc"))

    def err(ests):
        return dict(type="data", symmetric=False, array=[(e.ci_high or e.value) - e.value for e in ests],
                    arrayminus=[e.value - (e.ci_low or e.value) for e in ests])

    for key, name, colour in (("marrow", "marrow bands", "#E65100"), ("disc", "disc band", "#1565C0"), ("outside", "outside the bands", "#9E9E9E")):
        ests = [getattr(doc.row(method, v, "MC2"), key) for v in variants]
        fig.add_trace(go.Bar(x=labels, y=[e.value for e in ests], name=name, marker_color=colour, error_y=err(ests)), row=1, col=1)
    for group, colour in (("MC2", "#B71C1C"), ("MC0", "#66BB6A")):
        rows = [doc.row(method, v, group) for v in variants]
        ests = [r.marrow_denser for r in rows]
        fig.add_trace(go.Bar(x=labels, y=[e.value for e in ests], name=f"{group} discs (n={rows[0].n_discs})", marker_color=colour,
                             error_y=err(ests)), row=1, col=2)
    area = doc.bands.get("mean_area_share", {})
    if "marrow" in area:
        fig.add_hline(y=float(area["marrow"]), line=dict(color="#E65100", dash="dot", width=1), row=1, col=1,
                      annotation_text="even map: marrow", annotation_position="top left")
    fig.update_yaxes(range=[0, 1], title_text="share", row=1, col=1)
    fig.update_yaxes(range=[0, 1], title_text="share of discs", row=1, col=2)
    fig.update_layout(barmode="group", height=420, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def load_conformal(folder: str | Path | None = None) -> ConformalEvaluation | None:
    """``weights/conformal.json`` (None when absent; SchemaError when of another kind or version)."""
    path = (Path(folder) if folder else weights_dir()) / "conformal.json"
    return ConformalEvaluation.load(path) if path.is_file() else None


def risk_coverage_chart(doc: ConformalEvaluation):
    """Plotly figure: accuracy of the single-grade sets (y) against their share of the MC0/MC2 levels (x), one point
    per target coverage of the chosen score (nested cross-validation), labelled with the target; the app's default
    coverage marked. Every number is read from ``doc``."""
    pts = [p for p in doc.risk_coverage if p.singleton_accuracy is not None]
    fig = go.Figure(go.Scatter(
        x=[p.singleton_share for p in pts], y=[p.singleton_accuracy for p in pts], mode="lines+markers+text",
        text=[f"{100 * p.target:g} %" for p in pts], textposition="top center", name="target coverage",
        hovertemplate="target %{text}<br>single-grade sets %{x:.3f}<br>right %{y:.3f}<extra></extra>"))
    here = [p for p in pts if abs(p.target - doc.coverage) < 1e-9]
    if here:
        fig.add_trace(go.Scatter(x=[here[0].singleton_share], y=[here[0].singleton_accuracy], mode="markers",
                                 marker=dict(size=14, symbol="star", color="#E65100"), name=f"default ({100 * doc.coverage:g} %)"))
    fig.update_xaxes(title_text="share of MC0/MC2 levels with a single grade", range=[0, 1])
    fig.update_yaxes(title_text="accuracy of the single grades", range=[0.5, 1])
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def load_simulated_site(folder: str | Path | None = None) -> SimulatedSite | None:
    """``simulated_site.json`` of the weights folder (None when absent; SchemaError when of another kind or version;
    see :mod:`modic_core.evaluation.site_summary`)."""
    return load_site((Path(folder) if folder else weights_dir()) / SITE_FILE)


def simulated_site_intro(doc: SimulatedSite | Mapping) -> str:
    """One paragraph saying what the simulated site did, its counts read from the document's ``choices``."""
    c = as_site(doc).choices
    site, other = c.n_site, c.n_other
    return (f"A base model trained by the shipped recipe on {c.n_base_training} studies; {site} others imported "
            f"into a label store as a site's reviews ({c.site_locked_studies} of them in its locked part) and "
            f"fine-tuned with `modic-train finetune`; base and fine-tuned judged on the store's locked part and on {other} "
            "other studies no model trained on. 95 % CIs by study bootstrap: with so few studies they are wide.")


def simulated_site_frame(doc: SimulatedSite | Mapping) -> list[dict[str, str]]:
    """The before/after rows of the simulated site (one per version and set of levels), as table records."""
    return [{"fine-tuned on": r.version, "status": r.status, "judged on": r.judged_on, "levels (studies)": r.levels,
             "base MC0-vs-MC2": r.note or r.base, "fine-tuned MC0-vs-MC2": r.new, "difference (95 % CI)": r.difference,
             "sensitivity base -> fine-tuned": r.sensitivities, "3-class bal. acc.": r.three_class,
             "verdict": r.verdict} for r in site_rows(doc)]


def simulated_site_chart(doc: SimulatedSite | Mapping):
    """Plotly figure: MC0-vs-MC2 balanced accuracy of the base and the fine-tuned model with 95 % CIs, one pair of
    points per version and set of levels (locked sets that were too small are left out). Numbers from ``doc``."""
    fig = go.Figure()
    for who, color in (("base", "#607D8B"), ("fine-tuned", "#E65100")):
        xs, ys, lo, hi = [], [], [], []
        for arm in as_site(doc).arms:
            for label, base, new in (("locked part", arm.locked.current if arm.locked.enough else None, arm.locked.new),
                                     ("other studies", arm.other.base, arm.other.new)):
                scores = base if who == "base" else new
                if not isinstance(scores, ModelScores) or scores.mc0_vs_mc2.value is None:  # too few levels
                    continue
                e = scores.mc0_vs_mc2
                xs.append(f"{arm.label}<br>{label}")
                ys.append(e.value)
                lo.append(e.value - (e.ci_low if e.ci_low is not None else e.value))
                hi.append((e.ci_high if e.ci_high is not None else e.value) - e.value)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=who, marker=dict(size=11, color=color),
                                 error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo)))
    fig.update_yaxes(title_text="MC0-vs-MC2 balanced accuracy", range=[0.3, 1])
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.3))
    return fig


def card_headline(folder: str | Path | None = None) -> tuple[str, str] | None:
    """The model card's opening: (plain-language lines, the README's headline figures), both from
    :mod:`modic_core.evaluation.headline` on the installed weights; None while no comparison is installed or
    while one of its documents is unreadable (the card's own sections name that file once)."""
    try:
        docs = load_shipped(folder=Path(folder) if folder else weights_dir(), missing_ok=True)
    except SchemaError:
        return None
    if docs["comparison"] is None:
        return None
    return plain_headline(detector=docs["detector"], comparison=docs["comparison"]), headline(**docs)
