"""Batch mode: analyse every study of a cohort, resumably, and score it when labels exist.

Usage::

    python -m modic_core.batch COHORT_OR_FOLDER --out results.csv|results.parquet [--normalization zscore]
        [--threshold 0.5] [--report metrics.json] [--n-boot 1000] [--no-resume | --retry-failed]
        [--engine local|ray] [--address auto|ray://host:port] [--num-gpus-per-worker F] [--concurrency N]

``--engine local`` (default) analyses the studies in this process; ``--engine ray`` runs the same
analysis as a Ray Data pipeline (:mod:`modic_core.batch.ray_engine`), on a local Ray or the cluster
at ``--address``; both write the same rows. ``--out NAME.parquet`` writes a folder of Parquet parts
instead of a CSV (:mod:`modic_core.batch.sink`); ``<out>.progress.json`` counts the studies done,
failed and left.

    python -m modic_core.batch --dicomweb URL [--query KEY=VALUE ...] [--store-sr] --out results.csv   (a PACS)

``COHORT_OR_FOLDER`` is a cohort folder (``studies.csv`` + ``levels.csv``, see
:mod:`modic_core.datasets.cohort`), a SPIDER release root, or a ``.zip`` of a cohort folder. With ``--dicomweb`` the studies are those of the archive matching every
``--query`` (QIDO-RS study keys) that hold a sagittal T1/T2 pair (:mod:`modic_core.batch.pacs_source`); each is
retrieved when its turn comes, ``study_id`` is its StudyInstanceUID, and resume works the same way.

Output (``--out``): one row per detected level -- ``study_id, level, prediction (MC0/MC1/MC2),
p_mc0, p_mc1, p_mc2, score, x0, y0, x1, y1`` (T1 pixels), ``z0, z1`` (slab), ``normalization,
threshold, uncertain`` (more than one grade in the level's prediction set), ``prediction_set, set_coverage``
(``"MC0|MC2"`` and the coverage, :mod:`modic_core.export.fields`) -- the predictions format of :mod:`modic_core.evaluation.evaluate`. Rows are appended after
each study, so an interrupted run loses at most one study. A status file next to it
(``results.status.csv``: ``study_id, status, n_levels, seconds, message``) records every study
tried, including failures and studies with no level above the threshold.

One batch at a time writes to an ``--out``: a second one is refused with the first one's pid
(:func:`modic_core.batch.sink.lock_output`, a ``flock`` the kernel drops when the process ends).
Levels that are not graded (T2 does not cover them) have empty probability cells and are counted,
not scored, by the metrics.

Resume: studies already in the status file (or, without one, in the results CSV) are
skipped; ``--retry-failed`` analyses again those whose status is not ``ok`` (their old status
rows are dropped); ``--no-resume`` starts both files afresh. When the cohort has labels (``modic``
per level), the metrics report of :func:`modic_core.evaluation.evaluate.evaluate` over all rows of the CSV is
written as JSON (``--report``, default ``results.metrics.json``) and printed.

A study that cannot be read is recorded with status ``error`` and its message (an
:class:`~modic_core.InputError`, with the study's file and folder names replaced by neutral
labels such as "[T1 file]": file names are patient data in practice) or ``failed`` and what
failed where (``"Class: message (at module:function:line)"``, scrubbed of patient data; with
``MODIC_DEBUG=1`` also the traceback), the same in both engines
(:func:`modic_core.batch.study.analyse_one`), and the run continues. The run's log (progress
notes, each failure; tracebacks with ``MODIC_DEBUG=1``) is appended to ``results.log`` next to
``--out`` (:mod:`modic_core.logs`). Text cells of both CSVs that a spreadsheet would run as
a formula are escaped (:mod:`modic_core.io.csv_safe`). Batching: on a GPU, :data:`GPU_BATCH` studies at a time go through the
detector and the classifier together (``--batch-size`` sets it; on the CPU the default is one
study at a time, which is as fast there). The detector only batches slices of the same size,
so the batch size does not change the results.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pandas as pd

from modic_core import settings
from modic_core.batch.study import analyse_one, analyse_together, default_factory as _default_factory, open_one
from modic_core.batch.sink import read_status
from modic_core.batch.sink import (PRED_COLUMNS, STATUS_COLUMNS, ResultSink, is_parquet, lock_output, log_path, read_done,
                                   read_results, status_path)
from modic_core.cli_args import batch_size as batch_size_arg, n_boot as n_boot_arg, positive_int, stall_timeout, threshold as threshold_arg
from modic_core.datasets.cohort import CohortStudy, iter_cohort
from modic_core.errors import InputError
from modic_core.logs import configure_logging, get_logger
from modic_core.batch.ray_engine import run_ray
from modic_core.batch.sink import append_csv
from modic_core.evaluation.evaluate import evaluate, read_labels, read_predictions, collapse_duplicate_labels, format_report
from modic_core.io.upload import extract_zip, temporary_folder
from modic_core.normalization.methods import NORMALIZATIONS
from modic_core.schema import CohortMetrics

__all__ = ["PRED_COLUMNS", "STATUS_COLUMNS", "CohortRun", "labels_frame", "main", "open_cohort", "run_cohort",
           "score_predictions", "status_path"]


ProgressFn = Callable[[int, int, str], Any]
GPU_BATCH = 8  # studies per network pass when torch sees a GPU
LOGGER = get_logger(__name__)


@dataclass
class CohortRun:
    """What :func:`run_cohort` produced: per-level rows, per-study status, and the labelled studies."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)
    studies: list[CohortStudy] = field(default_factory=list)
    normalization: str = settings.DEFAULT_NORMALIZATION
    threshold: float = settings.DEFAULT_THRESHOLD
    skipped: list[str] = field(default_factory=list)

    def predictions(self):
        return pd.DataFrame(self.rows, columns=PRED_COLUMNS)

    def status_frame(self):
        return pd.DataFrame(self.status, columns=STATUS_COLUMNS)

    @property
    def has_labels(self) -> bool:
        return any(lv.modic >= 0 for st in self.studies for lv in st.levels)

    def report(self, *, n_boot: int = 1000, seed: int = 0, predictions=None) -> dict[str, Any] | None:
        """The :func:`modic_core.evaluation.evaluate.evaluate` report of these predictions against the labels (None without labels)."""
        if not self.has_labels:
            return None
        return score_predictions(self.predictions() if predictions is None else predictions, self.studies, n_boot=n_boot, seed=seed)


