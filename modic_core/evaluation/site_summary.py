"""The simulated site's before/after figures (``weights/simulated_site.json``, written by
``python -m modic_core.train.simulated_site``) as table rows: what docs/labels.md quotes and the model card shows.

    python -m modic_core.evaluation.site_summary      # prints the markdown table docs/labels.md quotes

Each row is one fine-tuned version judged on one set of levels ("locked part" of the site's store, or the
"other studies" no model trained on): the MC0-vs-MC2 balanced accuracy of the base and of the fine-tuned model
(95 % study-bootstrap CIs), their paired difference (fine-tuned - base, 95 % CI), MC0 and MC2 sensitivities, and
the verdict ("helped" / "hurt" only when the difference's CI excludes 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from modic_core import settings
from modic_core.schema import ModelScores, NoScores, PairedDiff, SchemaError, SimulatedSite, SiteArm

__all__ = ["SITE_FILE", "SiteRow", "as_site", "estimate_text", "load_site", "site_rows", "site_table", "main"]

#: The simulated site's JSON in the weights folder.
SITE_FILE = "simulated_site.json"


@dataclass(frozen=True)
class SiteRow:
    """One version on one set of levels; ``note`` replaces the numbers when there are none (too few levels)."""

    version: str
    status: str
    judged_on: str
    levels: str
    base: str
    new: str
    difference: str
    sensitivities: str
    three_class: str
    verdict: str
    note: str = ""


def load_site(path: Path | None = None) -> SimulatedSite | None:
    """The document at ``path`` (default: ``simulated_site.json`` in the weights folder), or None when absent.

    SchemaError (one sentence, shown by the dashboard) when it is not a readable ``simulated_site`` document of
    the supported version."""
    path = Path(path) if path else settings.weights_dir() / SITE_FILE
    return SimulatedSite.load(path) if path.is_file() else None


def as_site(doc: SimulatedSite | Mapping) -> SimulatedSite:
    """``doc`` as the typed record (a parsed JSON object is validated, SchemaError when it is not one)."""
    return doc if isinstance(doc, SimulatedSite) else SimulatedSite.from_dict(doc)


def estimate_text(e: dict) -> str:
    """"0.712 (95% CI 0.61-0.80)" from an Estimate's dict; the class counts added when the metrics module flags
    them as too few (fewer than 10 of MC0 or MC2), since the number is then shown but unstable."""
    if e.get("value") is None:
        return "n/a"
    ci = "" if e.get("ci_low") is None else f" (95% CI {e['ci_low']:.2f}-{e['ci_high']:.2f})"
    few = f", few cases: MC0 n={e.get('n_mc0')}, MC2 n={e.get('n_mc2')}" if e.get("too_few") else ""
    return f"{e['value']:.3f}{ci}{few}"


def _diff(d: PairedDiff | None) -> str:
    if d is None or d.diff is None:
        return "-"
    ci = "" if d.ci_low is None or d.ci_high is None else f" ({d.ci_low:+.3f} to {d.ci_high:+.3f})"
    return f"{d.diff:+.3f}{ci}"


def _sens(base: ModelScores, new: ModelScores) -> str:
    def v(rep: ModelScores, c: str) -> str:
        s = rep.sensitivity[c]
        return "n/a" if s.value is None else f"{s.value:.2f}"
    return "; ".join(f"{c} {v(base, c)} -> {v(new, c)}" for c in ("MC0", "MC2"))


def _three(base: ModelScores, new: ModelScores, paired: PairedDiff | None) -> str:
    b, n = base.balanced_accuracy.value, new.balanced_accuracy.value
    if b is None or n is None:
        return "n/a"
    mc1_sens = base.sensitivity.get("MC1")
    mc1 = (mc1_sens.n if mc1_sens is not None else None) or 0
    few = f"; MC1 n={mc1}: unstable" if 0 < mc1 < 10 else ""
    return f"{b:.3f} -> {n:.3f}, {_diff(paired)}{few}"


def _row(arm: SiteArm, judged_on: str, n_levels: int, n_studies: int, base: ModelScores | NoScores | None,
         new: ModelScores | NoScores | None, paired: Mapping[str, PairedDiff] | None, verdict: str, *,
         reason: str) -> SiteRow:
    levels = f"{n_levels} ({n_studies})"
    if not isinstance(base, ModelScores) or not isinstance(new, ModelScores):  # too few levels to tell
        return SiteRow(arm.label, arm.status, judged_on, levels, "-", "-", "-", "-", "-", "-", note=reason)
    paired = paired or {}
    return SiteRow(arm.label, arm.status, judged_on, levels, estimate_text(base.mc0_vs_mc2.to_dict()),
                   estimate_text(new.mc0_vs_mc2.to_dict()), _diff(paired.get("mc0_vs_mc2_balanced_accuracy")),
                   _sens(base, new), _three(base, new, paired.get("balanced_accuracy")), verdict)


def site_rows(doc: SimulatedSite | Mapping) -> list[SiteRow]:
    """Two rows per fine-tuned version (locked part, other studies), in the document's order; a set too small to
    tell gets its reason as ``note`` instead of numbers."""
    rows = []
    for arm in as_site(doc).arms:
        loc, oth = arm.locked, arm.other
        rows.append(_row(arm, "locked part of the site", loc.n_levels, loc.n_studies,
                         loc.current if loc.enough else None, loc.new, loc.paired_new_minus_current,
                         arm.verdict_locked, reason=loc.reason or "the locked part was too small to tell"))
        rows.append(_row(arm, "other studies", oth.n_levels, oth.n_studies, oth.base, oth.new,
                         oth.paired_new_minus_base, arm.verdict_other, reason="too few levels to tell"))
    return rows


def site_table(doc: SimulatedSite | Mapping) -> str:
    """The markdown table of :func:`site_rows`."""
    lines = ["| fine-tuned on | status | judged on | levels (studies) | MC0-vs-MC2 bal. acc., base | fine-tuned | "
             "difference (95 % CI) | sensitivity base -> fine-tuned | 3-class bal. acc. base -> fine-tuned, difference | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in site_rows(doc):
        if r.note:
            lines.append(f"| {r.version} | {r.status} | {r.judged_on} | {r.levels} | {r.note} | | | | | |")
        else:
            lines.append(f"| {r.version} | {r.status} | {r.judged_on} | {r.levels} | {r.base} | {r.new} | {r.difference} | "
                         f"{r.sensitivities} | {r.three_class} | {r.verdict} |")
    return "\n".join(lines)


def main() -> int:
    try:
        doc = load_site()
    except SchemaError as exc:
        print(exc)
        return 2
    print(site_table(doc) if doc else "(weights/simulated_site.json not available yet)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
