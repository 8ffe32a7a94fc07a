"""Recalibrate the prediction sets on a site's own labelled studies (a new scanner maker, field strength or protocol).

    python -m modic_core.train.site_calibration --cohort SITE_COHORT --out site_weights
    MODIC_WEIGHTS_DIR=site_weights make run

Why: the shift tests (``weights/conformal.json``, README "Prediction sets") show that sets calibrated on one scanner
group can lose their coverage on another (0.61 instead of 0.90 in the worst direction), and that replacing the MC0/MC2
calibration with 15-30 labelled patients of the new group brings the mean coverage back to 0.90. This command does that
replacement for the shipped model: it analyses every study of ``SITE_COHORT`` (the project's cohort format:
``studies.csv`` + ``levels.csv``; :mod:`modic_core.datasets.cohort`) with the installed weights, exactly as the app
does (detector, level names, normalization, temperature), takes the graded levels whose name has an MC0 or MC2 label,
and writes a copy of the weights folder to ``--out`` whose classifier card holds those levels' scores as the MC0/MC2
calibration (MC1 keeps the shipped synthetic-lesion calibration: a site rarely has enough real MC1). The classifier
weights themselves are unchanged (same sha256). The sets are then valid for studies *like the site's*, on average
over them; measure them on *other* labelled studies (``modic-evaluate`` reports the sets' coverage): measured on the
calibration studies themselves the coverage is in-sample.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from modic_core import settings
from modic_core.analysis import analyze
from modic_core.analysis.report import CLASS_NAMES
from modic_core.classification.conformal import nonconformity, quantiles
from modic_core.datasets.cohort import iter_cohort
from modic_core.errors import InputError
from modic_core.schema import ClassifierCard

from modic_core.logs import configure_logging, get_logger

__all__ = ["site_scores", "write_site_weights", "main"]

LOGGER = get_logger(__name__)

#: Fewest labelled MC0 and MC2 levels each for a site calibration (a 90 % quantile needs at least 9; 20 keeps it stable).
MIN_PER_GRADE = 20


def site_scores(cohort: str | Path, *, normalization: str, threshold: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Calibrated probabilities (N, 3), true grades (N,) and study ids of the cohort's graded MC0/MC2 levels, as the
    installed model reads them (levels matched by name; unreadable studies skipped with a line on stderr)."""
    probs, ys, ids = [], [], []
    for cs in iter_cohort(cohort):
        labels = {lv.level: lv.modic for lv in cs.levels if lv.modic in (0, 2)}
        if not labels:
            continue
        try:
            report = analyze(cs.load(), normalization, threshold, gradcam=False)
        except (InputError, OSError) as exc:
            LOGGER.warning("study %s: skipped (%s)", cs.study_id, exc)
            continue
        for lv in report.levels:
            if lv.graded and lv.level in labels:
                probs.append([lv.probabilities[c] for c in CLASS_NAMES])
                ys.append(labels[lv.level])
                ids.append(cs.study_id)
    return np.asarray(probs, dtype=np.float64).reshape(-1, 3), np.asarray(ys, dtype=int), ids


def write_site_weights(probs: np.ndarray, y: np.ndarray, ids: list[str], *, weights: Path, out: Path, normalization: str,
                       source: str, min_per_grade: int = MIN_PER_GRADE) -> ClassifierCard:
    """Copy ``weights`` to ``out`` with the card's MC0/MC2 calibration scores replaced by the site's (same score as the
    shipped record). Refuses (InputError) too few levels of a grade, a card without sets, or ``out`` = ``weights``."""
    weights, out = Path(weights), Path(out)
    if out.resolve() == weights.resolve():
        raise InputError("--out must be a new folder: the shipped weights are never overwritten.")
    counts = {c: int((y == j).sum()) for j, c in enumerate(CLASS_NAMES) if c != "MC1"}
    short = [f"{c}: {n}" for c, n in counts.items() if n < min_per_grade]
    if short:
        raise InputError(f"Too few labelled levels for a site calibration ({', '.join(short)}; at least {min_per_grade} "
                         "of each of MC0 and MC2 are needed, e.g. 15-30 patients).")
    card_name = f"classifier_{normalization}.json"
    card = ClassifierCard.load(weights / card_name)
    if card.conformal is None:
        raise InputError(f"{card_name} has no prediction-set calibration to replace.")
    scores = nonconformity(probs, card.conformal.score)[np.arange(len(y)), y]
    if out.exists():
        raise InputError(f"{out} exists: give a new folder.")
    shutil.copytree(weights, out)
    rec = card.conformal
    rec.calibration_scores = {**rec.calibration_scores,
                              **{c: np.round(scores[y == j], 6).tolist() for j, c in enumerate(CLASS_NAMES) if c != "MC1"}}
    rec.fitted_on = (f"site calibration: MC0/MC2 from {len(y)} labelled levels of {len(set(ids))} studies ({source}); "
                     f"MC1 as shipped ({rec.fitted_on})")
    rec.makers, rec.field_strengths = [], []  # the site's scanners are what it was calibrated on: no scope warning
    rec.quantiles = quantiles(rec.calibration_scores, rec.coverage)
    card.conformal = rec
    card.save(out / card_name)
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="the site's labelled studies (studies.csv + levels.csv)")
    ap.add_argument("--out", required=True, help="new folder for the recalibrated copy of the weights")
    ap.add_argument("--normalization", default=None)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--min-per-grade", type=int, default=MIN_PER_GRADE)
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    normalization = args.normalization or settings.default_normalization()
    threshold = settings.default_threshold() if args.threshold is None else args.threshold
    weights = settings.weights_dir()  # the installed weights (MODIC_WEIGHTS_DIR): the ones the analysis runs
    try:
        probs, y, ids = site_scores(args.cohort, normalization=normalization, threshold=threshold)
        write_site_weights(probs, y, ids, weights=weights, out=Path(args.out), normalization=normalization,
                           source=Path(args.cohort).name, min_per_grade=args.min_per_grade)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: MC0/MC2 prediction-set calibration from {len(y)} levels of {len(set(ids))} studies. "
          f"Use it with MODIC_WEIGHTS_DIR={args.out}; measure the sets on other labelled studies (modic-evaluate).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