def _find_cohort_root(folder: Path) -> Path:
    """The folder holding studies.csv (the root itself or one level down, as zips often nest)."""
    if (folder / "studies.csv").is_file() or ((folder / "images").is_dir() and (folder / "masks").is_dir()):
        return folder
    subs = [p.parent for p in folder.glob("*/studies.csv")]
    if len(subs) == 1:
        return subs[0]
    raise InputError(
        "No cohort was found: the folder or zip needs a studies.csv (study_id, t1, t2, ...) and a levels.csv "
        "(study_id, level, modic, ...) next to the images."
    )


@contextmanager
def open_cohort(source: str | Path) -> Iterator[list[CohortStudy]]:
    """The studies of a cohort folder, SPIDER release or zip (a zip is unpacked into a temporary folder,
    safely, and removed on exit)."""
    source = Path(source)
    with ExitStack() as stack:
        if source.is_file() and source.suffix.lower() == ".zip":
            tmp = stack.enter_context(temporary_folder())
            extract_zip(source, tmp)
            root = _find_cohort_root(tmp)
        elif source.is_dir():
            root = _find_cohort_root(source)
        elif not source.exists():
            raise InputError(f"The cohort folder '{source.name}' was not found; please check the path.")
        else:
            raise InputError(f"'{source.name}' is neither a cohort folder nor a zip of one.")
        yield list(iter_cohort(root))


