"""The README's headline figures, as Markdown bullets read from the shipped JSON files
(``python -m modic_core.evaluation.headline``). The README quotes this output verbatim and
``tests/evaluation/test_headline.py`` fails when it drifts; the full tables are in ``docs/``
(``python -m modic_core.evaluation.summary``)."""
from __future__ import annotations

from modic_core.evaluation.method_choice import choose_default
from modic_core.schema import ConformalEvaluation, DetectorCard, Estimate, NormalizationComparison
from modic_core.settings import project_root

__all__ = ["headline", "load_shipped", "main"]


def _pct(e: Estimate | None) -> str:
    """A share in [0, 1] as a percentage with one decimal ("n/a" when not measured)."""
    return "n/a" if e is None or e.value is None else f"{100 * e.value:.1f} %"


def _both(rows: dict, get) -> str:
    """The same figure for each image type ("T1 / T2" order of the card), e.g. "96.3 % / 96.8 %"."""
    return " / ".join(_pct(get(r)) for r in rows.values())


def headline(*, detector: DetectorCard, comparison: NormalizationComparison, conformal: ConformalEvaluation) -> str:
    """Four Markdown bullets, one per line: detection, grading, MC1 and the prediction sets, each figure
    cross-validated at patient level as stored in the card / comparison / conformal documents."""
    lines = []
    cv = detector.cross_validation
    if cv:
        rows = cv.at_default()
        lines.append(f"- **Detection** ({len(detector.folds)}-fold patient-level CV, {detector.data.n_studies} boxed studies, "
                     f"{' / '.join(rows)}): {_both(rows, lambda r: r.recall.get('0.5'))} of discs found, "
                     f"{_both(rows, lambda r: r.recall.get('0.7'))} boxed tightly (IoU >= 0.7), level names right "
                     f"{_both(rows, lambda r: r.level_accuracy)}.")
    choice = choose_default(comparison)
    scores = {name: e.metrics.mc0_vs_mc2.value for name, e in comparison.methods.items()
              if e.metrics.mc0_vs_mc2 is not None and e.metrics.mc0_vs_mc2.value is not None}
    default = comparison.methods[choice.method].metrics.mc0_vs_mc2
    lines.append(f"- **Grading** (5-fold patient-level CV, {comparison.n_discs} discs of {comparison.n_patients} patients): "
                 f"MC0-vs-MC2 balanced accuracy {default.display} with the default {choice.method}, "
                 f"{min(scores.values()):.3f}-{max(scores.values()):.3f} over the {len(scores)} normalizations; "
                 "far from the 0.80 we aimed for.")
    mc1 = comparison.methods[choice.method].metrics.sensitivity("MC1")
    lines.append(f"- **MC1 cannot be measured**: {comparison.class_counts.get('MC1', 0)} real MC1 discs "
                 f"(\"{mc1.display if mc1 else 'n/a'}\"); the model learned MC1 from synthetic lesions.")
    m = conformal.scores[conformal.chosen_score]
    lines.append(f"- **Prediction sets** ({100 * conformal.coverage:g} % target): coverage {m.coverage.display}; "
                 f"{_pct(m.singleton_share)} of levels get a single grade, right {_pct(m.singleton_accuracy)} of the time; "
                 "the others name several grades: read those levels yourself.")
    return "\n".join(lines)


def load_shipped() -> dict:
    """The three shipped documents :func:`headline` reads, keyed by its argument names."""
    weights = project_root() / "weights"
    return {"detector": DetectorCard.load(weights / "detector.json"),
            "comparison": NormalizationComparison.load(weights / "normalization_comparison.json"),
            "conformal": ConformalEvaluation.load(weights / "conformal.json")}


def main() -> int:
    print(headline(**load_shipped()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
