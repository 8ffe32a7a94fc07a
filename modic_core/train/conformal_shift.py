"""Prediction sets under scanner shift: train and calibrate on one group, test on the others.

    python -m modic_core.train.conformal_shift --cohort PATH/TO/spider2d --intensity-aug 0.5

For each grouping (scanner maker, field strength) and each group ``g`` as the *source*: the source's
patients are split into a training part (two thirds) and a calibration part (one third; the first of
three patient-level folds of :func:`~modic_core.train.classifier.default_folds`, seeded); one
classifier is trained on the training part with the shipped config (z-score, the comparison's seed);
its raw logits are written for the calibration part, for every disc of the other groups (the
*target*, never seen in training or calibration) and for synthetic MC1 lesions painted into the
calibration part's MC0 crops. Written to ``weights/conformal_shift_predictions.csv`` (one row per
disc and direction; small), which ``python -m modic_core.train.conformal`` scores. Resumable: finished
directions are read back from ``runs/conformal_shift/``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from modic_core.train.classifier import (
    LOGIT_COLUMNS,
    NormCache,
    add_config_args,
    build_crops,
    config_from_args,
    crop_spec,
    default_folds,
    field_strength_group,
    predict_logits,
    prepare_cohort,
    scanner_group,
    synthetic_mc1_eval,
    train_model,
)
from modic_core.train.common import set_threads

from modic_core import settings
from modic_core.logs import configure_logging, get_logger

__all__ = ["GROUPINGS", "main", "shift_predictions"]

LOGGER = get_logger(__name__)

#: grouping name -> the study's group
GROUPINGS = {
    "manufacturer": lambda sd: scanner_group(sd.manufacturer),
    "field_strength": lambda sd: field_strength_group(sd.field_strength_t),
}
SHIFT_FILE = "conformal_shift_predictions.csv"


def _rows(items, logits: np.ndarray, *, grouping: str, source: str, role: str) -> pd.DataFrame:
    rows = [{"grouping": grouping, "source": source, "role": role, "study_id": d.study_id, "level": d.level, "modic": d.modic,
             "group": GROUPINGS[grouping](sd)} for sd, _, _ in items for d in sd.discs]
    df = pd.DataFrame(rows)
    for j, c in enumerate(LOGIT_COLUMNS):
        df[c] = np.round(logits[:, j], 5) if len(df) else []
    return df


def shift_predictions(studies, *, grouping: str, source: str, cfg, seed: int, out_dir: Path, cache: NormCache,
                      method: str = "zscore") -> pd.DataFrame:
    """The rows of one direction (calibration, target and synthetic-MC1 rows); read back when already written."""
    path = out_dir / f"{grouping}_{source.replace(' ', '')}.csv"
    if path.exists():
        return pd.read_csv(path, dtype={"study_id": str})
    group_of = GROUPINGS[grouping]
    src = [s for s in studies if group_of(s) == source]
    tgt = [s for s in studies if group_of(s) != source]
    cal_ids = set(default_folds(src, n_folds=3, seed=seed)[0])
    train_s = [s for s in src if s.study_id not in cal_ids]
    cal_s = [s for s in src if s.study_id in cal_ids]
    spec = crop_spec(cfg)
    tr, ca, te = (build_crops(x, method, None, spec, cache) for x in (train_s, cal_s, tgt))
    model = train_model(tr, cfg=cfg, seed=seed, desc=f"{grouping} {source}", method=method, landmarks=None)
    model.eval()
    with torch.inference_mode():
        frames = [_rows(ca, predict_logits(model, ca, spec), grouping=grouping, source=source, role="calibration"),
                  _rows(te, predict_logits(model, te, spec), grouping=grouping, source=source, role="target")]
    syn = synthetic_mc1_eval(model, ca, spec, seed=seed)
    s = pd.DataFrame({"grouping": grouping, "source": source, "role": "synthetic_mc1", "study_id": "", "level": "", "modic": 1,
                      "group": source}, index=range(len(syn)))
    logp = np.log(np.clip(syn, 1e-12, 1.0))  # probabilities -> log-probabilities (softmax of these gives them back)
    for j, c in enumerate(LOGIT_COLUMNS):
        s[c] = np.round(logp[:, j], 5)
    df = pd.concat(frames + [s], ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return df


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--groupings", default="manufacturer,field_strength")
    ap.add_argument("--out-dir", default="runs/conformal_shift")
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    set_threads()
    cfg = config_from_args(args)
    studies, _ = prepare_cohort(args.cohort, use_detector=True, cache_path=Path(args.runs) / "detector_boxes.json")
    cache = NormCache()
    frames = []
    t0 = time.time()
    for grouping in [g for g in args.groupings.split(",") if g]:
        groups = sorted({GROUPINGS[grouping](s) for s in studies})
        for g in groups:
            frames.append(shift_predictions(studies, grouping=grouping, source=g, cfg=cfg, seed=cfg.seed,
                                            out_dir=Path(args.out_dir), cache=cache))
            LOGGER.info("%s %s: done (%.1f min)", grouping, g, (time.time() - t0) / 60)
    out = Path(args.weights) / SHIFT_FILE
    df = pd.concat(frames, ignore_index=True)
    df.attrs["command"] = "python -m modic_core.train.conformal_shift " + " ".join(argv)
    df.to_csv(out, index=False)
    print(f"wrote {out} ({len(df)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
