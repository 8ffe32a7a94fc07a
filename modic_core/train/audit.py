"""Two checks on the training data that explain the classifier's ceiling.

    python -m modic_core.train.audit --cohort PATH/TO/spider2d

1. Saturation: share of body (foreground-mask) voxels at the image maximum in each 8-bit series.
2. A hand-made baseline on the same patient-level folds as the CNN: gradient boosting
   (scikit-learn) on mean z-scored T1/T2 intensity in marrow bands next to each endplate
   (6 mm into the vertebra, 3 mm into the box) and in reference bands 10-18 mm away, over the
   central 60 % of the region's width. Reports its MC0-vs-MC2 balanced accuracy.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from modic_core.evaluation.metrics import mc0_vs_mc2_balanced_accuracy
from modic_core.schema import Mc0VsMc2Estimate
from modic_core.normalization.methods import foreground_mask, normalize
from modic_core.train.classifier import default_folds, prepare_cohort

__all__ = ["saturation", "band_features", "baseline", "main"]


def saturation(studies) -> pd.DataFrame:
    rows = []
    for sd in studies:
        for seq, v in (("T1", sd.t1), ("T2", sd.t2)):
            m = foreground_mask(v)
            a = v.array[m]
            rows.append({"study_id": sd.study_id, "sequence": seq, "saturated_share": float((a >= a.max()).mean())})
    return pd.DataFrame(rows)


def band_features(sd) -> list[dict]:
    t1 = normalize(sd.t1, "zscore").array[sd.discs[0].z_center] if sd.discs else None
    t2 = normalize(sd.t2, "zscore").array[sd.discs[0].z_center] if sd.discs else None
    sy = sd.t1.spacing[1]
    out = []
    for d in sd.discs:
        x0, y0, x1, y1 = d.box
        w = x1 - x0
        c0, c1 = int(x0 + 0.2 * w), int(x1 - 0.2 * w)

        def band(a, b, img, c0=c0, c1=c1):
            r0, r1 = int(max(0, a)), int(min(img.shape[0], b))
            v = img[r0:r1, c0:c1]
            return float(v.mean()) if v.size else np.nan

        f = {"study_id": d.study_id, "modic": d.modic}
        for name, img in (("t1", t1), ("t2", t2)):
            up, lo = band(y0 - 6 / sy, y0 + 3 / sy, img), band(y1 - 3 / sy, y1 + 6 / sy, img)
            ru, rl = band(y0 - 18 / sy, y0 - 10 / sy, img), band(y1 + 10 / sy, y1 + 18 / sy, img)
            f.update({f"{name}_up": up, f"{name}_lo": lo, f"{name}_ref_up": ru, f"{name}_ref_lo": rl,
                      f"{name}_d_up": up - ru, f"{name}_d_lo": lo - rl})
        out.append(f)
    return out


def baseline(studies, folds) -> Mc0VsMc2Estimate:
    df = pd.DataFrame([r for sd in studies for r in band_features(sd)])
    X, y = df.drop(columns=["study_id", "modic"]).to_numpy(), df["modic"].to_numpy()
    proba = np.zeros((len(df), 3))
    for f in folds:
        te = df["study_id"].isin(f).to_numpy()
        m = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, class_weight="balanced", random_state=0)
        m.fit(X[~te], y[~te])
        proba[np.ix_(te, m.classes_)] = m.predict_proba(X[te])
    return mc0_vs_mc2_balanced_accuracy(y, proba=proba)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="cohort folder (studies.csv + levels.csv) or a SPIDER release root")
    ap.add_argument("--runs", default="runs/classifier")
    args = ap.parse_args(argv)
    studies, _ = prepare_cohort(args.cohort, cache_path=Path(args.runs) / "detector_boxes.json")
    sat = saturation(studies)
    s = sat["saturated_share"]
    print(f"saturated body voxels per series: median {s.median():.1%}, max {s.max():.1%}, "
          f"series with > 5 %: {(s > 0.05).sum()} of {len(s)}")
    b = baseline(studies, default_folds(studies, seed=0))
    print(f"band-intensity baseline, MC0-vs-MC2 balanced accuracy (same folds as the CNN): {b.value:.3f} "
          f"(MC0 n={b.n_mc0}, MC2 n={b.n_mc2})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
