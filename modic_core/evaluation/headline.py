"""The README's headline figures, as Markdown bullets read from the shipped JSON files
(``python -m modic_core.evaluation.headline``). The README quotes this output verbatim and
``tests/evaluation/test_headline.py`` fails when it drifts; the full tables are in ``docs/``
(``python -m modic_core.evaluation.summary``)."""
from __future__ import annotations

from pathlib import Path

from modic_core.evaluation.method_choice import choose_default
from modic_core.schema import ConformalEvaluation, DetectorCard, Estimate, NormalizationComparison
from modic_core.settings import project_root

__all__ = ["headline", "load_shipped", "main", "plain_headline"]


def _pct(e: Estimate | None) -> str:
    """A share in [0, 1] as a percentage with one decimal ("n/a" when not measured)."""
    return "n/a" if e is None or e.value is None else f"{100 * e.value:.1f} %"


def _both(rows: dict, get) -> str:
    """The same figure for each image type ("T1 / T2" order of the card), e.g. "96.3 % / 96.8 %"."""
    return " / ".join(_pct(get(r)) for r in rows.values())


def headline(*, detector: DetectorCard | None, comparison: NormalizationComparison,
             conformal: ConformalEvaluation | None) -> str:
    """Four Markdown bullets, one per line: detection, grading, MC1 and the prediction sets, each figure
    cross-validated at patient level as stored in the card / comparison / conformal documents (a document
    that is None, not installed, leaves its bullet out)."""
    lines = []
    cv = detector.cross_validation if detector is not None else None
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
    if conformal is None:
        return "\n".join(lines)
    m = conformal.scores[conformal.chosen_score]
    lines.append(f"- **Prediction sets** ({100 * conformal.coverage:g} % target): coverage {m.coverage.display}; "
                 f"{_pct(m.singleton_share)} of levels get a single grade, right {_pct(m.singleton_accuracy)} of the time; "
                 "the others name several grades: read those levels yourself.")
    return "\n".join(lines)


def _in_ten(share: float) -> int:
    """A share in [0, 1] as "about N in 10" (rounded half up)."""
    return int(share * 10 + 0.5)


def plain_headline(*, detector: DetectorCard | None, comparison: NormalizationComparison) -> str:
    """Three plain-language Markdown lines for a clinician, read from the same documents as :func:`headline`:
    what the model finds, how often it is wrong (the default method's cross-validated per-grade sensitivity,
    the detector's missed discs when its card is given) and on what data."""
    choice = choose_default(comparison)
    metrics = comparison.methods[choice.method].metrics
    mc2, mc0, mc1 = metrics.sensitivity("MC2"), metrics.sensitivity("MC0"), metrics.sensitivity("MC1")
    wrong = []
    if mc2 is not None and mc2.value is not None:
        wrong.append(f"of levels that had MC2 it missed about {_in_ten(1 - mc2.value)} in 10")
    if mc0 is not None and mc0.value is not None:
        wrong.append(f"of levels without a Modic change it wrongly called about {_in_ten(1 - mc0.value)} in 10 MC1 or MC2")
    missed = ""
    cv = detector.cross_validation if detector is not None else None
    if cv:
        recalls = [r.recall.get("0.5") for r in cv.at_default().values()]
        found = [e.value for e in recalls if e is not None and e.value is not None]
        if found:
            missed = (f" The disc finder missed about {round(100 * (1 - min(found)))} in 100 discs (on "
                      f"{detector.data.n_studies} studies with hand-drawn disc boxes).")
    n_mc1 = comparison.class_counts.get("MC1", 0)
    mc1_text = (f" MC1 was too rare to measure ({n_mc1} real MC1 levels)." if mc1 is None or mc1.too_few or mc1.value is None
                else "")
    return "\n".join([
        "- **What it finds:** the discs of a paired sagittal T1/T2 lumbar MRI and, at each, whether the marrow beside "
        "it shows a Modic change (MC0: none, MC1, MC2).",
        f"- **How often it is wrong:** on cross-validation, {'; '.join(wrong) or 'not measured yet'}.{mc1_text}{missed}",
        f"- **On what data:** {comparison.n_discs} discs of {comparison.n_patients} patients from one public dataset, "
        f"tested by {f'{len(comparison.folds)}-fold ' if comparison.folds else ''}cross-validation split by patient; "
        "never tested on another hospital's scans.",
    ])


def load_shipped(*, folder: Path | None = None, missing_ok: bool = False) -> dict:
    """The three shipped documents :func:`headline` reads, keyed by its argument names, from ``folder``
    (default: the checkout's ``weights/``); with ``missing_ok`` an absent file gives None."""
    weights = Path(folder) if folder else project_root() / "weights"
    files = {"detector": (DetectorCard, "detector.json"), "comparison": (NormalizationComparison, "normalization_comparison.json"),
             "conformal": (ConformalEvaluation, "conformal.json")}
    return {key: None if missing_ok and not (weights / name).is_file() else cls.load(weights / name)
            for key, (cls, name) in files.items()}


def main() -> int:
    print(headline(**load_shipped()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
