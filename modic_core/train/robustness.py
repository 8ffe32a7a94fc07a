"""Do the shipped classifiers keep their grades when a study's intensities change the way scanners and exports change them?

    python -m modic_core.train.robustness --cohort PATH/TO/spider2d [--dicom PATH/TO/dicom_series] \\
        --json weights/robustness.json

For each shipped method (``weights/classifier_<method>.pt``) and each source of studies, the regions
are found once per study (on the reference T1); then the same regions are graded on the reference
and on each changed copy (:mod:`modic_core.normalization.intensity_shift`, applied to the raw T1 and
T2 separately, before the normalization, exactly as a user's upload would reach the app):

- ``export_sat0/5/10/20``: 8-bit windowed export, 0/5/10/20 % of body voxels saturated at 255;
- ``rescale_x16``: y = 16 x + 8, rounded (8-bit -> 12-bit range, 12-bit -> 16-bit range);
- ``bias_0.3/0.5``: smooth multiplicative bias field, polynomial order 3, coefficients up to 0.3/0.5;
- ``noise_2/5``: Rician noise, sigma 2 %/5 % of the mean body intensity.

Agreement = share of levels with the same predicted grade (argmax of MC0/MC1/MC2) as the reference,
with a patient-bootstrap 95 % CI. Sources: spider2d studies (seeded subsample of the aligned pairs;
detector regions), synthetic 3D phantom pairs stored at 12 bits (truth regions) and, with ``--dicom``,
the real 3D DICOM T1 (no T2: only how far its normalized T1 crops move; see the notes in the JSON).
Random changes are seeded per study, sequence and change.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk
from torch import get_num_threads as torch_threads

from modic_core.classification.crops import extract_crops
from modic_core.errors import InputError
from modic_core.normalization import intensity_shift as shift
from modic_core.normalization.methods import NORMALIZATIONS, foreground_mask, normalize
from modic_core.schema import Estimate, RobustnessCheck, RobustnessRow
from modic_core.volume import Volume

from modic_core import settings
from modic_core.logs import configure_logging, get_logger
from modic_core.classification import load_classifier
from modic_core.datasets.cohort import iter_cohort, read_cohort_tables
from modic_core.datasets.synthetic import make_phantom
from modic_core.detection import load_detector
from modic_core.evaluation.metrics import patient_bootstrap_weights
from modic_core.io import load_series
from modic_core.train.common import set_threads

__all__ = ["TRANSFORMS", "Region", "agreement_estimate", "below_target", "grade", "graded_rows", "main", "phantom_cases",
           "summary_notes"]

LOGGER = get_logger(__name__)

TARGET = 0.90
SLAB_HALF = 1  # as modic_core.analysis: a D = 1 model grades the centre slice +-1 (within the region's slab) and averages

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]



def _export(saturation: float) -> Transform:
    return lambda a, rng: shift.window_export(a, saturation=saturation)


#: name -> (description, function of (raw array (z, y, x), rng)).
TRANSFORMS: dict[str, tuple[str, Transform]] = {
    **{f"export_sat{round(100 * s)}": (f"8-bit windowed export, {100 * s:.0f} % of body voxels saturated at 255 (rounded)", _export(s))
       for s in (0.0, 0.05, 0.10, 0.20)},
    "rescale_x16": ("y = 16 x + 8, rounded (8-bit to 12-bit range; 12-bit to 16-bit range)",
                    lambda a, rng: shift.rescale(a, gain=16.0, offset=8.0)),
    "bias_0.3": ("smooth multiplicative bias field, order 3, coefficients U(-0.3, 0.3)",
                 lambda a, rng: shift.bias_field(a, coefficient=0.3, rng=rng)),
    "bias_0.5": ("smooth multiplicative bias field, order 3, coefficients U(-0.5, 0.5)",
                 lambda a, rng: shift.bias_field(a, coefficient=0.5, rng=rng)),
    "noise_2": ("Rician noise, sigma 2 % of the mean body intensity", lambda a, rng: shift.rician_noise(a, share=0.02, rng=rng)),
    "noise_5": ("Rician noise, sigma 5 % of the mean body intensity", lambda a, rng: shift.rician_noise(a, share=0.05, rng=rng)),
}


@dataclass(frozen=True)
class Region:
    """A region to grade: box (x0, y0, x1, y1) in T1 pixels and the slices whose crops are averaged."""

    level: str
    box: tuple[float, float, float, float]
    slices: tuple[int, ...]


def _slab(z_center: int, z_range: tuple[int, int]) -> tuple[int, ...]:
    lo, hi = max(z_range[0], z_center - SLAB_HALF), min(z_range[1], z_center + SLAB_HALF)
    return tuple(range(lo, hi + 1))


def _crops(clf, t1: Volume, t2: Volume, regions: list[Region], masks: tuple[np.ndarray, np.ndarray]):
    t1n = normalize(t1, clf.normalization, mask=masks[0], landmarks=clf.landmarks).array
    t2n = normalize(t2, clf.normalization, mask=masks[1], landmarks=clf.landmarks).array
    boxes = [r.box for r in regions for _ in r.slices]
    zs = [z for r in regions for z in r.slices]
    return extract_crops(t1n, t2n, np.array(boxes).reshape(-1, 4), zs, t1.spacing[1:], clf.spec)


def grade(clf, t1: Volume, t2: Volume, regions: list[Region], *, masks: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Probabilities (n_regions, 3), averaged over each region's slices, as the app grades them."""
    if not regions:
        return np.zeros((0, 3), np.float32)
    masks = masks or (foreground_mask(t1), foreground_mask(t2))
    probs, _ = clf.predict(_crops(clf, t1, t2, regions, masks), gradcam=False)
    owner = np.repeat(np.arange(len(regions)), [len(r.slices) for r in regions])
    return np.stack([probs[owner == i].mean(0) for i in range(len(regions))])


