"""The batch mode on Ray Data: one laptop or a GPU cluster, the same command.

    python -m modic_core.batch COHORT --out results.parquet --engine ray [--address auto|ray://host:port]
        [--num-gpus-per-worker F] [--concurrency N]

Pipeline (streaming, :func:`run_ray`)::

    list studies (driver: studies.csv, paths checked)  ->  from_items(study_id, t1, t2)
      -> map_batches(read_studies)      Ray tasks, CPU: read + pair; a bad study becomes an error row
      -> map_batches(StudyAnalyzer)     actor pool: models loaded once per actor (GPU if it has one);
                                        detect + classify the studies of a batch in one pass per stage
      -> iter_batches on the driver     ResultSink: CSV or Parquet parts, then status rows

Without ``address`` a local Ray is started on this machine (and stopped at the end); with
``auto`` or ``ray://host:port`` an existing cluster is used, whose nodes must see the cohort and
the weights at the same paths (a shared filesystem) and have ``modic_core`` installed. A
``host:port`` address (given, or in ``RAY_ADDRESS``) is checked first (:func:`check_reachable`: a
TCP connection and the gRPC server's first HTTP/2 frame, within :data:`CONNECT_TIMEOUT_S`), since
``ray.init`` retries an address where no Ray answers for minutes without a word.

Resources are sized from what the cluster has (:func:`plan_resources`): on a 2-CPU machine an
actor that takes a whole CPU starves the read tasks and the pipeline never moves, so each actor
gets a share that leaves room for reading. A pipeline that still makes no progress for
``stall_timeout_s`` fails with :class:`PipelineStalled` naming what was asked and what exists.

Fault tolerance: the actors are restarted when they die and their batch is retried (Ray Data's
default, bounded here by ``max_task_retries``); the driver writes each study once
(:class:`~modic_core.batch.sink.ResultSink` drops a repeat), so a killed actor neither loses nor
duplicates rows. Rerunning skips the studies already written (the caller passes ``skip_ids``).
"""
from __future__ import annotations

import math
import os
import socket
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from modic_core.batch.actors import StudyAnalyzer, read_studies, row_to_outputs
from modic_core.batch.sink import ResultSink
from modic_core.datasets.cohort import CohortStudy
from modic_core.errors import InputError
from modic_core.logs import get_logger

__all__ = ["PipelineStalled", "RayRun", "ResourcePlan", "check_reachable", "plan_resources", "ray_session", "run_ray"]

GPU_BATCH = 8  # studies per actor call on a GPU
CPU_BATCH = 2  # studies per actor call on the CPU
READ_BATCH = 2  # studies per read task
MAX_TASK_RETRIES = 3
CONNECT_TIMEOUT_S = 10.0  # seconds for the TCP connection to a cluster address, and again for its first answer
RAY_CLIENT_PORT = 10001  # default port of ray://host
LOGGER = get_logger(__name__)
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")  # + an empty SETTINGS frame


class PipelineStalled(InputError):
    """The Ray pipeline made no progress (or its actors could not start) within the stall timeout."""


@dataclass(frozen=True)
class ResourcePlan:
    """What each stage asks of the cluster (Ray logical resources)."""

    cluster_cpus: float
    cluster_gpus: float
    concurrency: int  # actors
    actor_cpus: float
    actor_gpus: float
    read_cpus: float  # per read task
    batch_size: int  # studies per actor call
    torch_threads: int

    def describe(self) -> str:
        gpu = f" and {self.actor_gpus:g} GPU" if self.actor_gpus else ""
        return (f"{self.concurrency} actor(s) of {self.actor_cpus:g} CPU{gpu} each, read tasks of {self.read_cpus:g} CPU, "
                f"on a cluster of {self.cluster_cpus:g} CPU and {self.cluster_gpus:g} GPU")


def _floor(x: float, step: float = 0.05) -> float:
    return math.floor(x / step + 1e-9) * step


