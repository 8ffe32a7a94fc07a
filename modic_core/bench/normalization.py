"""CPU timing of every normalization method: ``python -m modic_core.bench.normalization``.

Times :func:`modic_core.normalization.methods.normalize` (foreground mask included) on a
seeded synthetic 15 x 512 x 512 float32 volume (a noisy elliptical "body" with
bright and dark structures inside an air background), ``repeats`` runs per method
after one warm-up call, and prints median / min / max seconds. Every method except
``n4_zscore`` should take < 0.2 s (``limit_s``). Nyul landmarks are fitted once on
the same volume beforehand (fitting time reported separately, not counted).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any, Sequence

import numpy as np

from modic_core.normalization.methods import NORMALIZATIONS, fit_nyul, foreground_mask, normalize
from modic_core.schema import write_json_atomic
from modic_core.volume import Volume

__all__ = ["LIMIT_S", "bench_volume", "run_benchmark", "main"]

LIMIT_S = 0.2
EXEMPT = ("n4_zscore",)


def bench_volume(shape: tuple[int, int, int] = (15, 512, 512), *, seed: int = 0) -> Volume:
    """Seeded phantom: elliptical body (~50 % of voxels) with a smooth bias, inner structures and noise."""
    rng = np.random.default_rng(seed)
    z, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((yy - h / 2) / (0.45 * h)) ** 2 + ((xx - w / 2) / (0.35 * w)) ** 2
    body = r2 < 1
    tissue = 300 + 60 * np.sin(xx / 17) * np.cos(yy / 23)
    tissue = np.where(((yy - h / 2) / (0.3 * h)) ** 2 + ((xx - w / 2) / (0.06 * w)) ** 2 < 1, 550, tissue)  # bright canal
    tissue = np.where((np.mod(yy, h / 6) < h / 40) & (np.abs(xx - 0.4 * w) < 0.08 * w), 120, tissue)  # dark discs
    bias = 1 + 0.3 * (yy / h)
    img = np.where(body, tissue * bias, 8.0).astype(np.float32)
    vol = np.repeat(img[None], z, axis=0) + rng.normal(0, 12, (z, h, w)).astype(np.float32)
    return Volume(np.abs(vol), (4.0, 0.6, 0.6))


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up (imports, caches)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run_benchmark(
    *,
    shape: tuple[int, int, int] = (15, 512, 512),
    repeats: int = 5,
    methods: Sequence[str] | None = None,
    n4_repeats: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Time each method; returns a JSON-serialisable dict (seconds)."""
    vol = bench_volume(shape, seed=seed)
    t0 = time.perf_counter()
    landmarks = fit_nyul([vol])
    fit_s = time.perf_counter() - t0
    names = list(methods) if methods else list(NORMALIZATIONS)
    results: dict[str, Any] = {}
    mask_times = _time(lambda: foreground_mask(vol), repeats)
    results["_foreground_mask"] = _summary(mask_times, exempt=False)
    for name in names:
        n = n4_repeats if name in EXEMPT else repeats
        times = _time(lambda name=name: normalize(vol, name, landmarks=landmarks), n)
        results[name] = _summary(times, exempt=name in EXEMPT)
    return {
        "shape": list(shape),
        "dtype": "float32",
        "repeats": repeats,
        "limit_s": LIMIT_S,
        "exempt": list(EXEMPT),
        "nyul_fit_s": round(fit_s, 4),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "methods": results,
        "all_within_limit": all(r["within_limit"] for k, r in results.items() if not r["exempt"]),
    }


def _summary(times: list[float], *, exempt: bool) -> dict[str, Any]:
    med = float(np.median(times))
    return {
        "median_s": round(med, 4),
        "min_s": round(float(min(times)), 4),
        "max_s": round(float(max(times)), 4),
        "runs": len(times),
        "exempt": exempt,
        "within_limit": bool(med < LIMIT_S) or exempt,
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"normalization timing on {'x'.join(map(str, result['shape']))} float32, CPU ({result['cpu_count']} cores), "
        f"median of {result['repeats']} runs (limit {result['limit_s']} s)",
        f"{'method':<18}{'median s':>10}{'min s':>9}{'max s':>9}  ok",
    ]
    for name, r in result["methods"].items():
        ok = "exempt" if r["exempt"] else ("yes" if r["within_limit"] else "NO")
        lines.append(f"{name:<18}{r['median_s']:>10.3f}{r['min_s']:>9.3f}{r['max_s']:>9.3f}  {ok}  (n={r['runs']})")
    lines.append(f"nyul landmark fit (1 volume): {result['nyul_fit_s']:.3f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m modic_core.bench.normalization", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shape", type=int, nargs=3, default=(15, 512, 512), metavar=("Z", "Y", "X"))
    ap.add_argument("--methods", nargs="*", help="subset of methods (default all)")
    ap.add_argument("--json", dest="json_out", help="write the result dict here")
    args = ap.parse_args(argv)
    result = run_benchmark(shape=tuple(args.shape), repeats=max(1, args.repeats), methods=args.methods)
    print(format_table(result))
    if args.json_out:
        write_json_atomic(result, args.json_out, indent=1)
    return 0 if result["all_within_limit"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
