"""Where batch results go: a CSV file or a Parquet folder, its status CSV and progress JSON.

Both engines (:mod:`modic_core.batch.local`, :mod:`modic_core.batch.ray_engine`) write through a
:class:`ResultSink`:

- ``--out results.csv``: per-level rows appended to one CSV (text cells escaped,
  :mod:`modic_core.io.csv_safe`), flushed after every study;
- ``--out results.parquet``: a *folder* of Parquet part files (``part-<run>-<n>.parquet``, the
  layout pandas, pyarrow, Spark and Ray Data read as one table), one part per
  :attr:`ResultSink.flush_studies` studies or :attr:`ResultSink.flush_seconds`, each written to a
  hidden temporary name and renamed, so a killed run never leaves half a part.

Status rows (:data:`~modic_core.batch.local.STATUS_COLUMNS`) go to ``results.status.csv`` only
after the rows of their studies are on disk, so a study with a status row is complete. A progress
summary (:class:`modic_core.schema.BatchProgress`: studies done, failed, left, and the failure
reasons counted) is rewritten at every flush to ``results.progress.json``.

A number that does not exist (the probabilities of a level that is not graded) is an empty CSV
cell, never the text ``nan``, which the evaluator and spreadsheets read as text. ``prediction_set``
(``"MC0|MC2"``) and ``set_coverage`` are written as :mod:`modic_core.export.fields` describes them
(empty without a conformal calibration); a CSV begun by an older version keeps its own header.

One batch at a time writes to an output: :func:`lock_output` takes an exclusive ``flock`` on a
hidden lock file (``<folder>/.<name>.lock`` next to a CSV, ``<name>.parquet/.lock`` inside a
Parquet folder); a second batch on the same ``--out`` is refused with the first one's pid. The
kernel drops the lock when the process ends, however it ends (``SIGKILL`` included); the file
stays (removing it would let two processes lock two different files).
"""
from __future__ import annotations

import csv
import fcntl
import math
import os
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from modic_core.errors import InputError
from modic_core.export.fields import alignment_columns
from modic_core.io.csv_safe import escape_row
from modic_core.datasets.tables import read_text_csv
from modic_core.schema import BatchProgress

__all__ = ["ResultSink", "OutputBusy", "is_parquet", "lock_output", "lock_path", "progress_path", "read_done", "read_results",
           "status_path"]

PRED_COLUMNS = ["study_id", "level", "prediction", "p_mc0", "p_mc1", "p_mc2", "score", "x0", "y0", "x1", "y1", "z0", "z1",
                "normalization", "threshold", "uncertain", "prediction_set", "set_coverage"]
#: ``warnings`` (the report's sentences), ``t1_t2_aligned`` and one ``alignment_<key>`` per key of the
#: alignment record, as in the per-study CSV (:mod:`modic_core.export.fields`); empty for a failed study.
STATUS_COLUMNS = ["study_id", "status", "n_levels", "seconds", "alignment", "message", "warnings", "t1_t2_aligned",
                  *alignment_columns()]
_FLOAT = ("p_mc0", "p_mc1", "p_mc2", "score", "x0", "y0", "x1", "y1", "threshold", "set_coverage")
_INT = ("z0", "z1")


def is_parquet(out: str | Path) -> bool:
    return Path(out).suffix.lower() in (".parquet", ".pq")


def status_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".status.csv")


def progress_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".progress.json")


def log_path(out: str | Path) -> Path:
    """The batch's log next to the output (``results.log``), appended to by every run on it."""
    out = Path(out)
    return out.with_name(out.stem + ".log")


def lock_path(out: str | Path) -> Path:
    """The lock file of an output: inside a Parquet folder, or hidden next to a CSV."""
    out = Path(out)
    return out / ".lock" if is_parquet(out) else out.with_name(f".{out.name}.lock")


class OutputBusy(InputError):
    """Another batch process holds the lock of this output."""