# --------------------------------------------------------------------------- sources


@dataclass
class _Case:
    source: str
    case_id: str
    t1: Volume
    t2: Volume | None
    regions: list[Region]


def _spider_cases(cohort: Path, n: int, seed: int, detector) -> tuple[list[_Case], dict]:
    studies, _ = read_cohort_tables(cohort)
    aligned = set(studies.loc[studies["t2_aligned"].astype(str).str.lower() == "true", "study_id"].astype(str)) \
        if "t2_aligned" in studies else set(studies["study_id"].astype(str))
    items = [cs for cs in iter_cohort(cohort) if cs.study_id in aligned]
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(items), size=min(n, len(items)), replace=False)) if n else range(len(items))
    cases = []
    for i in pick:
        cs = items[i]
        st = cs.load()
        regions = [Region(d.level, tuple(float(v) for v in d.box), _slab(d.z_center, d.z_range))
                   for d in detector.detect(st.t1).filter(0.5)]
        cases.append(_Case("spider2d", cs.study_id, st.t1, st.t2, regions))
    sat = [shift.saturated_share(v.array) for c in cases for v in (c.t1, c.t2)]
    info = {"what": f"{len(cases)} of the {len(items)} T2-aligned spider2d studies (seeded subsample, seed {seed}) "
                    "of the cohort the shipped models were trained on; one mid-sagittal slice per series",
            "native": "the slices as stored: already 8-bit exports, windowed and min-max stretched per image (here a median "
                      f"{100 * float(np.median(sat)):.1f} % of body voxels at the maximum, range {100 * min(sat):.1f}-"
                      f"{100 * max(sat):.1f} %); raw scanner intensities are lost, so 'reference' here is that "
                      "export and the changes are applied on top of it (the T2 as resampled onto the T1 grid)",
            "regions": "shipped detector on the reference T1, confidence >= 0.5, graded on each change",
            "n_studies": len(cases), "n_levels": int(sum(len(c.regions) for c in cases)),
            "study_ids": [c.case_id for c in cases]}
    return cases, info


def _to_12bit(v: Volume) -> Volume:
    a = v.array
    return v.with_array(np.round((a - a.min()) * (4095.0 / max(float(a.max() - a.min()), 1e-6))).astype(np.float32))


