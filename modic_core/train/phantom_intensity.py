"""Why is the synthetic phantom's normal marrow graded MC2? Band intensities of real and phantom discs.

    python -m modic_core.train.phantom_intensity --cohort PATH/TO/spider2d

For every disc, the crop the classifier sees (z-score normalized T1 and T2, the shipped CropSpec, the
disc's box, the box's centre slice) is split into the disc band and the two marrow bands of
:func:`modic_core.classification.bands.band_masks`; per disc and channel it records the median
z-score in the marrow bands and in the disc band, and the raw (before normalization) marrow/disc ratio
of the medians, which no global intensity scale changes. Printed: the median over discs of each
quantity (with the 25th-75th percentiles) for real SPIDER MC0 and MC2 discs and for the phantom's
normal, MC1 and MC2 levels (the shipped demo phantom and ``--phantoms`` seeded single-slice phantoms
like spider2d), the shipped z-score model's mean probabilities and calls per group (before temperature),
and where each phantom group's median T1 marrow z-score falls among the real MC0 and MC2 discs.
``--signal marrow=470,380`` (repeatable) regenerates the phantoms with a tissue's baseline (T1, T2)
signal changed (a what-if probe; the shipped generator is not changed). Nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from modic_core.train.common import set_threads
from modic_core.classification.bands import band_masks
from modic_core.classification.crops import extract_crops
from modic_core.classification.infer import load_classifier
from modic_core.datasets import synthetic
from modic_core.datasets.demo import PHANTOM_PARAMS
from modic_core.datasets.synthetic import make_phantom, make_phantom_2d
from modic_core.normalization.methods import normalize
from modic_core.train.classifier import prepare_cohort
from modic_core.volume import Volume

__all__ = ["band_stats", "main"]


def band_stats(t1_raw: np.ndarray, t2_raw: np.ndarray, boxes, z_centers, spacing_yx, spec) -> tuple[list[dict], torch.Tensor]:
    """Per disc: median z-scores in the marrow and disc bands (T1, T2) and raw marrow/disc ratios; and the z-scored crops."""
    out = []
    z1 = normalize(Volume(t1_raw, (1.0, *spacing_yx)), "zscore").array
    z2 = normalize(Volume(t2_raw, (1.0, *spacing_yx)), "zscore").array
    zc = extract_crops(z1, z2, boxes, z_centers, spacing_yx, spec)
    rc = extract_crops(t1_raw.astype(np.float32), t2_raw.astype(np.float32), boxes, z_centers, spacing_yx, spec)
    for i, box in enumerate(np.asarray(boxes, float).reshape(-1, 4)):
        b = band_masks(tuple(box), spacing_yx, spec)
        row = {}
        for c, seq in enumerate(("t1", "t2")):
            z = zc[i, c, spec.depth // 2].numpy()
            r = rc[i, c, spec.depth // 2].numpy()
            row[f"{seq}_marrow_z"] = float(np.median(z[b.marrow]))
            row[f"{seq}_disc_z"] = float(np.median(z[b.disc]))
            row[f"{seq}_marrow_disc_raw"] = float(np.median(r[b.marrow]) / max(float(np.median(r[b.disc])), 1e-6))
        out.append(row)
    return out, zc


def _summary(name: str, rows: list[dict], probs: list) -> None:
    if not rows:
        return
    p = np.array(probs)
    keys = list(rows[0])
    parts = []
    for k in keys:
        v = np.array([r[k] for r in rows])
        q = np.percentile(v, [25, 50, 75])
        parts.append(f"{k} {q[1]:+.2f} [{q[0]:+.2f},{q[2]:+.2f}]")
    print(f"{name} (n={len(rows)}): mean P(MC0, MC1, MC2) {np.round(p.mean(0), 2).tolist()}, called "
          f"{np.bincount(p.argmax(1), minlength=3).tolist()}; " + "; ".join(parts), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True)
    ap.add_argument("--runs", default="runs/classifier")
    ap.add_argument("--phantoms", type=int, default=10, help="seeded single-slice phantoms (seeds 0..N-1)")
    ap.add_argument("--signal", action="append", default=[], metavar="TISSUE=T1,T2",
                    help="what-if: a phantom tissue's baseline signal (e.g. marrow=470,380; annulus=280,260)")
    args = ap.parse_args(argv)
    set_threads()
    tissues = {"marrow": synthetic.MARROW, "sacrum": synthetic.SACRUM, "annulus": synthetic.ANNULUS,
               "nucleus": synthetic.NUCLEUS, "cortex": synthetic.CORTEX, "fat": synthetic.FAT}
    saved = synthetic._SIGNAL.copy()

    clf = load_classifier("zscore", device="cpu")
    spec = clf.spec

    def probs_of(crops):
        with torch.inference_mode():
            return torch.softmax(clf.model(crops), 1).numpy()

    groups: dict[str, tuple[list, list]] = {}

    def add(name, rows, p):
        g = groups.setdefault(name, ([], []))
        g[0].extend(rows)
        g[1].extend(p.tolist())

    studies, _ = prepare_cohort(args.cohort, cache_path=Path(args.runs) / "detector_boxes.json")
    for sd in studies:
        if not sd.discs:
            continue
        rows, crops = band_stats(sd.t1.array, sd.t2.array, [d.box for d in sd.discs], [d.z_center for d in sd.discs],
                                 sd.t1.spacing[1:], spec)
        p = probs_of(crops)
        for d, r, pi in zip(sd.discs, rows, p):
            add(f"SPIDER MC{d.modic}", [r], pi[None])
    for item in args.signal:  # what-if probe: restored below
        name, _, values = item.partition("=")
        synthetic._SIGNAL[tissues[name.strip().lower()]] = [float(v) for v in values.split(",")]
    phantoms = [("demo phantom (3D, 15 slices)", make_phantom(**PHANTOM_PARAMS))]
    phantoms += [("2D phantoms", make_phantom_2d(seed=s)) for s in range(args.phantoms)]
    for name, ph in phantoms:
        lv = ph.levels
        z = [0 if ph.t1.shape[0] == 1 else int(round(sum(l.z_range) / 2)) for l in lv]
        rows, crops = band_stats(ph.t1.array, ph.t2.array, [l.box for l in lv], z, ph.t1.spacing[1:], spec)
        p = probs_of(crops)
        for l, r, pi in zip(lv, rows, p):
            add(f"{name} MC{l.modic}", [r], pi[None])
    synthetic._SIGNAL[:] = saved
    if args.signal:
        print("what-if phantom signals:", "; ".join(args.signal))
    for name in sorted(groups):
        _summary(name, *groups[name])
    real = {k: np.array([r["t1_marrow_z"] for r in groups[f"SPIDER MC{k}"][0]]) for k in (0, 2) if f"SPIDER MC{k}" in groups}
    for name in sorted(g for g in groups if not g.startswith("SPIDER")):
        med = float(np.median([r["t1_marrow_z"] for r in groups[name][0]]))
        ranks = ", ".join(f"{100 * np.mean(v < med):.0f} % of real MC{k}" for k, v in real.items())
        print(f"{name}: median T1 marrow z {med:+.2f} is above {ranks}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