@contextmanager
def lock_output(out: str | Path) -> Iterator[Path]:
    """Hold an exclusive, non-blocking ``flock`` on the output's lock file while the block runs.

    OutputBusy (one sentence, with the holder's pid) when another process holds it. The lock
    file records this process's pid; the lock goes with the process (exit, crash or ``SIGKILL``).
    """
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            pid = f"pid {holder}" if holder.isdigit() else "pid unknown"
            raise OutputBusy(f"'{Path(out).name}' is in use: another batch is writing to this folder ({pid}); wait for it "
                             "to finish, or choose another --out.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _csv_cell(value: Any) -> Any:
    """An empty cell for a missing number (NaN/None), else the value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def append_csv(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    """Append ``rows`` to a CSV (header first when the file is new), escaped, flushed."""
    new = not path.is_file() or path.stat().st_size == 0
    if not new:  # a file begun by an older version keeps its own header (resuming never shifts columns)
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), None)
        if header:
            columns = header
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new:
            w.writeheader()
        for r in rows:
            w.writerow(escape_row(r))
        f.flush()


def _parquet_frame(rows: list[dict[str, Any]]):
    df = pd.DataFrame(rows, columns=PRED_COLUMNS)
    for c in _FLOAT:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for c in _INT:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    for c in ("study_id", "level", "prediction", "normalization", "prediction_set"):
        df[c] = df[c].astype("string")
    df["uncertain"] = df["uncertain"].map(lambda v: None if v is None or v == "" else str(v).lower() in ("true", "1")).astype("boolean")
    return df


def read_results(out: str | Path):
    """The written per-level rows (all parts of a Parquet folder, or the CSV) as a DataFrame."""
    out = Path(out)
    if is_parquet(out):
        parts = sorted(out.glob("part-*.parquet")) if out.is_dir() else []
        if not parts:
            return pd.DataFrame(columns=PRED_COLUMNS)
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    if not out.is_file():
        return pd.DataFrame(columns=PRED_COLUMNS)
    return read_text_csv(out, "The results file")


def read_status(status_file: Path):
    try:
        df = read_text_csv(status_file, "The status file")
    except InputError:
        return None
    return df if {"study_id", "status"} <= set(df.columns) else None


def read_done(out: str | Path, *, retry_failed: bool = False) -> set[str]:
    """Study IDs not to analyse again: every one in the status file (only the ``ok`` ones with
    ``retry_failed``), and every one with rows in the results."""
    out = Path(out)
    sfile = status_path(out)
    done: set[str] = set()
    if sfile.is_file():
        st = read_status(sfile)
        if st is not None:
            last = st.drop_duplicates("study_id", keep="last")
            done |= set(last.loc[last["status"] == "ok", "study_id"] if retry_failed else last["study_id"])
    try:
        if is_parquet(out):
            if out.is_dir():
                import pyarrow.parquet as pq  # lazy: pyarrow is heavy; only Parquet output needs it

                for p in out.glob("part-*.parquet"):
                    done |= set(map(str, pq.read_table(p, columns=["study_id"]).column(0).to_pylist()))
        elif out.is_file():
            rows = read_results(out)
            if "study_id" in rows.columns:
                done |= set(rows["study_id"])
    except (InputError, OSError, ValueError):
        pass
    return done


@dataclass
class ResultSink:
    """Buffered, crash-safe writer of per-level rows and per-study status rows.

    ``total``: studies in the cohort (for the progress file); ``already``: studies done before this run.
    """

    out: Path
    total: int = 0
    already: int = 0
    engine: str = "local"
    flush_studies: int = 64
    flush_seconds: float = 30.0
    counts: Counter = field(default_factory=Counter)  # status -> studies written by this run
    reasons: Counter = field(default_factory=Counter)  # failure message -> studies
    written_ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    write_seconds: float = 0.0
    _rows: list[dict[str, Any]] = field(default_factory=list)
    _status: list[dict[str, Any]] = field(default_factory=list)
    _last_flush: float = field(default_factory=time.monotonic)
    _run: str = field(default_factory=lambda: time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6])
    _part: int = 0
    info: dict[str, Any] = field(default_factory=dict)  # extra BatchProgress fields (the Ray engine's plan and memory)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if is_parquet(self.out):
            if self.out.exists() and not self.out.is_dir():
                raise InputError(f"'{self.out.name}' is a file; a Parquet output is a folder of parts: remove it or choose another --out.")
            self.out.mkdir(parents=True, exist_ok=True)
        else:
            self.flush_studies = 1  # CSV: every study is appended at once (an interrupted run loses at most one)

    @property
    def status_file(self) -> Path:
        return status_path(self.out)

    def add(self, status: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
        """Queue one study; False (and nothing queued) if this run already wrote it (a retried task)."""
        sid = str(status["study_id"])
        if sid in self.written_ids:
            self.duplicates += 1
            return False
        self.written_ids.add(sid)
        self._rows += rows
        self._status.append(status)
        if len(self._status) >= self.flush_studies or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()
        return True

    def flush(self) -> None:
        t0 = time.perf_counter()
        if self._rows or (self._status and not is_parquet(self.out)):
            if is_parquet(self.out):
                path = self.out / f"part-{self._run}-{self._part:06d}.parquet"
                tmp = self.out / f".{path.name}.tmp"
                _parquet_frame(self._rows).to_parquet(tmp, index=False)
                os.replace(tmp, path)
                self._part += 1
            else:
                append_csv(self.out, PRED_COLUMNS, [{k: _csv_cell(v) for k, v in r.items()} for r in self._rows])
        if self._status:
            append_csv(self.status_file, STATUS_COLUMNS, self._status)
            for s in self._status:
                self.counts[s["status"]] += 1
                if s["status"] != "ok":
                    self.reasons[(str(s.get("message") or s["status"]).splitlines() or [s["status"]])[0]] += 1  # not the traceback
        self._rows, self._status = [], []
        self._last_flush = time.monotonic()
        self.write_seconds += time.perf_counter() - t0
        self.write_progress()

    def close(self) -> None:
        self.flush()
        if not is_parquet(self.out) and not self.out.is_file():
            append_csv(self.out, PRED_COLUMNS, [])

    def write_progress(self, *, state: str = "running") -> None:
        done = sum(self.counts.values())
        failed = done - self.counts.get("ok", 0)
        BatchProgress(
            engine=self.engine, state=state, updated=time.strftime("%Y-%m-%dT%H:%M:%S"), studies_total=self.total,
            done_before=self.already, done_ok=self.counts.get("ok", 0), failed=failed,
            left=max(0, self.total - self.already - done), failure_reasons=dict(self.reasons.most_common(50)), **self.info,
        ).save(progress_path(self.out))