def phantom_cases(n: int, seed: int, shape: tuple[int, int, int], *, pixel_mm: float = 0.875) -> tuple[list[_Case], dict]:
    """``n`` seeded synthetic 3D phantom pairs (seeds ``seed`` .. ``seed + n - 1``; ``shape`` (z, y, x) voxels of
    4 x ``pixel_mm`` x ``pixel_mm`` mm), each series scaled to 12-bit integers (0-4095, nothing saturated), with
    their ground-truth regions (centre slice +-1); and a dict describing the source for the report."""
    cases = []
    specs = [None, {}, {"L3-L4": (2, "lower")}, {"L4-L5": (1, "upper"), "L2-L3": (2, "both")}]
    for k in range(n):
        ph = make_phantom(seed=seed + k, shape=shape, spacing=(4.0, pixel_mm, pixel_mm), modic=specs[k % len(specs)])
        zc = shape[0] // 2
        regions = [Region(lv.level, lv.box, _slab(zc, lv.z_range)) for lv in ph.levels]
        cases.append(_Case("phantom", f"phantom-{seed + k}", _to_12bit(ph.t1), _to_12bit(ph.t2), regions))
    info = {"what": f"{n} synthetic 3D phantom pairs (modic_core.datasets.synthetic.make_phantom, seeds {seed}..{seed + n - 1}, "
                    f"{shape[0]} x {shape[1]} x {shape[2]} voxels of 4 x {pixel_mm:g} x {pixel_mm:g} mm, default scanner variation)",
            "native": "each series min-max scaled to 0-4095 and rounded: a 12-bit acquisition with nothing saturated",
            "regions": "ground-truth boxes, centre slice +-1",
            "n_studies": n, "n_levels": int(sum(len(c.regions) for c in cases))}
    return cases, info


def _dicom_case(folder: Path, detector) -> tuple[_Case, dict]:
    series = sorted(p for p in folder.iterdir() if p.is_dir()) or [folder]
    v = load_series(series[0])
    regions = [Region(d.level, tuple(float(x) for x in d.box), _slab(d.z_center, d.z_range)) for d in detector.detect(v).filter(0.5)]
    info = {"what": f"real sagittal T1 DICOM series ({v.shape[0]} slices of {v.shape[1]} x {v.shape[2]})",
            "native": f"as stored by the scanner: integers {v.array.min():.0f}-{v.array.max():.0f} (12-bit data in 16-bit words), "
                      f"{100 * shift.saturated_share(v.array):.2f} % of body voxels at the maximum",
            "regions": "shipped detector on the native T1, confidence >= 0.5",
            "n_levels": len(regions),
            "why_no_grades": "the classifier grades a T1 and a T2 channel together and this study has no T2; pairing it "
                             "with another patient's T2 or a synthetic T2 would measure that pairing, not the export, so "
                             "no grades are reported; instead the normalized T1 crops of its regions are compared"}
    return _Case("dicom_t1", folder.name, v, None, regions), info


# --------------------------------------------------------------------------- measuring


def _rng(seed: int, case: int, transform: int, seq: int) -> np.random.Generator:
    return np.random.default_rng([seed, case, transform, seq])


def agreement_estimate(agree: np.ndarray, patients: np.ndarray, *, n_boot: int, seed: int) -> Estimate:
    """Share of levels whose grade is unchanged (``agree``: one bool per level) with a 95 % patient-bootstrap CI
    (``patients``: one ID per level, resampled ``n_boot`` times with ``seed``); ``n`` is the number of levels."""
    v = float(agree.mean()) if len(agree) else float("nan")
    inverse, w = patient_bootstrap_weights(list(patients), len(agree), n_boot=n_boot, seed=seed)
    hits = np.bincount(inverse, weights=agree.astype(float), minlength=w.shape[1])
    counts = np.bincount(inverse, minlength=w.shape[1]).astype(float)
    boot = (w @ hits) / np.maximum(w @ counts, 1)
    lo, hi = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
    return Estimate(value=v, ci_low=lo, ci_high=hi, display=f"{v:.3f} (95% CI {lo:.3f}-{hi:.3f})", n=int(len(agree)))


