"""The simulated site's before/after figures (``weights/simulated_site.json``, written by
``python -m modic_core.train.simulated_site``) as table rows: what docs/labels.md quotes and the model card shows.

    python -m modic_core.evaluation.site_summary      # prints the markdown table docs/labels.md quotes

Each row is one fine-tuned version judged on one set of levels ("locked part" of the site's store, or the
"other studies" no model trained on): the MC0-vs-MC2 balanced accuracy of the base and of the fine-tuned model
(95 % study-bootstrap CIs), their paired difference (fine-tuned - base, 95 % CI), MC0 and MC2 sensitivities, and
the verdict ("helped" / "hurt" only when the difference's CI excludes 0).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from modic_core import settings

__all__ = ["SITE_FILE", "SiteRow", "estimate_text", "load_site", "site_rows", "site_table", "main"]

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


def load_site(path: Path | None = None) -> dict | None:
    """The JSON at ``path`` (default: ``simulated_site.json`` in the weights folder), or None when absent or unreadable."""
    path = Path(path) if path else settings.weights_dir() / SITE_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") == "simulated_site" else None


def estimate_text(e: dict) -> str:
    """"0.712 (95% CI 0.61-0.80)" from an Estimate's dict; the class counts added when the metrics module flags
    them as too few (fewer than 10 of MC0 or MC2), since the number is then shown but unstable."""
    if e.get("value") is None:
        return "n/a"
    ci = "" if e.get("ci_low") is None else f" (95% CI {e['ci_low']:.2f}-{e['ci_high']:.2f})"
    few = f", few cases: MC0 n={e.get('n_mc0')}, MC2 n={e.get('n_mc2')}" if e.get("too_few") else ""
    return f"{e['value']:.3f}{ci}{few}"


def _diff(d: dict | None) -> str:
    if not d or d.get("diff") is None:
        return "-"
    ci = "" if d.get("ci_low") is None else f" ({d['ci_low']:+.3f} to {d['ci_high']:+.3f})"
    return f"{d['diff']:+.3f}{ci}"


def _sens(base: dict, new: dict) -> str:
    def v(rep: dict, c: str) -> str:
        s = rep["sensitivity"][c]
        return "n/a" if s.get("value") is None else f"{s['value']:.2f}"
    return "; ".join(f"{c} {v(base, c)} -> {v(new, c)}" for c in ("MC0", "MC2"))


def _three(base: dict, new: dict, paired: dict | None) -> str:
    b, n = base["balanced_accuracy"].get("value"), new["balanced_accuracy"].get("value")
    if b is None or n is None:
        return "n/a"
    mc1 = base["sensitivity"]["MC1"].get("n") or 0
    few = f"; MC1 n={mc1}: unstable" if 0 < mc1 < 10 else ""
    return f"{b:.3f} -> {n:.3f}, {_diff(paired)}{few}"


def site_rows(doc: dict) -> list[SiteRow]:
    """Two rows per fine-tuned version (locked part, other studies), in the JSON's order."""
    rows = []
    for arm in doc.get("arms", []):
        for key, label, base_key, paired_key, verdict_key in (
                ("locked", "locked part of the site", "current", "paired_new_minus_current", "verdict_locked"),
                ("other", "other studies", "base", "paired_new_minus_base", "verdict_other")):
            ev = arm[key]
            levels = f"{ev['n_levels']} ({ev['n_studies']})"
            if key == "locked" and not ev.get("enough", True):
                rows.append(SiteRow(arm["label"], arm["status"], label, levels, "-", "-", "-", "-", "-", "-", note=ev["reason"]))
                continue
            b, n = ev[base_key], ev["new"]
            rows.append(SiteRow(arm["label"], arm["status"], label, levels, estimate_text(b["mc0_vs_mc2"]),
                                estimate_text(n["mc0_vs_mc2"]), _diff(ev[paired_key].get("mc0_vs_mc2_balanced_accuracy")),
                                _sens(b, n), _three(b, n, ev[paired_key].get("balanced_accuracy")), arm[verdict_key]))
    return rows


def site_table(doc: dict) -> str:
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
    doc = load_site()
    print(site_table(doc) if doc else "(weights/simulated_site.json not available yet)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