def plan_resources(*, cpus: float, gpus: float, concurrency: int | None = None, gpus_per_worker: float | None = None,
                   batch_size: int | None = None) -> ResourcePlan:
    """Size the actor pool and the read tasks from the cluster's CPUs and GPUs.

    A quarter of the CPUs (at least half a CPU) stays free for the read tasks; the actors share
    the rest (at most one CPU each on a CPU-only cluster, up to four beside a GPU).
    Without ``gpus_per_worker`` actors take one GPU each when the cluster has GPUs, none otherwise;
    without ``concurrency`` there is one actor per GPU share, or about 3 per 4 CPUs.
    InputError when the request cannot fit (more GPU than exists, too many actors).
    """
    if cpus < 1:
        raise InputError(f"The Ray cluster has {cpus:g} CPU; the batch needs at least one.")
    if gpus_per_worker is None:
        gpus_per_worker = 1.0 if gpus >= 1 else 0.0
    if gpus_per_worker < 0:
        raise InputError("--num-gpus-per-worker must be 0 or more.")
    if gpus_per_worker > 0 and gpus < gpus_per_worker:
        raise InputError(f"--num-gpus-per-worker {gpus_per_worker:g} asks for more GPU than the Ray cluster has ({gpus:g}); "
                         "use 0 to run on CPUs, or connect to a cluster with GPUs (--address).")
    reserve = max(0.5, 0.25 * cpus)
    if concurrency is None:
        concurrency = int(gpus // gpus_per_worker) if gpus_per_worker > 0 else max(1, int(0.75 * cpus + 0.5))
    if concurrency < 1:
        raise InputError("--concurrency must be at least 1.")
    if gpus_per_worker > 0 and concurrency * gpus_per_worker > gpus + 1e-9:
        raise InputError(f"--concurrency {concurrency} actors of {gpus_per_worker:g} GPU need {concurrency * gpus_per_worker:g} GPU; "
                         f"the cluster has {gpus:g}.")
    share = _floor((cpus - reserve) / concurrency)
    actor_cpus = min(4.0 if gpus_per_worker > 0 else 1.0, share)
    if actor_cpus < 0.1:
        most = int((cpus - reserve) / 0.1)
        raise InputError(f"--concurrency {concurrency} is more actors than {cpus:g} CPUs can run beside the read tasks; "
                         f"use at most {most}.")
    if batch_size is None:
        batch_size = GPU_BATCH if gpus_per_worker > 0 else CPU_BATCH
    return ResourcePlan(cluster_cpus=float(cpus), cluster_gpus=float(gpus), concurrency=int(concurrency),
                        actor_cpus=round(actor_cpus, 2), actor_gpus=float(gpus_per_worker),
                        read_cpus=round(min(1.0, _floor(reserve)), 2), batch_size=max(1, int(batch_size)),
                        torch_threads=max(1, int(actor_cpus)))


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``host:port`` or ``ray://host[:port]``; None for ``auto``/``local``; InputError for anything else."""
    text = address.strip()
    if text in ("auto", "local"):
        return None
    client = text.startswith("ray://")
    rest = text[len("ray://"):] if client else text
    if rest.startswith("["):  # [IPv6]:port
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    else:  # no port (or a bare IPv6 address, which needs brackets with a port)
        host, port = rest, ""
    if not port and client:
        port = str(RAY_CLIENT_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"'{address}' is not a Ray cluster address; give auto, HOST:PORT (e.g. 10.0.0.5:6379) or "
                         "ray://HOST:PORT.")
    return host, int(port)


def check_reachable(address: str, *, timeout_s: float | None = None) -> None:
    """InputError (one sentence, within about ``2 * timeout_s``) unless a gRPC server answers at ``address``.

    Ray's head (GCS, ``host:port``) and Ray Client (``ray://``) are gRPC servers: a TCP connection
    must open within ``timeout_s`` (default :data:`CONNECT_TIMEOUT_S`) and the server must send its
    first HTTP/2 frame (SETTINGS) within ``timeout_s`` more. With ``RAY_USE_TLS`` only the connection
    is checked. ``auto`` is left to Ray (it fails at once when no cluster runs on this machine).
    """
    where = _host_port(address)
    if where is None:
        return
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    hint = "start it (`ray start --head`) or check the address and port"
    try:
        conn = socket.create_connection(where, timeout=timeout_s)
    except socket.timeout:
        raise InputError(f"The Ray cluster at '{address}' did not accept a connection within {timeout_s:g} s; {hint}.") from None
    except OSError as exc:
        why = "refused the connection" if isinstance(exc, ConnectionRefusedError) else f"cannot be reached ({type(exc).__name__})"
        raise InputError(f"The Ray cluster at '{address}' {why}: no Ray runs there; {hint}.") from None
    with conn:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        try:
            conn.sendall(_HTTP2_PREFACE)
            head = conn.recv(9)
        except OSError:
            head = b""
    if len(head) < 4 or head[3] != 0x4:  # frame type 4: SETTINGS, what every gRPC server sends first
        raise InputError(f"Something answers at '{address}', but not a Ray cluster (no gRPC reply within {timeout_s:g} s); "
                         f"{hint} (Ray's head listens on 6379, Ray Client on 10001).")


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, connected: reuses one already initialised in this process; else starts a local one
    (``address`` None; ``num_cpus`` defaults to every core) or connects to ``auto`` / ``ray://host:port``,
    and shuts down what it started."""
    import ray  # lazy: ray is optional (pip install .[ray]); only the ray engine needs it

    if ray.is_initialized():
        yield ray
        return
    target = address if address not in (None, "auto") else (os.environ.get("RAY_ADDRESS") or address)
    if target is not None:
        check_reachable(target)  # ray.init would retry a dead address for minutes, silently
    env = {k: v for k, v in os.environ.items() if k.startswith("MODIC_")}
    kwargs: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
    if address is None:
        kwargs.update(num_cpus=num_cpus, include_dashboard=False, runtime_env={"env_vars": env} if env else None)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"Could not connect to the Ray cluster at '{address}' ({type(exc).__name__}); start it "
                         "(`ray start --head`) or check the address.") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass
class RayRun:
    """What :func:`run_ray` did (no per-level rows: those are on disk)."""

    plan: ResourcePlan
    total: int = 0
    skipped: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)  # study_id, status, message (capped)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "detect": 0.0, "classify": 0.0, "write": 0.0})
    n_analysed: int = 0  # studies with stage timings (status ok)
    worker_peak_mb: dict[str, float] = field(default_factory=dict)  # actor process -> peak RSS
    read_peak_mb: float = 0.0
    duplicates: int = 0


def _items(studies: Iterable[CohortStudy]) -> list[dict[str, str]]:
    return [{"study_id": s.study_id, "t1": str(s.t1_path), "t2": str(s.t2_path)} for s in studies]


def run_ray(
    studies: Iterable[CohortStudy],
    *,
    sink: ResultSink,
    normalization: str,
    threshold: float,
    skip_ids: Iterable[str] = (),
    address: str | None = None,
    num_cpus: int | None = None,
    concurrency: int | None = None,
    gpus_per_worker: float | None = None,
    batch_size: int | None = None,
    stall_timeout_s: float = 600.0,
    progress: Callable[[int, int, str], Any] | None = None,
    analyzer: type[StudyAnalyzer] = StudyAnalyzer,
) -> RayRun:
    """Analyse ``studies`` on Ray Data, writing every result through ``sink``; see the module docstring.

    ``analyzer``: the actor class, :class:`~modic_core.batch.actors.StudyAnalyzer` or a subclass (the
    tests pass one whose actor dies or hangs, to check the retries and the stall timeout).
    """
    skip = {str(s) for s in skip_ids}
    studies = list(studies)
    todo = [s for s in studies if s.study_id not in skip]
    t_start = time.perf_counter()
    with ray_session(address, num_cpus=num_cpus) as ray:
        res = ray.cluster_resources()
        plan = plan_resources(cpus=res.get("CPU", 0.0), gpus=res.get("GPU", 0.0), concurrency=concurrency,
                              gpus_per_worker=gpus_per_worker, batch_size=batch_size)
        run = RayRun(plan=plan, total=len(todo), skipped=[s.study_id for s in studies if s.study_id in skip])
        if not todo:
            return run
        import ray.data  # lazy: ray is optional (pip install .[ray]); only the ray engine needs it
        # lazy: ray is optional (pip install .[ray]); only the ray engine needs it
        from ray.data import ActorPoolStrategy, DataContext

        ctx = DataContext.get_current()
        ctx.execution_no_progress_timeout_s = float(stall_timeout_s)
        ctx.wait_for_min_actors_s = int(max(1, stall_timeout_s))
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        ds = ray.data.from_items(_items(todo), override_num_blocks=max(1, math.ceil(len(todo) / READ_BATCH)))
        ds = ds.map_batches(read_studies, batch_format="pandas", batch_size=READ_BATCH, num_cpus=plan.read_cpus)
        with warnings.catch_warnings():  # ray_remote_args_fn: the one way to bound retries in Ray 2.60
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = ds.map_batches(
                analyzer, batch_format="pandas", batch_size=plan.batch_size,
                compute=ActorPoolStrategy(size=plan.concurrency),
                fn_constructor_kwargs={"normalization": normalization, "threshold": float(threshold),
                                       "torch_threads": plan.torch_threads},
                num_cpus=plan.actor_cpus, num_gpus=plan.actor_gpus or None, ray_remote_args_fn=_retry_args,
            )
        sink.info["plan"] = plan.describe()
        done = 0
        batches = iter(ds.iter_batches(batch_size=None, batch_format="pandas"))
        try:
            for batch in batches:
                for row in batch.to_dict("records"):
                    status, rows = row_to_outputs(row)
                    if not sink.add(status, rows):
                        continue  # a retried batch repeating a study already written
                    run.counts[status["status"]] += 1
                    if status["status"] != "ok":
                        LOGGER.warning("study %s: %s: %s", status["study_id"], status["status"], status["message"])  # the actor's own log is Ray's
                        if len(run.failures) < 1000:
                            run.failures.append({k: status[k] for k in ("study_id", "status", "message")})
                    else:
                        run.n_analysed += 1
                        for k in ("read", "detect", "classify"):
                            run.stage_seconds[k] += float(row[f"{k}_s"])
                    run.worker_peak_mb[row["worker"]] = max(run.worker_peak_mb.get(row["worker"], 0.0), float(row["peak_mb"]))
                    run.read_peak_mb = max(run.read_peak_mb, float(row["read_peak_mb"]))
                    done += 1
                    if progress:
                        progress(done, len(todo), status["study_id"])
        except Exception as exc:
            sink.flush()
            if _is_stall(exc):
                sink.write_progress(state="stalled")
                raise PipelineStalled(
                    f"The Ray pipeline made no progress for {stall_timeout_s:g} s ({plan.describe()}); "
                    f"{done} of {len(todo)} studies were written. Lower --concurrency or --num-gpus-per-worker, give "
                    "the cluster more resources, or raise --stall-timeout if single studies are that slow; "
                    "rerun to resume."
                ) from None
            sink.write_progress(state="failed")
            raise
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # stop the executor and its actors when the loop ends early
        sink.info.update(plan=plan.describe(), worker_peak_mb={k: round(v, 1) for k, v in run.worker_peak_mb.items()},
                         read_peak_mb=round(run.read_peak_mb, 1))
        sink.close()
        sink.write_progress(state="finished")
        run.stage_seconds["write"] = sink.write_seconds
        run.seconds = time.perf_counter() - t_start
        run.duplicates = sink.duplicates
    return run


def _retry_args() -> dict[str, Any]:
    """Remote args of each actor: a batch whose actor died is retried on its replacement, a few times."""
    return {"max_restarts": -1, "max_task_retries": MAX_TASK_RETRIES}


def _is_stall(exc: BaseException) -> bool:
    # lazy: ray is optional (pip install .[ray]); only the ray engine needs it
    from ray.data.exceptions import ExecutionTimeoutError
    # lazy: ray is optional (pip install .[ray]); only the ray engine needs it
    from ray.exceptions import GetTimeoutError

    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (ExecutionTimeoutError, GetTimeoutError)) or "Timed out while starting actors" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False