def graded_rows(cases: list[_Case], classifiers: dict, *, seed: int, n_boot: int, log) -> list[RobustnessRow]:
    """One row per method (``classifiers``: method -> classifier) x transform (:data:`TRANSFORMS`) on ``cases``
    with T1 and T2: the agreement of the transformed grades with the untransformed ones
    (:func:`agreement_estimate`), the mean largest probability change and the median achieved saturation of
    the export transforms. Transforms are seeded per case; ``log`` receives one progress line per case."""
    names = list(TRANSFORMS)
    ref: dict[str, list[np.ndarray]] = {m: [] for m in classifiers}
    out: dict[tuple[str, str], list[np.ndarray]] = {(m, t): [] for m in classifiers for t in names}
    sat: dict[str, list[float]] = {t: [] for t in names}
    patients = []
    for ci, case in enumerate(cases):
        if not case.regions:
            continue
        patients.extend([case.case_id] * len(case.regions))
        masks = (foreground_mask(case.t1), foreground_mask(case.t2))
        for m, clf in classifiers.items():
            ref[m].append(grade(clf, case.t1, case.t2, case.regions, masks=masks))
        for ti, t in enumerate(names):
            fn = TRANSFORMS[t][1]
            a1 = fn(case.t1.array, _rng(seed, ci, ti, 1))
            a2 = fn(case.t2.array, _rng(seed, ci, ti, 2))
            v1, v2 = case.t1.with_array(a1), case.t2.with_array(a2)
            mk = (foreground_mask(v1), foreground_mask(v2))
            if t.startswith("export"):
                sat[t].extend([shift.saturated_share(a1, masks[0]), shift.saturated_share(a2, masks[1])])
            for m, clf in classifiers.items():
                out[(m, t)].append(grade(clf, v1, v2, case.regions, masks=mk))
        log(f"{case.source} {ci + 1}/{len(cases)}")
    pat = np.array(patients)
    rows = []
    for m in classifiers:
        p0 = np.concatenate(ref[m])
        for t in names:
            p = np.concatenate(out[(m, t)])
            agree = p.argmax(1) == p0.argmax(1)
            rows.append(RobustnessRow(source=cases[0].source, method=m, transform=t, n_studies=len(set(patients)),
                                      n_levels=int(len(agree)), agreement=agreement_estimate(agree, pat, n_boot=n_boot, seed=seed),
                                      mean_abs_change_p=float(np.abs(p - p0).max(1).mean()),
                                      saturation=float(np.median(sat[t])) if sat[t] else None))
    return rows


def _dicom_t1_shift(case: _Case, classifiers: dict, *, seed: int) -> dict:
    """How far the normalized T1 crops move: median over regions of RMS(crop - reference crop) / SD(reference crop)."""
    out: dict[str, dict[str, float]] = {}
    regions = case.regions
    if not regions:
        return {}
    mask0 = foreground_mask(case.t1)

    def t1_crops(clf, vol: Volume, mask: np.ndarray) -> np.ndarray:
        x = _crops(clf, vol, vol, regions, (mask, mask)).numpy()[:, 0]  # the T1 channel only
        return x.reshape(len(x), -1)

    refs = {m: t1_crops(clf, case.t1, mask0) for m, clf in classifiers.items()}
    sat = {}
    for ti, t in enumerate(TRANSFORMS):
        a = TRANSFORMS[t][1](case.t1.array, _rng(seed, 10_000, ti, 1))
        v = case.t1.with_array(a)
        mk = foreground_mask(v)
        if t.startswith("export"):
            sat[t] = shift.saturated_share(a, mask0)
        for m, clf in classifiers.items():
            r = refs[m]
            d = np.sqrt(((t1_crops(clf, v, mk) - r) ** 2).mean(1)) / np.maximum(r.std(1), 1e-6)
            out.setdefault(m, {})[t] = float(np.median(d))
    return {"relative_t1_crop_change": out, "saturation": sat,
            "what": "median over the detected regions (centre slice +-1) of RMS(normalized T1 crop - reference crop) / "
                    "SD(reference crop); 0 = identical input to the classifier's T1 channel"}


def below_target(rows: list[RobustnessRow], target: float) -> list[dict]:
    """The rows whose agreement is below ``target`` (a share, 0-1), each with its CI's upper bound and whether
    that bound is below the target too (``below_target_with_ci``)."""
    out = []
    for r in rows:
        v, hi = r.agreement.value, r.agreement.ci_high
        if v is not None and v < target:
            out.append({"source": r.source, "method": r.method, "transform": r.transform, "agreement": round(v, 3),
                        "ci_high": None if hi is None else round(hi, 3),
                        "below_target_with_ci": bool(hi is not None and hi < target)})
    return out


