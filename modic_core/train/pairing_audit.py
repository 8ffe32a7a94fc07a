"""Audit of the T1/T2 alignment check on a cohort (the numbers in the README's "Pairing" section).

    python -m modic_core.train.pairing_audit --cohort PATH/TO/spider2d --out weights/pairing_audit.json

For every study: the check on the pair as stored (false alarms on pairs the cohort marks aligned;
flags or repairs on those it marks not aligned), then the same T2 with its origin moved by a
seeded random table shift (20-110 mm head-foot, +-15 mm front-back): does the check find the
shift back, and to within how many mm? Then three wrong pairs made from each study, which the
check must flag (``ok`` False): T1 and T2 swapped (both given neutrally, as unnamed MHA files
are), the T2 pixels turned head to foot with the header unchanged, and a "T2" that is the T1
with one pixel changed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
import hashlib

import numpy as np
import pandas as pd

from modic_core.analysis.alignment import ALIGN_THRESHOLD, check_alignment
from modic_core.detection.infer import load_detector
from modic_core.pairing.study import load_study, make_study
from modic_core.schema import PairingAudit
from modic_core.volume import Study, Volume
from modic_core.pairing.study import resample_to


def _shift(v: Volume, t: np.ndarray) -> Volume:
    return Volume(v.array, v.spacing, tuple(np.asarray(v.origin) + t), v.direction.copy(), v.meta)


class _Memo:
    """The detector with its answers kept per image content (the wrong pairs reuse many of the
    study's own images: a swapped pair on one grid is detected exactly as the stored pair)."""

    def __init__(self, det) -> None:
        self._det, self._seen = det, {}

    def __getattr__(self, name):
        return getattr(self._det, name)

    @property
    def raw(self):
        return self._det

    def _key(self, v: Volume, *extra) -> tuple:
        return (hashlib.sha1(np.ascontiguousarray(v.array).tobytes()).hexdigest(), v.array.shape, tuple(v.spacing), *extra)

    def detect(self, v: Volume, *, slab_mm: float = 12.0):
        key = self._key(v, "detect", slab_mm)
        if key not in self._seen:
            self._seen[key] = self._det.detect(v, slab_mm=slab_mm)
        return self._seen[key]

    def forget(self) -> None:
        self._seen.clear()


def _neutral(v: Volume, array: np.ndarray | None = None) -> Volume:
    """``v`` as an unnamed file gives it: no sequence, description or series identity."""
    meta = dataclasses.replace(v.meta, sequence="unknown", series_description=None, series_uid_hash=None,
                               repetition_time_ms=None, echo_time_ms=None)
    return Volume(v.array if array is None else array, v.spacing, v.origin, v.direction.copy(), meta)


def _wrong_pairs(study: Study) -> dict[str, tuple[Volume, Volume]]:
    """The three wrong pairs of one study: (T1 slot, T2 slot) volumes."""
    t1, t2 = study.t1, study.t2_native
    one_off = t1.array.copy()
    z, y, x = (s // 2 for s in one_off.shape)
    one_off[z, y, x] += 1.0
    flipped = Volume(t2.array[:, ::-1].copy(), t2.spacing, t2.origin, t2.direction.copy(), t2.meta)
    return {"swapped": (_neutral(t2), _neutral(t1)), "upside_down": (t1, flipped), "near_identical": (t1, _neutral(t1, one_off))}


def _wrong(ids: list[str], flagged: list[bool]) -> dict:
    return {"n": len(ids), "flagged": int(sum(flagged)), "missed": [i for i, f in zip(ids, flagged) if not f]}


def run(cohort: Path, *, seed: int = 0, limit: int | None = None) -> dict:
    det = _Memo(load_detector())
    table = pd.read_csv(cohort / "studies.csv", keep_default_na=False)
    if limit:
        table = table.head(limit)
    rng = np.random.default_rng(seed)
    rows = []
    for r in table.itertuples():
        det.forget()
        study = load_study(cohort / r.t1, cohort / r.t2, study_id=str(r.study_id))
        t0 = time.perf_counter()
        t1_regions = det.detect(study.t1).filter(ALIGN_THRESHOLD)
        _, al = check_alignment(study, det, t1_detections=t1_regions)
        dt = time.perf_counter() - t0
        wrong = {}
        for kind, (a, b) in _wrong_pairs(study).items():
            _, al_w = check_alignment(make_study(a, b), det, t1_detections=None if kind == "swapped" else t1_regions)
            wrong[kind] = {"ok": al_w.ok, "problems": list(al_w.problems)}
        # a table move: shift the native T2 and re-pair (header geometry now wrong by `shift`)
        shift = np.array([0.0, rng.uniform(-15, 15), rng.choice([-1, 1]) * rng.uniform(20, 110)])
        # LPS: y = posterior, z = superior; sagittal slices leave x (left-right) alone
        moved_native = _shift(study.t2_native, shift)
        moved = Study(t1=study.t1, t2=resample_to(moved_native, study.t1), t2_native=moved_native,
                      sources=study.sources, study_id=study.study_id)
        t1 = time.perf_counter()
        _, al_s = check_alignment(moved, det.raw)  # timed like the stored check: no remembered answers
        dt_s = time.perf_counter() - t1
        err = np.asarray(al_s.translation_mm) + shift
        err[0] = 0.0
        rows.append({
            "study_id": str(r.study_id), "cohort_aligned": str(r.t2_aligned) == "True",
            "method": al.method, "ok": al.ok, "residual_mm": al.residual_mm, "discs_matched": al.discs_matched,
            "discs_t1": al.discs_t1, "seconds": round(dt, 3), "problems": list(al.problems),
            "contrast_score": al.contrast_score, "similarity": al.similarity, "flip_gain": al.flip_gain,
            **{f"{k}_flagged": not v["ok"] for k, v in wrong.items()}, "wrong_pair_problems": {k: v["problems"] for k, v in wrong.items()},
            "shift_mm": [round(float(v), 1) for v in shift], "shift_ok": al_s.ok, "shift_method": al_s.method,
            "shift_error_mm": round(float(np.linalg.norm(err)), 2), "shift_seconds": round(dt_s, 3),
        })
    df = pd.DataFrame(rows)
    aligned = df[df.cohort_aligned]
    not_aligned = df[~df.cohort_aligned]
    shifted_ok = df[df.shift_ok]
    return {
        "schema": "pairing_audit", "schema_version": 1,
        "command": f"python -m modic_core.train.pairing_audit --cohort {cohort} --seed {seed}",
        "n_studies": int(len(df)),
        "aligned_pairs": {"n": int(len(aligned)), "passed": int(aligned.ok.sum()),
                          "passed_by_header": int(((aligned.method == "header") & aligned.ok).sum()),
                          "repaired": int(((aligned.method != "header") & aligned.ok).sum()),
                          "false_alarms": aligned[~aligned.ok].study_id.tolist()},
        "not_aligned_pairs": {"n": int(len(not_aligned)),
                              "flagged": not_aligned[~not_aligned.ok].study_id.tolist(),
                              "repaired": not_aligned[not_aligned.ok & (not_aligned.method != "header")].study_id.tolist(),
                              "passed_on_header": not_aligned[not_aligned.ok & (not_aligned.method == "header")].study_id.tolist(),
                              "detail": not_aligned[["study_id", "method", "ok", "residual_mm", "discs_matched", "discs_t1"]].to_dict("records")},
        "table_shift": {"n": int(len(df)), "recovered": int(len(shifted_ok)),
                        "median_error_mm": float(shifted_ok.shift_error_mm.median()) if len(shifted_ok) else None,
                        "p95_error_mm": float(shifted_ok.shift_error_mm.quantile(0.95)) if len(shifted_ok) else None,
                        "not_recovered": df[~df.shift_ok].study_id.tolist()},
        "wrong_pairs": {k: _wrong(df.study_id.tolist(), df[f"{k}_flagged"].tolist()) for k in ("swapped", "upside_down", "near_identical")},
        "content_scores": {k: {"min": float(aligned[k].min()), "max": float(aligned[k].max())}
                           for k in ("contrast_score", "similarity", "flip_gain") if aligned[k].notna().any()},
        "seconds": {"check_median": float(df.seconds.median()), "check_with_repair_median": float(df.shift_seconds.median())},
        "studies": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cohort", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=Path("weights/pairing_audit.json"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int)
    args = ap.parse_args(argv)
    doc = run(args.cohort, seed=args.seed, limit=args.limit)
    PairingAudit.from_dict(doc).save(args.out)
    print(json.dumps({k: v for k, v in doc.items() if k != "studies"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
