"""Cohort-scale batch throughput: ``--engine local`` against ``--engine ray`` (part of ``make bench``).

    python -m modic_core.bench.batch_scaling [--single 200] [--multi 24] [--json benchmarks/batch_scaling.json]

Generates cohorts of seeded phantoms (:mod:`modic_core.datasets.synthetic`) in the cohort format
(:mod:`modic_core.datasets.cohort`: ``studies.csv``, ``levels.csv``, one ``.mha`` pair per study)
in a temporary folder: ``--single`` single-slice studies (320 x 320, like spider2d) and ``--multi``
15-slice studies (15 x 256 x 256). Each cohort is analysed by the batch CLI's two engines with
the shipped models, writing Parquet: studies per minute (wall clock, start-up included and
apart), the peak memory of each worker process (the local process; each Ray actor, and the read
tasks), and the per-study cost split (read / detect / classify / write, median seconds on one
CPU thread, measured in this process on a sample) from which a cluster's throughput is projected.

No GPU is used or assumed available here: GPU figures are not measured; the projection says
what the CPU-side costs bound.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
import sys

import pandas as pd
import torch

from modic_core.batch.rows import level_rows

from modic_core import settings
from modic_core.logs import configure_logging, get_logger
from modic_core.analysis.analyze import StudyAnalysis
from modic_core.batch.local import open_cohort
from modic_core.batch.sink import ResultSink
from modic_core.classification import load_classifier
from modic_core.datasets.synthetic import make_phantom, make_phantom_2d
from modic_core.detection import load_detector
from modic_core.schema import BatchProgress, BatchScaling, Machine

__all__ = ["main", "measure_cost_split", "run", "write_phantom_cohort"]

LOGGER = get_logger(__name__)

SINGLE_SHAPE = (320, 320)
MULTI_SHAPE = (15, 256, 256)


def write_phantom_cohort(folder: str | Path, *, n_single: int = 0, n_multi: int = 0, seed: int = 0) -> Path:
    """Write ``n_single`` single-slice and ``n_multi`` 15-slice phantom studies as a cohort folder
    (``studies/<id>/t1.mha, t2.mha``; IDs ``s0000..`` and ``m0000..``); returns the folder."""
    folder = Path(folder)
    rows, levels = [], []
    grades = [{}, {"L4-L5": (2, "both")}, {"L5-S1": (1, "upper")}, {"L3-L4": (1, "both"), "L5-S1": (2, "lower")}]
    specs = [(f"s{i:04d}", "single", i) for i in range(n_single)] + [(f"m{i:04d}", "multi", i) for i in range(n_multi)]
    for sid, kind, i in specs:
        modic = grades[i % len(grades)]
        if kind == "single":
            ph = make_phantom_2d(seed=seed + 7919 * i + 1, shape=SINGLE_SHAPE, modic=modic)
        else:
            ph = make_phantom(seed=seed + 7919 * i + 2, shape=MULTI_SHAPE, spacing=(4.0, 1.0, 1.0), modic=modic)
        ph.write(folder / "studies" / sid, fmt="mha")
        rows.append({"study_id": sid, "t1": f"studies/{sid}/t1.mha", "t2": f"studies/{sid}/t2.mha", "subset": "synthetic",
                     "manufacturer": ph.t1.meta.manufacturer, "field_strength_t": ph.t1.meta.field_strength_t})
        for lv in ph.levels:
            x0, y0, x1, y1 = lv.box
            levels.append({"study_id": sid, "level": lv.level, "ivd_label": lv.ivd_label, "modic": lv.modic,
                           "x0": x0, "y0": y0, "x1": x1, "y1": y1, "z0": lv.z_range[0], "z1": lv.z_range[1]})
    pd.DataFrame(rows).to_csv(folder / "studies.csv", index=False)
    pd.DataFrame(levels).to_csv(folder / "levels.csv", index=False)
    return folder


def _rss_children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _run_cli(args: list[str]) -> tuple[float, float, str]:
    """Run the batch CLI in a fresh process: (wall seconds, peak RSS MiB of that process, stderr)."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-c",
           "import resource, sys; from modic_core.batch.local import main; rc = main(sys.argv[1:]); "
           "print('PEAK_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr); sys.exit(rc)", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"batch CLI failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak = max([float(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_MB")] or [0.0])
    return wall, peak, proc.stderr