def run_cohort(
    folder: str | Path | Iterable[CohortStudy],
    *,
    normalization: str | None = None,
    threshold: float | None = None,
    progress: ProgressFn | None = None,
    skip_ids: Iterable[str] = (),
    on_study: Callable[[dict[str, Any], list[dict[str, Any]]], Any] | None = None,
    on_report: Callable[[Any, Any], Any] | None = None,
    analysis_factory: Callable[[Any], Any] | None = None,
    gradcam: bool = False,
    batch_size: int | None = None,
) -> CohortRun:
    """Analyse every study of a cohort (folder, zip, or an iterable of :class:`CohortStudy`).

    ``progress(done, total, study_id)`` is called before each study and once at the end
    (``done == total``). ``skip_ids`` are not analysed (resume). ``on_study(status_row,
    level_rows)`` is called after each study (the CLI appends to its CSVs there); ``on_report(study, report)``
    after each study, ``report`` None when it failed (``--store-sr`` stores the SR there).
    ``analysis_factory(study)`` defaults to :class:`modic_core.analysis.analyze.StudyAnalysis`.
    ``batch_size`` studies are loaded together and, with the default factory, detected and
    classified in one network pass per stage (:func:`modic_core.analysis.analyze.analyze_many`);
    default :data:`GPU_BATCH` when torch sees a GPU, else 1.
    """
    factory = analysis_factory or _default_factory()
    normalization = normalization or settings.default_normalization()
    threshold = settings.default_threshold() if threshold is None else threshold
    with ExitStack() as stack:
        if isinstance(folder, (str, Path)):
            studies = stack.enter_context(open_cohort(folder))
        else:
            studies = list(folder)
        run = CohortRun(studies=studies, normalization=normalization, threshold=float(threshold))
        skip = {str(s) for s in skip_ids}
        todo = [s for s in studies if s.study_id not in skip]
        run.skipped = [s.study_id for s in studies if s.study_id in skip]
        total = len(todo)
        if batch_size is None:
            import torch  # lazy: torch is heavy; only the model path needs it

            batch_size = GPU_BATCH if torch.cuda.is_available() else 1
        batch_size = max(1, int(batch_size))
        i = 0
        for start in range(0, total, batch_size):
            chunk = todo[start : start + batch_size]
            loaded: list[tuple[CohortStudy, Any, float]] = []
            for cs in chunk:
                t0 = time.perf_counter()
                loaded.append((cs, open_one(cs, factory), time.perf_counter() - t0))
            shared = 0.0
            analyses = [a for _, a, _ in loaded if not isinstance(a, BaseException)]
            if len(analyses) > 1 and analysis_factory is None:
                # one network pass per stage for the whole chunk (GPU); per-study fallback on any error
                t0 = time.perf_counter()
                analyse_together(analyses, normalization, gradcam=gradcam)
                shared = (time.perf_counter() - t0) / len(analyses)
            for cs, sa, t_load in loaded:
                if progress:
                    progress(i, total, cs.study_id)
                i += 1
                t0 = time.perf_counter()
                outcome = analyse_one(cs, normalization=normalization, threshold=threshold, gradcam=gradcam, analysis=sa)
                status, rows = outcome.status, outcome.rows
                status["seconds"] = round(t_load + shared + time.perf_counter() - t0, 3)
                run.rows += rows
                run.status.append(status)
                if on_study:
                    on_study(status, rows)
                if on_report:
                    on_report(cs, outcome.report)
        if progress:
            progress(total, total, "")
    return run


def labels_frame(studies: Sequence[CohortStudy]):
    """The labels of the studies in the ``levels.csv`` format (with manufacturer and field strength)."""
    rows = []
    for st in studies:
        for lv in st.levels:
            if lv.modic < 0:
                continue
            row = {"study_id": st.study_id, "level": lv.level, "modic": int(lv.modic),
                   "manufacturer": st.manufacturer or None, "field_strength_t": st.field_strength_t}
            if lv.box is not None:
                row.update(dict(zip(("x0", "y0", "x1", "y1"), lv.box)))
            rows.append(row)
    return pd.DataFrame(rows, columns=["study_id", "level", "modic", "manufacturer", "field_strength_t", "x0", "y0", "x1", "y1"])