def summary_notes(rows: list[RobustnessRow], target: float, info: dict) -> list[str]:
    """One readable line per source and method: whether the agreement meets ``target`` under every transform,
    and the lowest one; plus a note on the spider2d exports when ``info`` has that source."""
    notes = []
    for src in sorted({r.source for r in rows}):
        for m in dict.fromkeys(r.method for r in rows):
            sel = [r for r in rows if r.source == src and r.method == m]
            bad = [r.transform for r in sel if (r.agreement.value or 0) < target]
            worst = min(sel, key=lambda r: r.agreement.value or 0)
            notes.append(f"{src} / {m}: " + (f"meets {target:.0%} under every change (lowest {worst.agreement.value:.3f}, {worst.transform})"
                                            if not bad else f"below {target:.0%} under {', '.join(bad)} (lowest {worst.agreement.value:.3f}, {worst.transform})"))
    if "spider2d" in info:
        notes.append("spider2d: 'export_sat0' re-exports the given 8-bit slice with the full range (nearly the identity); "
                     "the exports with 5-20 % saturation saturate at least the share already saturated in the slice, "
                     "so their achieved saturation (column 'saturation') is higher than asked where the slice was already clipped.")
    return notes


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="spider2d-format cohort folder (studies.csv + levels.csv)")
    ap.add_argument("--dicom", default=None, help="folder with a real 3D T1 DICOM series (or a folder of series folders)")
    ap.add_argument("--json", default="weights/robustness.json")
    ap.add_argument("--weights", default=None, help="weights folder (default: MODIC_WEIGHTS_DIR or weights/)")
    ap.add_argument("--methods", default=",".join(NORMALIZATIONS), help="comma-separated normalization methods")
    ap.add_argument("--studies", type=int, default=40, help="spider2d studies, seeded subsample (0: all aligned)")
    ap.add_argument("--phantoms", type=int, default=5, help="synthetic 12-bit phantom pairs")
    ap.add_argument("--phantom-slices", type=int, default=9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    set_threads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(torch_threads())  # N4 (n4_zscore) with the same thread count
    t0 = time.time()

    def log(msg: str) -> None:
        LOGGER.info("[robustness %6.0f s] %s", time.time() - t0, msg)

    wd = args.weights
    classifiers = {m: load_classifier(m, weights_dir=wd) for m in args.methods.split(",") if m}
    detector = load_detector(None if wd is None else Path(wd) / "detector.pt")
    sources: dict = {}
    rows: list[RobustnessRow] = []
    dicom = None

    def save(stages_left: list[str]) -> None:  # after each source, so that a late failure keeps what was measured
        notes = summary_notes(rows, TARGET, sources)
        if stages_left:
            notes.insert(0, f"partial run: {', '.join(stages_left)} not measured yet")
        RobustnessCheck(
            command="python -m modic_core.train.robustness " + " ".join(argv), target=TARGET, seed=args.seed,
            sources=sources, transforms={k: v[0] for k, v in TRANSFORMS.items()}, rows=rows,
            breaks=below_target(rows, TARGET), notes=notes, seconds=round(time.time() - t0, 1),
            weights={m: f"{c.source} (sha256 {c.sha256[:12]})" for m, c in classifiers.items()}, dicom_t1=dicom,
        ).save(args.json)

    try:
        if args.dicom:
            case, sources["dicom_t1"] = _dicom_case(Path(args.dicom), detector)
            dicom = _dicom_t1_shift(case, classifiers, seed=args.seed)
            log("dicom T1 done")
        phantoms, sources["phantom"] = phantom_cases(args.phantoms, args.seed, (args.phantom_slices, 320, 320))
        rows += graded_rows(phantoms, classifiers, seed=args.seed, n_boot=args.n_boot, log=log)
        save(["spider2d"])
        spider, sources["spider2d"] = _spider_cases(Path(args.cohort), args.studies, args.seed, detector)
        log(f"loaded {len(spider)} spider2d studies")
        rows += graded_rows(spider, classifiers, seed=args.seed, n_boot=args.n_boot, log=log)
    except InputError as exc:
        print(f"robustness check stopped: {exc}", file=sys.stderr)
        return 2
    save([])
    print(_table(rows))
    log(f"wrote {args.json}")
    return 0


def _table(rows: list[RobustnessRow]) -> str:
    """Agreement per source and method (rows) and transform (columns), as plain text."""
    names = list(TRANSFORMS)
    lines = []
    for src in dict.fromkeys(r.source for r in rows):
        lines.append(f"\n{src}: share of levels with the reference's grade")
        lines.append("| method | " + " | ".join(names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for m in dict.fromkeys(r.method for r in rows):
            cells = {r.transform: r.agreement.value for r in rows if r.source == src and r.method == m}
            lines.append(f"| {m} | " + " | ".join(f"{cells[t]:.2f}" for t in names) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