def measure_cost_split(folder: Path, *, sample: int = 12, normalization: str = "zscore", threshold: float = 0.5) -> dict[str, float]:
    """Median seconds per study of read (+pair), detect (+alignment check), classify (+report) and write
    (one Parquet part per study, the worst case), in this process with one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    det = load_detector()
    load_classifier(normalization)
    split: dict[str, list[float]] = {"read": [], "detect": [], "classify": [], "write": []}
    try:
        with open_cohort(folder) as studies, tempfile.TemporaryDirectory(prefix="modic_split_") as tmp:
            sink = ResultSink(Path(tmp) / "r.parquet", total=sample, flush_studies=1)
            for cs in studies[:sample]:
                t0 = time.perf_counter()
                study = cs.load()
                t1 = time.perf_counter()
                sa = StudyAnalysis(study, detector=det)
                sa.detections()
                sa.alignment()
                t2 = time.perf_counter()
                report = sa.report(normalization, threshold, gradcam=False)
                rows = level_rows(cs.study_id, report, normalization, threshold)
                t3 = time.perf_counter()
                sink.add({"study_id": cs.study_id, "status": "ok", "n_levels": len(rows), "seconds": 0.0,
                          "alignment": "", "message": ""}, rows)
                t4 = time.perf_counter()
                for k, v in zip(split, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    v = round(v, 4)
                    split[k].append(v)
    finally:
        torch.set_num_threads(threads)
    med = {k: round(statistics.median(v), 4) for k, v in split.items()}
    med["total"] = round(sum(med.values()), 4)
    med["n"] = float(len(split["read"]))
    return med


def _engine_figures(folder: Path, engine: str, n: int, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{folder.name}-{engine}.parquet"
    args = [str(folder), "--out", str(out), "--no-resume", "--n-boot", "10", "--engine", engine]
    wall, peak, err = _run_cli(args)
    status = pd.read_csv(out.with_name(out.stem + ".status.csv"), dtype=str, keep_default_na=False)
    prog = BatchProgress.load(out.with_name(out.stem + ".progress.json"))
    fig: dict[str, Any] = {"studies": n, "ok": int((status["status"] == "ok").sum()), "wall_s": round(wall, 1),
                           "studies_per_minute": round(60 * n / wall, 1), "driver_peak_mb": round(peak, 0),
                           "state": prog.state, "load_avg_1m_after": round(os.getloadavg()[0], 1)}
    if engine == "ray":
        fig.update(plan=prog.plan, actor_peak_mb=sorted(round(v) for v in (prog.worker_peak_mb or {}).values()),
                   read_worker_peak_mb=round(prog.read_peak_mb or 0.0))
        fig["studies_per_minute_after_startup"] = _after_startup(err, n)
    return fig


def _after_startup(err: str, n: int) -> float | None:
    """Studies per minute of the Ray pipeline itself (from the CLI's 'ray: ... N studies in S s' line)."""
    for line in err.splitlines():
        if line.startswith("ray: ") and " studies in " in line:
            seconds = float(line.rsplit(" studies in ", 1)[1].split()[0])
            return round(60 * n / seconds, 1) if seconds > 0 else None
    return None


def run(*, n_single: int = 200, n_multi: int = 24, seed: int = 0, sample: int = 12) -> dict[str, Any]:
    """Generate the cohorts, run both engines on each, measure the cost split; returns the figures."""
    cohorts: dict[str, dict[str, Any]] = {}
    split: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="modic_scaling_") as tmp_s:
        tmp = Path(tmp_s)
        for name, ns, nm, shape in (("single_slice", n_single, 0, list(SINGLE_SHAPE)), ("15_slice", 0, n_multi, list(MULTI_SHAPE))):
            n = ns + nm
            if n == 0:
                continue
            t0 = time.perf_counter()
            folder = write_phantom_cohort(tmp / name, n_single=ns, n_multi=nm, seed=seed)
            LOGGER.info("%s: generated %d studies in %.0f s", name, n, time.perf_counter() - t0)
            engines = {}
            for engine in ("local", "ray"):
                engines[engine] = _engine_figures(folder, engine, n, tmp)
                LOGGER.info("  %s: %s", engine, engines[engine])
            split[name] = measure_cost_split(folder, sample=min(sample, n))
            LOGGER.info("  cost split (s/study, 1 thread): %s", split[name])
            cohorts[name] = {"studies": n, "shape": shape, "engines": engines}
            shutil.rmtree(folder, ignore_errors=True)
    return {"cohorts": cohorts, "cost_split_s": split, "projection": project(split)}


def project(split: dict[str, dict[str, float]], *, cores_per_gpu: int = 8) -> dict[str, Any]:
    """Studies per hour that the measured per-study CPU costs imply.

    ``studies_per_cpu_core_hour``: 3600 / (read + detect + classify + write), measured on one core.
    ``gpu_hour_ceiling_projected``: a projection, not a measurement: even if the networks took no
    time on the GPU, one GPU fed by ``cores_per_gpu`` cores cannot go faster than those cores read
    and write studies: 3600 * cores_per_gpu / (read + write). The real figure is lower by the GPU
    time of detect and classify, which was not measured.
    """
    out: dict[str, Any] = {"assumptions": f"CPU: one core per study stream, measured; GPU: {cores_per_gpu} CPU cores per GPU "
                           "reading and writing, network time taken as zero (an upper bound, not measured)",
                           "gpu_measured": False}
    for name, s in split.items():
        cpu = s["read"] + s["detect"] + s["classify"] + s["write"]
        io = max(1e-6, s["read"] + s["write"])
        out[name] = {"studies_per_cpu_core_hour": round(3600 / cpu), "gpu_hour_ceiling_projected": round(3600 * cores_per_gpu / io)}
    return out


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m modic_core.bench.batch_scaling", description=__doc__.split("\n\n")[0])
    ap.add_argument("--single", type=int, default=200, help="single-slice studies (default 200)")
    ap.add_argument("--multi", type=int, default=24, help="15-slice studies (default 24)")
    ap.add_argument("--sample", type=int, default=12, help="studies timed stage by stage for the cost split")
    ap.add_argument("--json", default="benchmarks/batch_scaling.json")
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    figures = run(n_single=args.single, n_multi=args.multi, sample=args.sample)
    doc = BatchScaling(
        when=time.strftime("%Y-%m-%dT%H:%M:%S"), commit=_commit(),
        machine=Machine(cpu_count=os.cpu_count() or 0, torch_threads=torch.get_num_threads(), python=platform.python_version(),
                        torch=torch.__version__, gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None),
        cohorts=figures["cohorts"], cost_split_s=figures["cost_split_s"], projection=figures["projection"],
        gpu=None if torch.cuda.is_available() else "not measured (no GPU on this machine)",
    )
    path = doc.save(args.json)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
