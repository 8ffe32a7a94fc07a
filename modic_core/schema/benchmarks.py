"""Benchmarks (``benchmarks/*.json``): timings of the analysis, the browser and the batch engines."""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from modic_core.schema.base import Document, Record

__all__ = ["Timing", "Machine", "DeviceBenchmark", "CohortThroughput", "Benchmark", "InteractionTiming", "BrowserBenchmark", "BatchScaling"]


class Timing(Record):
    """Seconds over ``n`` repeats."""

    median_s: float
    min_s: float
    max_s: float
    n: int
    to: str | None = None
    note: str | None = None


class Machine(Record):
    cpu_count: int
    torch_threads: int
    python: str
    torch: str
    gpu: str | None


class DeviceBenchmark(Record):
    device: str
    load_dicom_15_slice_pair: Timing
    load_spider2d_mha_pair: Timing
    methods: list[str]
    detection: Timing
    detection_single_slice: Timing
    classification_per_method: dict[str, dict[str, Timing]]
    analyze_15_slice: Timing
    threshold_change: Timing
    normalization_switch_per_method: dict[str, Timing]
    normalization_switch: Timing
    peak_rss_gb_after_all_models: float
    alignment_header: Timing | None = None  # the T1/T2 check when the header placement passes
    alignment_repair: Timing | None = None  # the check when T2 must be moved (other frame of reference)


class CohortThroughput(Record):
    cohort: str | None = None
    studies: int | None = None
    seconds: float | None = None
    studies_per_minute: float | None = None
    ok: int | None = None
    skipped: str | None = None


class Benchmark(Document):
    """``benchmarks/latest.json`` (modic_core.bench.benchmark)."""

    KIND: ClassVar[str] = "benchmark"
    VERSION: ClassVar[int] = 1

    when: str
    commit: str | None
    machine: Machine
    targets: dict[str, float]
    cpu: DeviceBenchmark
    cohort_throughput: CohortThroughput
    normalization_15x512x512: dict[str, Any]  # modic_core.bench.normalization.run_benchmark
    target_check: dict[str, tuple[float, bool]]  # name: (measured, within target)
    gpu: DeviceBenchmark | None = None
    synthetic_phantom_15x256x256: Timing | None = None  # make_phantom timing


class InteractionTiming(Record):
    """Milliseconds from a user's input to the settled page, over ``n`` repeats, against a target."""

    median_ms: float
    min_ms: float
    max_ms: float
    n: int
    target_ms: float
    within_target: bool
    samples_ms: list[float] = Field(default_factory=list)
    note: str | None = None


class BrowserBenchmark(Document):
    """``benchmarks/browser.json`` (modic_core.bench.browser): the case viewer's latency in a real browser."""

    KIND: ClassVar[str] = "browser_benchmark"
    VERSION: ClassVar[int] = 1

    when: str
    commit: str | None
    cpu_count: int
    load_average: list[float]  # 1-minute load before and after the run
    browser: str
    case: str
    settled: str  # what "settled" means
    interactions: dict[str, InteractionTiming]
    notes: list[str] = Field(default_factory=list)


class BatchScaling(Document):
    """``benchmarks/batch_scaling.json`` (:mod:`modic_core.bench.batch_scaling`): studies per minute of
    the local and Ray engines on generated cohorts, peak memory per worker, per-study cost split."""

    KIND: ClassVar[str] = "batch_scaling"
    VERSION: ClassVar[int] = 1

    when: str
    commit: str | None
    machine: Machine
    cohorts: dict[str, dict[str, Any]]  # name -> {studies, shape, engines: {engine: figures}}
    cost_split_s: dict[str, dict[str, float]]  # cohort -> {read, detect, classify, write, total}: median s per study
    projection: dict[str, Any]
    gpu: str | None = None  # "not measured" when no GPU was available