def score_predictions(predictions, studies: Sequence[CohortStudy], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any] | None:
    """Metrics report (:func:`modic_core.evaluation.evaluate.evaluate`) of a predictions frame against the studies' labels."""
    labels = labels_frame(studies)
    if labels.empty:
        return None
    with tempfile.TemporaryDirectory(prefix="modic_batch_") as tmp:
        pp, lp = Path(tmp) / "predictions.csv", Path(tmp) / "labels.csv"
        predictions.to_csv(pp, index=False)
        labels.to_csv(lp, index=False)
        pred = read_predictions(pp)
        lab = read_labels(lp)
    return evaluate(pred, lab, n_boot=n_boot, seed=seed)


# --------------------------------------------------------------------------- command line


def _read_done(out: Path, status_file: Path, *, retry_failed: bool = False) -> set[str]:
    """Study IDs not to analyse again (:func:`modic_core.batch.sink.read_done`)."""
    return read_done(out, retry_failed=retry_failed)


def _drop_failed(status_file: Path) -> int:
    """Remove the status rows of studies whose last status is not ``ok``; returns how many studies."""
    st = read_status(status_file) if status_file.is_file() else None
    if st is None:
        return 0
    last = st.drop_duplicates("study_id", keep="last").set_index("study_id")["status"]
    failed = set(last[last != "ok"].index)
    if failed:
        status_file.unlink()
        _append(status_file, STATUS_COLUMNS, st[~st["study_id"].isin(failed)].to_dict("records"))
    return len(failed)


