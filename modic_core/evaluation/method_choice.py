"""The default normalization method, by a rule fixed before the comparison was run.

z-score standardization (the finding of Cina et al. 2024) is the default. Another method replaces it
only when it is better on the MC0-vs-MC2 balanced accuracy with a paired patient-bootstrap 95 % CI
of the difference (method minus z-score) that excludes zero; among several such methods the one with
the largest point difference wins. Only then is a method "best" (starred in the app); otherwise the
methods do not differ on this data. A point estimate alone never changes the default.
"""
from __future__ import annotations

from dataclasses import dataclass

from modic_core.schema import NormalizationComparison

__all__ = ["DEFAULT_RULE", "PAIRED_METRIC", "REFERENCE", "MethodChoice", "choose_default"]

REFERENCE = "zscore"
PAIRED_METRIC = "mc0_vs_mc2_balanced_accuracy"
DEFAULT_RULE = (
    "Fixed in advance: z-score standardization is the default unless another method is better on the MC0-vs-MC2 "
    "balanced accuracy with a paired patient-bootstrap 95 % CI of the difference excluding zero (lower bound > 0); "
    "among such methods the largest difference wins."
)


@dataclass(frozen=True)
class MethodChoice:
    """``method``: the default; ``differs``: True when it beat the reference by the rule (the star);
    ``reason``: one sentence for the page."""

    method: str
    differs: bool
    reason: str


def choose_default(comparison: NormalizationComparison, *, reference: str = REFERENCE) -> MethodChoice:
    """Apply :data:`DEFAULT_RULE` to the paired differences stored in a comparison document."""
    winners = []
    for name, entry in comparison.methods.items():
        if name == reference:
            continue
        p = (entry.paired or {}).get(PAIRED_METRIC)
        if p is not None and p.diff is not None and p.ci_low is not None and p.ci_low > 0:
            winners.append((float(p.diff), name, p))
    if winners:
        diff, name, p = max(winners)
        return MethodChoice(name, True, f"{name} is better than {reference} on MC0-vs-MC2 balanced accuracy: "
                                        f"{diff:+.3f} (95% CI {p.ci_low:+.3f} to {p.ci_high:+.3f}).")
    return MethodChoice(reference, False, "The methods do not differ on this data: no method beats z-score on "
                                          "MC0-vs-MC2 balanced accuracy with a 95% CI of the paired difference "
                                          "excluding zero, so z-score standardization stays the default.")
