"""Do the explanations point at the evidence? Heat-map mass in the marrow bands vs the disc, on real discs.

    python -m modic_core.train.gradcam_audit --cohort PATH/TO/spider2d --json weights/gradcam_audit.json \\
        [--methods zscore,...] [--weights DIR]

Discs: every MC2 and MC0 disc with a ground-truth box in the T2-aligned studies of the cohort
(``studies.csv`` ``t2_aligned`` True; ``levels.csv`` x0..y1). Each disc is cropped as the app crops
it (box centre, the classifier's crop spec; the study's T1/T2 normalized by the method) and explained
for the class the classifier predicts (what the app shows), by every variant in
:data:`~modic_core.classification.gradcam.VARIANTS`. Each raw map's mass is split into the disc band,
the two marrow bands beside the endplates and the rest of the crop
(:func:`~modic_core.classification.bands.band_masks`; fractions in the JSON).

Choice (rule fixed before the run, written in the JSON): on the ``--rule-method`` classifier
(the app's default method), the variant with the highest share of MC2 discs whose marrow mass
is denser (per pixel) than in their disc band; ties (within 0.005) go to the higher mean marrow share,
then registry order. Raw mass shares and "marrow mass > disc mass" are reported too, but decide nothing:
the marrow bands are ~2.5x the disc band's area, so every map passes that on most discs.

Fixed heat-map scale: per method and variant, the ``--scale-quantile`` of the per-disc peak of the
raw maps over all audited discs; the app divides maps by it (same raw value, same colour in every
level and study). It is stored with the weights' sha256 and ignored for other weights: rerun this
script after retraining (a minute or two per method on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modic_core.classification.bands import band_masks, band_shares
from modic_core.classification.crops import CropSpec, extract_crops
from modic_core.classification.gradcam import VARIANTS, cam_maps
from modic_core.errors import InputError
from modic_core.schema import CamScale, CamShareRow, Estimate, GradcamAudit

from modic_core.logs import configure_logging, get_logger
from modic_core import settings
from modic_core.analysis.analyze import models_available
from modic_core.classification import load_classifier
from modic_core.datasets.cohort import iter_cohort
from modic_core.evaluation.metrics import patient_bootstrap_weights
from modic_core.normalization.methods import normalize, NORMALIZATIONS
from modic_core.train.common import set_threads

__all__ = ["RULE", "Disc", "choose_variant", "main", "share_rows"]

LOGGER = get_logger(__name__)

RULE = ("On the app's default method, the variant with the highest share of real MC2 discs whose map is denser in the two "
        "marrow bands than in the disc band (mean value per pixel, explaining the predicted class as the app does; per pixel "
        "because the marrow bands cover about 2.5 times the disc band's area, so raw mass favours them for any map); ties "
        "within 0.005 go to the higher mean marrow share of the mass, then to registry order.")
GROUPS = {"MC2": 2, "MC0": 0}
BATCH = 64


@dataclass
class Disc:
    """One boxed disc: study, level, true grade, box (x0, y0, x1, y1) in T1 pixels, slice, T1 spacing (row, column) mm."""

    study_id: str
    level: str
    modic: int
    box: tuple[float, float, float, float]
    z: int
    spacing_yx: tuple[float, float]


def _estimate(values: np.ndarray, patients: list[str], *, n_boot: int, seed: int) -> Estimate:
    """Mean of per-disc values with a patient-bootstrap 95 % CI."""
    values = np.asarray(values, float)
    if not len(values):
        return Estimate(value=None, display="no discs", n=0)
    v = float(values.mean())
    inverse, w = patient_bootstrap_weights(patients, len(values), n_boot=n_boot, seed=seed)
    sums = np.bincount(inverse, weights=values, minlength=w.shape[1])
    counts = np.bincount(inverse, minlength=w.shape[1]).astype(float)
    boot = (w @ sums) / np.maximum(w @ counts, 1)
    lo, hi = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
    return Estimate(value=round(v, 4), ci_low=round(lo, 4), ci_high=round(hi, 4), display=f"{v:.3f} ({lo:.3f}-{hi:.3f})",
                    n=int(len(values)))


def share_rows(method: str, variant: str, discs: list[Disc], shares: list[dict | None], predicted: np.ndarray, *,
               n_boot: int = 1000, seed: int = 0) -> list[CamShareRow]:
    """One row per group (MC2, MC0) from per-disc band shares (None: empty map) and predicted classes."""
    rows = []
    for group, grade in GROUPS.items():
        idx = [i for i, d in enumerate(discs) if d.modic == grade]
        ok = [i for i in idx if shares[i] is not None]
        pats = [discs[i].study_id for i in ok]
        get = lambda k, ok=ok: np.array([shares[i][k] for i in ok], float)  # noqa: E731
        marrow, disc = get("marrow"), get("disc")
        rows.append(CamShareRow(
            method=method, variant=variant, group=group, target="predicted", n_discs=len(idx),
            n_patients=len({discs[i].study_id for i in idx}), n_empty=len(idx) - len(ok),
            marrow=_estimate(marrow, pats, n_boot=n_boot, seed=seed), disc=_estimate(disc, pats, n_boot=n_boot, seed=seed),
            outside=_estimate(get("outside"), pats, n_boot=n_boot, seed=seed),
            marrow_over_disc=_estimate((marrow > disc).astype(float), pats, n_boot=n_boot, seed=seed),
            marrow_denser=_estimate(get("marrow_denser"), pats, n_boot=n_boot, seed=seed),
            predicted_mc2=round(float(np.mean(predicted[idx] == 2)), 4) if idx else None))
    return rows


def choose_variant(rows: list[CamShareRow], method: str) -> tuple[str, str]:
    """(variant, reason) by :data:`RULE` on the MC2 rows of ``method``."""
    cand = [r for r in rows if r.method == method and r.group == "MC2" and r.marrow_denser.value is not None]
    if not cand:
        raise InputError(f"no MC2 disc was measured for the method {method!r}; cannot choose a variant")
    order = list(VARIANTS)
    best_often = max(r.marrow_denser.value for r in cand)
    tied = [r for r in cand if r.marrow_denser.value >= best_often - 0.005]
    best = sorted(tied, key=lambda r: (-r.marrow.value, order.index(r.variant) if r.variant in order else len(order)))[0]
    reason = (f"{best.variant}: denser in the marrow bands than in the disc band on {best.marrow_denser.display} of "
              f"{best.n_discs - best.n_empty} real MC2 discs ({method}), mean marrow share of the mass {best.marrow.display}"
              + (f"; tied within 0.005 with {', '.join(r.variant for r in tied if r is not best)}" if len(tied) > 1 else ""))
    return best.variant, reason


def _load(cohort: Path) -> tuple[list[Disc], dict, dict]:
    """The boxed MC0/MC2 discs of the aligned studies, and the studies (study_id -> Study)."""
    discs: list[Disc] = []
    studies = {}
    n_aligned = 0
    for cs in iter_cohort(cohort):
        if cs.t2_aligned is False:
            continue
        n_aligned += 1
        boxed = [lv for lv in cs.levels if lv.box is not None and lv.modic in GROUPS.values()]
        if not boxed:
            continue
        st = cs.load()
        studies[cs.study_id] = st
        for lv in boxed:
            z = (lv.z_range[0] + lv.z_range[1]) // 2 if lv.z_range else st.t1.shape[0] // 2
            discs.append(Disc(cs.study_id, lv.level, lv.modic, lv.box, int(z), tuple(float(v) for v in st.t1.spacing[1:])))
    info = {"what": "MC2 and MC0 discs with a ground-truth box (levels.csv x0..y1) in the T2-aligned studies",
            "n_aligned_studies": n_aligned, "n_studies": len(studies), "n_discs": len(discs),
            "n_by_grade": {g: sum(d.modic == k for d in discs) for g, k in GROUPS.items()},
            "slice": "the stored slice (single-slice studies) or the box's middle slice"}
    return discs, studies, info


def _crops(clf, discs: list[Disc], studies: dict):
    out = []
    for sid, st in studies.items():
        mine = [d for d in discs if d.study_id == sid]
        t1n = normalize(st.t1, clf.normalization, landmarks=clf.landmarks).array
        t2n = normalize(st.t2, clf.normalization, landmarks=clf.landmarks).array
        out.append(extract_crops(t1n, t2n, np.array([d.box for d in mine]).reshape(-1, 4), [d.z for d in mine],
                                 st.t1.spacing[1:], clf.spec))
    return torch.cat(out)


def _explain(clf, crops, variant: str):
    """Raw maps (N, D, H, W) of the predicted class and the predicted classes, in batches."""
    maps, preds = [], []
    for s in range(0, len(crops), BATCH):
        cam, probs = cam_maps(clf.model, crops[s : s + BATCH].to(clf.device), None, variant=variant)
        maps.append(cam.cpu().numpy())
        preds.append(probs.argmax(1).cpu().numpy())
    return np.concatenate(maps), np.concatenate(preds)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="spider2d-format cohort folder (studies.csv + levels.csv with boxes)")
    ap.add_argument("--json", default="weights/gradcam_audit.json")
    ap.add_argument("--weights", default=None, help="weights folder (default: MODIC_WEIGHTS_DIR or weights/)")
    ap.add_argument("--methods", default=None, help="comma-separated normalization methods (default: every installed one)")
    ap.add_argument("--rule-method", default=None, help="method whose rows choose the variant (default: the app's default)")
    ap.add_argument("--disc-fraction", type=float, default=0.4, help="share of the box height that is the disc band")
    ap.add_argument("--margin-mm", type=float, default=5.0, help="marrow bands reach this far beyond the box")
    ap.add_argument("--scale-quantile", type=float, default=0.9, help="quantile of per-disc peaks shown as 1")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    set_threads()
    t0 = time.time()

    def log(msg: str) -> None:
        LOGGER.info("[gradcam_audit %6.0f s] %s", time.time() - t0, msg)

    try:
        installed = models_available(args.weights)
        methods = [m for m in args.methods.split(",") if m] if args.methods else [m for m in NORMALIZATIONS if installed.get(m)]
        rule_method = args.rule_method or settings.default_normalization()
        if rule_method not in methods:
            methods.insert(0, rule_method)
        unknown = [m for m in methods if m not in NORMALIZATIONS]
        if unknown:
            raise InputError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(NORMALIZATIONS)}")
        discs, studies, cohort = _load(Path(args.cohort))
        if not any(d.modic == 2 for d in discs):
            raise InputError("the cohort has no boxed MC2 disc in an aligned study; nothing to audit")
        log(f"{len(discs)} discs in {len(studies)} studies")
        rows: list[CamShareRow] = []
        scales: dict[str, CamScale] = {}
        bands_by_spec: dict[CropSpec, list] = {}
        area: dict[str, float] = {}
        denser: dict[str, np.ndarray] = {}  # variant -> per-disc "marrow denser" of the rule method (NaN: empty map)
        for m in methods:
            clf = load_classifier(m, weights_dir=args.weights)
            if clf.spec not in bands_by_spec:
                bands_by_spec[clf.spec] = [band_masks(d.box, d.spacing_yx, clf.spec, disc_fraction=args.disc_fraction,
                                                      margin_mm=args.margin_mm) for d in discs]
            bands = bands_by_spec[clf.spec]
            if not area:
                px = clf.spec.height * clf.spec.width
                area = {k: round(float(np.mean([getattr(b, k).sum() / px for b in bands])), 4) for k in ("disc", "marrow", "outside")}
            crops = _crops(clf, discs, studies)
            peaks: dict[str, float] = {}
            for v in VARIANTS:
                maps, pred = _explain(clf, crops, v)
                shares = [band_shares(maps[i], bands[i]) for i in range(len(discs))]
                if m == rule_method:
                    denser[v] = np.array([np.nan if s is None else s["marrow_denser"] for s in shares])
                rows += share_rows(m, v, discs, shares, pred, n_boot=args.n_boot, seed=args.seed)
                peak = maps.reshape(len(maps), -1).max(1)
                peaks[v] = float(np.quantile(peak[peak > 0], args.scale_quantile)) if (peak > 0).any() else 1.0
            scales[m] = CamScale(sha256=clf.sha256, quantile=args.scale_quantile, n_discs=len(discs),
                                 values={k: float(f"{x:.6g}") for k, x in peaks.items()})
            log(f"{m} done")
        chosen, reason = choose_variant(rows, rule_method)
        base = settings.DEFAULT_GRADCAM_VARIANT if chosen != settings.DEFAULT_GRADCAM_VARIANT else "gradcam"
        if chosen != base:
            mc2 = np.array([d.modic == 2 for d in discs]) & np.isfinite(denser[chosen]) & np.isfinite(denser[base])
            diff = _estimate(denser[chosen][mc2] - denser[base][mc2], [d.study_id for d, k in zip(discs, mc2) if k],
                             n_boot=args.n_boot, seed=args.seed)
            reason += (f"; paired difference to {base}: {diff.value:+.3f} (patient-bootstrap 95 % CI {diff.ci_low:+.3f} to "
                       f"{diff.ci_high:+.3f})" + ("" if diff.ci_low > 0 else ", a CI that includes zero: the variants do not "
                                                   "differ clearly on this data"))
    except InputError as exc:
        print(f"gradcam audit stopped: {exc}", file=sys.stderr)
        return 2
    doc = GradcamAudit(
        command="python -m modic_core.train.gradcam_audit " + " ".join(argv), cohort=cohort,
        bands={"disc_fraction": args.disc_fraction, "margin_mm": args.margin_mm,
               "definition": "disc: central disc_fraction of the box height; marrow: the box rows above and below it plus "
                             "margin_mm into the vertebral bodies, within the box columns; outside: the rest of the crop",
               "mean_area_share": area},
        variants={k: v.description for k, v in VARIANTS.items()}, rows=rows, rule=RULE, rule_method=rule_method,
        chosen=chosen, reason=reason, scales=scales, seconds=round(time.time() - t0, 1),
        notes=[f"A map spread evenly over the crop would put {area.get('marrow', float('nan')):.3f} of its mass in the marrow "
               f"bands, {area.get('disc', float('nan')):.3f} in the disc band and {area.get('outside', float('nan')):.3f} outside.",
               "The disc band is geometric (the middle of the box), not segmented; shares are of the raw maps (before any scaling)."])
    doc.save(args.json)
    log(f"chosen: {reason}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