def _append(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    append_csv(path, columns, rows)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number, 0 or more")
    return value


def _clear_output(out: Path, sfile: Path) -> None:
    """--no-resume: remove what an earlier run wrote (the CSV, or the part files of a Parquet folder)."""
    if is_parquet(out) and out.is_dir():
        for part in [*out.glob("part-*.parquet"), *out.glob(".part-*.tmp")]:
            part.unlink()
    else:
        out.unlink(missing_ok=True)
    sfile.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m modic_core.batch", description=__doc__.split("\n\n")[0])
    ap.add_argument("cohort", nargs="?", help="cohort folder (studies.csv + levels.csv), SPIDER release root, or a zip of a cohort")
    ap.add_argument("--dicomweb", metavar="URL", help="read the studies from this DICOMweb archive instead of a cohort "
                    "(sign-in from MODIC_DICOMWEB_USER/PASSWORD/TOKEN); study_id is the StudyInstanceUID")
    ap.add_argument("--query", action="append", default=[], metavar="KEY=VALUE",
                    help="with --dicomweb: only studies matching this QIDO key (repeatable), e.g. ModalitiesInStudy=MR")
    ap.add_argument("--store-sr", action="store_true",
                    help="with --dicomweb (local engine): store each study's DICOM SR into that study (STOW-RS)")
    ap.add_argument("--out", required=True, help="per-level results: a CSV file, or NAME.parquet (a folder of Parquet parts); appended to, resumes")
    ap.add_argument("--normalization", default=settings.default_normalization())
    ap.add_argument("--threshold", type=threshold_arg, default=settings.default_threshold(), help="detector confidence threshold in [0.05, 1)")
    ap.add_argument("--report", help="metrics JSON (default: <out>.metrics.json when labels exist)")
    ap.add_argument("--n-boot", type=n_boot_arg, default=1000, help=f"bootstrap resamples for the metrics (default 1000, at most {settings.MAX_N_BOOT})")
    again = ap.add_mutually_exclusive_group()
    again.add_argument("--no-resume", action="store_true", help="start afresh (overwrites --out and its status file)")
    again.add_argument("--retry-failed", action="store_true", help="analyse again the studies whose status is not ok")
    ap.add_argument("--batch-size", type=batch_size_arg, default=None,
                    help=f"studies per network pass (default {GPU_BATCH} on a GPU, 1 on the CPU, at most {settings.MAX_BATCH_SIZE}; Ray: per actor call)")
    ap.add_argument("--engine", choices=("local", "ray"), default="local", help="local: this process; ray: a Ray Data pipeline (modic_core.batch.ray_engine)")
    ap.add_argument("--address", default=None, help="Ray cluster to use: auto (started with `ray start`) or ray://host:port; default: a local Ray on this machine")
    ap.add_argument("--num-gpus-per-worker", type=_non_negative_float, default=None, help="GPU per analysis actor (default 1 when the cluster has GPUs, else 0)")
    ap.add_argument("--concurrency", type=positive_int, default=None, help="analysis actors (default: one per GPU share, or about 3 per 4 CPUs)")
    ap.add_argument("--stall-timeout", type=stall_timeout, default=600.0,
                    help=f"Ray: seconds without progress before the run fails with a message (default 600, at most {settings.MAX_STALL_TIMEOUT_S:g})")
    args = ap.parse_args(argv)
    if args.engine == "local" and (args.address or args.num_gpus_per_worker is not None or args.concurrency):
        ap.error("--address, --num-gpus-per-worker and --concurrency need --engine ray")
    if (args.cohort is None) == (args.dicomweb is None):
        ap.error("give a cohort folder or --dicomweb URL (one of them)")
    if args.query and not args.dicomweb:
        ap.error("--query needs --dicomweb")
    if args.store_sr and (not args.dicomweb or args.engine == "ray"):
        ap.error("--store-sr needs --dicomweb and --engine local")

    if args.normalization not in NORMALIZATIONS:
        print(f"error: unknown normalization '{args.normalization}'; choose one of {', '.join(NORMALIZATIONS)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    sfile = status_path(out)
    with ExitStack() as held:
        try:
            if sfile.is_dir() or (out.is_dir() and not is_parquet(out)):
                raise InputError(f"--out must be a CSV file name, but '{out.name}' is a folder; give e.g. {out.name}/results.csv "
                                 "(or a name ending in .parquet for a Parquet folder).")
            if is_parquet(out) and out.is_file():
                raise InputError(f"'{out.name}' is a file; a Parquet output is a folder of parts: remove it or choose another --out.")
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                held.enter_context(lock_output(out))  # one batch per output, until this one returns (or dies)
                configure_logging(debug=settings.debug(), log_file=log_path(out))
                if args.no_resume:
                    _clear_output(out, sfile)
                if args.retry_failed:
                    _drop_failed(sfile)
            except OSError:
                raise InputError(f"The results cannot be written to '{out.name}' (no permission, or not a folder); choose another --out.") from None
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return _run_locked(args, out, sfile)


def _run_locked(args, out: Path, sfile: Path) -> int:
    """The CLI's run once the output is locked: analyse what is left, write, score."""
    from tqdm import tqdm  # lazy: tqdm is needed only for the progress bar

    done = _read_done(out, sfile)
    bar = tqdm(total=0, unit="study", dynamic_ncols=True)

    def progress(i: int, n: int, sid: str) -> None:
        if bar.total != n:
            bar.total = n
            bar.refresh()
        bar.n = i
        bar.set_postfix_str(f"study {sid}" if sid else "done")

    try:
        with _open_studies(args) as studies:
            _check_labels(studies)  # before hours of analysis, not at the metrics after them
            sink = ResultSink(out, total=len(studies), already=sum(s.study_id in done for s in studies), engine=args.engine)
            if args.engine == "ray":
                rrun = run_ray(studies, sink=sink, normalization=args.normalization, threshold=args.threshold,
                               skip_ids=done, address=args.address, concurrency=args.concurrency,
                               gpus_per_worker=args.num_gpus_per_worker, batch_size=args.batch_size,
                               stall_timeout_s=args.stall_timeout, progress=progress)
                n_ok, n_tried, skipped, failures = rrun.counts.get("ok", 0), sum(rrun.counts.values()), rrun.skipped, rrun.failures
                LOGGER.info("ray: %s; %d studies in %.1f s", rrun.plan.describe(), rrun.total, rrun.seconds)
            else:
                run = run_cohort(studies, normalization=args.normalization, threshold=args.threshold, progress=progress,
                                 batch_size=args.batch_size, skip_ids=done, on_study=lambda st, rows: sink.add(st, rows),
                                 on_report=_sr_storer() if args.store_sr else None)
                sink.close()
                sink.write_progress(state="finished")
                n_ok = sum(s["status"] == "ok" for s in run.status)
                n_tried, skipped = len(run.status), run.skipped
                failures = [s for s in run.status if s["status"] != "ok"]
            bar.close()
            print(f"analysed {n_tried} studies ({n_ok} ok, {n_tried - n_ok} failed), skipped {len(skipped)} already done; "
                  f"results in {out}, status in {sfile}")
            for s in failures:
                print(f"  {s['study_id']}: {s['status']}: {(s['message'].splitlines() or [''])[0]}", file=sys.stderr)
            if any(lv.modic >= 0 for st in studies for lv in st.levels):
                _write_metrics(args, out, sfile, studies)
    except InputError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError:
        bar.close()
        print(f"error: the results could not be written to '{out.name}'; check the folder and the free space.", file=sys.stderr)
        return 2
    return 0


def _sr_storer() -> Callable[[Any, Any], None]:
    """``on_report`` of ``--store-sr``: each analysed PACS study's SR into its study; a failure is logged and
    printed (the study's results stay), the run goes on."""
    # lazy: the PACS client is needed only with --dicomweb
    from modic_core.batch.pacs_source import store_sr

    def store(study, report) -> None:
        if report is None:  # the study failed (recorded in the status file): nothing to store
            study.retrieved = None
            return
        try:
            store_sr(study, report)
        except InputError as exc:
            LOGGER.warning("study %s: the DICOM SR was not stored: %s", study.study_id, exc)

    return store


@contextmanager
def _open_studies(args) -> Iterator[list[Any]]:
    """The cohort's studies, or those of the ``--dicomweb`` archive matching ``--query``."""
    if args.dicomweb:
        # lazy: the PACS client (requests, dicomweb-client) is needed only with --dicomweb
        from modic_core.batch.pacs_source import archive_studies, parse_query
        from modic_core.pacs import dicomweb_config

        yield archive_studies(dicomweb_config(args.dicomweb), parse_query(args.query), keep_for_sr=args.store_sr)
        return
    with open_cohort(args.cohort) as studies:
        yield studies


def _check_labels(studies: Sequence[CohortStudy]) -> None:
    """InputError when levels.csv grades one disc twice, differently (identical repeats are counted once at scoring)."""
    labels = labels_frame(studies)
    if not labels.empty:
        collapse_duplicate_labels(labels, "levels.csv", line_numbers=False)


def _write_metrics(args, out: Path, sfile: Path, studies: Sequence[CohortStudy]) -> None:
    """Score the results as written on disk (every run so far), not what this run held in memory."""
    all_rows = read_results(out)
    tried = _read_done(out, sfile)  # every study analysed by this run or an earlier one
    report = score_predictions(all_rows, [s for s in studies if s.study_id in tried], n_boot=args.n_boot)
    if report is None:
        return
    rpath = Path(args.report) if args.report else out.with_name(out.stem + ".metrics.json")
    report["inputs"] = {"predictions": out.name, "cohort": Path(args.cohort).name,
                        "normalization": args.normalization, "threshold": args.threshold}
    CohortMetrics.body_from_dict(report, source=rpath.name).save(rpath)
    print(format_report(report))
    print(f"\nmetrics written to {rpath}")


if __name__ == "__main__":
    raise SystemExit(main())
