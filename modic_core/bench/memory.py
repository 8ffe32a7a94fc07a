"""Memory of the dashboard's analysis path under several sessions (part of ``make bench``).

    python -m modic_core.bench.memory [--sessions 6] [--studies 3] [--shape 15,512,512] [--json benchmarks/memory.json]

Simulates what ``streamlit run app.py`` keeps per browser session, with the shipped models: each
session has its own :class:`~modic_core.ui.session.AnalysisStore` (built as
:mod:`modic_core.ui.runtime` builds it, from :func:`modic_core.ui.backend.default_backend`) and
holds its current upload; it "uploads" ``--studies`` generated phantoms one after the other
(:func:`modic_core.datasets.synthetic.make_phantom`, 15 x 512 x 512 by default), and for each one
switches through every trained normalization method at three thresholds and draws the Grad-CAM
of every slice as the case viewer does. Prints the resident memory after each study, the peak
(``ru_maxrss``) and the resident memory once idle; target: peak < 2 GB.
"""
from __future__ import annotations

import argparse
import gc
import resource
import time

from modic_core import settings
from modic_core.logs import configure_logging, get_logger
from modic_core.schema import write_json_atomic

import torch

from modic_core.analysis.cache import result_cache, study_fingerprint
from modic_core.datasets.synthetic import make_phantom
from modic_core.export.render import slice_heatmap
from modic_core.ui.backend import default_backend
from modic_core.ui.session import AnalysisStore, models_status

__all__ = ["main", "run"]

LOGGER = get_logger(__name__)

TARGET_PEAK_GB = 2.0


def _rss_mb() -> float:
    """Resident memory of this process now (MiB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run(*, sessions: int = 6, studies: int = 3, shape: tuple[int, int, int] = (15, 512, 512),
        methods: list[str] | None = None, thresholds: tuple[float, ...] = (0.5, 0.3, 0.7)) -> dict:
    """Drive the sessions; returns the figures (MiB) and the settings used."""
    backend = default_backend()
    status = models_status(backend)
    if not status["detector"]:
        raise SystemExit("no detector weights installed (weights/detector.pt): nothing to measure")
    methods = methods or [m for m, ok in status["classifiers"].items() if ok]
    spacing = (4.0, 256.0 / shape[1], 256.0 / shape[2])  # a 256 mm field of view
    t0 = time.perf_counter()
    for m in methods:
        backend.prepare(m)  # every model resident, as in a dashboard that has served every method
    after_models = _rss_mb()
    live = []  # what each session keeps: its store, its current upload, the report on screen
    steps = []
    for s in range(sessions):
        store = AnalysisStore(backend.make_analysis, max_bytes=settings.session_cache_bytes())
        session = {"store": store, "study": None, "report": None}
        live.append(session)
        for k in range(studies):
            study = make_phantom(seed=1000 + s * studies + k, shape=shape, spacing=spacing).to_study()
            session["study"] = study  # the upload cache keeps only the current pair
            fp = study_fingerprint(study)
            for m in methods:
                for thr in thresholds:
                    report = store.get(fp, study).report(m, thr)
                    store.trim()
                    for z in range(study.t1.shape[0]):
                        slice_heatmap(report.levels, z, study.t1.shape[1:])
            session["report"] = report
            steps.append({"session": s, "study": k, "rss_mb": round(_rss_mb(), 1), "peak_mb": round(_peak_mb(), 1),
                          "store_mb": round(store.nbytes / 2**20, 1), "result_cache_mb": round(result_cache().nbytes / 2**20, 1),
                          "seconds": round(time.perf_counter() - t0, 1)})
            LOGGER.info("session {session} study {study}: rss {rss_mb:.0f} MB, peak {peak_mb:.0f} MB, this session's store "
                        "{store_mb:.0f} MB, result cache {result_cache_mb:.0f} MB ({seconds:.0f} s)".format(**steps[-1]))
    gc.collect()
    peak = _peak_mb()
    return {
        "sessions": sessions, "studies_per_session": studies, "shape": list(shape), "methods": methods,
        "thresholds": list(thresholds), "torch_threads": torch.get_num_threads(),
        "session_cache_mb": settings.session_cache_bytes() / 2**20, "result_cache_budget_mb": result_cache().max_bytes / 2**20,
        "rss_after_models_mb": round(after_models, 1), "peak_rss_mb": round(peak, 1), "idle_rss_mb": round(_rss_mb(), 1),
        "result_cache_mb": round(result_cache().nbytes / 2**20, 1),
        "stores_mb": round(sum(x["store"].nbytes for x in live) / 2**20, 1), "steps": steps,
        "target_peak_gb": TARGET_PEAK_GB, "meets_target": peak / 1024 < TARGET_PEAK_GB,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--studies", type=int, default=3, help="uploads per session, one after the other")
    ap.add_argument("--shape", default="15,512,512", help="phantom size z,y,x")
    ap.add_argument("--methods", default="", help="comma-separated normalizations (default: every trained one)")
    ap.add_argument("--json", default="benchmarks/memory.json")
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    shape = tuple(int(v) for v in args.shape.split(","))
    doc = run(sessions=args.sessions, studies=args.studies, shape=shape,  # type: ignore[arg-type]
              methods=[m for m in args.methods.split(",") if m] or None)
    print(f"{doc['sessions']} sessions x {doc['studies_per_session']} studies {tuple(doc['shape'])}, methods "
          f"{','.join(doc['methods'])}: peak RSS {doc['peak_rss_mb'] / 1024:.2f} GB (target < {TARGET_PEAK_GB} GB: "
          f"{'met' if doc['meets_target'] else 'NOT met'}), idle RSS {doc['idle_rss_mb'] / 1024:.2f} GB, "
          f"after loading the models {doc['rss_after_models_mb'] / 1024:.2f} GB")
    p = write_json_atomic(doc, args.json)
    print("wrote", p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
