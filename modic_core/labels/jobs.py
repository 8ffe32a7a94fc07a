"""The background fine-tune: one at a time, started from the app, watched, resumed.

:func:`start_finetune` starts ``python -m modic_core.train finetune --out DIR --method M --name NAME``
(:data:`FINETUNE_COMMAND`, injectable for tests) as its own process session, the database URL given in its
environment (``MODIC_DATABASE_URL``, so a password never shows in the process list), its output appended to
``MODIC_DATA_DIR/jobs/<name>.log``, and writes the job record ``MODIC_DATA_DIR/jobs/finetune.json``
(:class:`JobRecord`: command, output folder, pid, start time). ``DIR`` is ``MODIC_DATA_DIR/models/<name>``.

The fine-tune command's contract: while it runs it keeps ``DIR.partial/progress.json``
(``{"stage", "fraction" 0-1, "message"}``); on success ``DIR`` is a complete weights folder and the version is
registered in the store under ``NAME``; killed, it registers nothing and the same command resumes it.
:func:`job_status` reads that back: running, finished (registered), stopped (resumable) or failed (the
log's last line). :func:`resume_finetune` starts the recorded command again.

The database URL is passed on the command line (the command's fixed interface) but the record keeps it with
the password hidden; a resume passes the current ``MODIC_DATABASE_URL`` again.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

from modic_core import settings
from modic_core.errors import InputError
from modic_core.labels.store import LabelStore, ModelRecord

__all__ = ["FINETUNE_COMMAND", "JOB_STATES", "METHOD_DEFAULT", "JobRecord", "JobStatus", "Progress", "job_status",
           "jobs_dir", "models_dir", "read_progress", "resume_finetune", "start_finetune", "stop_finetune"]

#: The fine-tune command without its arguments (tests pass another one to the functions below).
FINETUNE_COMMAND = (sys.executable, "-m", "modic_core.train", "finetune")
#: The normalization method fine-tuned when none is chosen.
METHOD_DEFAULT = "zscore"
#: What :func:`job_status` reports: no job yet, running, finished (registered), stopped (resumable), failed.
JOB_STATES = ("none", "running", "finished", "stopped", "failed")
RECORD_FILE = "finetune.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The started processes of this Python process (so their exit status is read and they are not left as zombies).
_children: dict[int, subprocess.Popen] = {}


def jobs_dir(data_dir: str | Path | None = None) -> Path:
    """``<MODIC_DATA_DIR>/jobs``: the job record and the logs."""
    return Path(data_dir or settings.data_dir()) / "jobs"


def models_dir(data_dir: str | Path | None = None) -> Path:
    """``<MODIC_DATA_DIR>/models``: one weights folder per fine-tuned version."""
    return Path(data_dir or settings.data_dir()) / "models"


@dataclass(frozen=True)
class JobRecord:
    """One started fine-tune (``jobs/finetune.json``).

    ``prefix``: the command without arguments; ``args``: its arguments without ``--db``; ``db``: the database
    URL with the password hidden; ``out_dir``: the weights folder it writes; ``log``: its output file;
    ``pid``: the process; ``started``: ISO UTC time of the last (re)start; ``exit_code``: when this process
    saw it end (negative: killed by that signal), else None.
    """

    name: str
    method: str
    prefix: list[str]
    args: list[str]
    db: str
    out_dir: str
    log: str
    pid: int
    started: str
    exit_code: int | None = None
    activate: bool = False

    @property
    def command(self) -> list[str]:
        """The command as shown (the database URL without its password)."""
        return [*self.prefix, "--db", self.db, *self.args]

    @property
    def partial_dir(self) -> Path:
        """``DIR.partial``: where the running command keeps its work and ``progress.json``."""
        return Path(self.out_dir + ".partial")


@dataclass(frozen=True)
class Progress:
    """``DIR.partial/progress.json``: the stage, the share done (0-1) and a sentence."""

    stage: str
    fraction: float
    message: str = ""


@dataclass(frozen=True)
class JobStatus:
    """The fine-tune's state (:data:`JOB_STATES`), its record, progress, the registered version when finished,
    and ``message``: one sentence for the user (the log's last line when it failed or stopped)."""

    state: str
    job: JobRecord | None = None
    progress: Progress | None = None
    model: ModelRecord | None = None
    message: str = ""

    @property
    def resumable(self) -> bool:
        """Whether :func:`resume_finetune` may start it again (stopped or failed, nothing registered)."""
        return self.state in ("stopped", "failed")

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class _Paths:
    logs: Path  # the jobs folder

    @property
    def record(self) -> Path:
        return self.logs / RECORD_FILE

    @property
    def lock(self) -> Path:
        return self.logs / "finetune.lock"


def _paths(data_dir: str | Path | None) -> _Paths:
    return _Paths(jobs_dir(data_dir))


@contextmanager
def _locked(data_dir: str | Path | None) -> Iterator[_Paths]:
    """Hold the jobs folder's lock: two admins clicking "start" at once start one job."""
    p = _paths(data_dir)
    p.logs.mkdir(parents=True, exist_ok=True)
    with open(p.lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield p
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_record(path: Path) -> JobRecord | None:
    try:
        return JobRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_record(path: Path, record: JobRecord) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2))
    os.replace(tmp, path)


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: keep nothing of it
        return "<database URL>"


def _exit_code(record: JobRecord) -> tuple[bool, int | None]:
    """(running, exit code if known) of the record's process."""
    proc = _children.get(record.pid)
    if proc is not None:
        code = proc.poll()
        if code is None:
            return True, None
        _children.pop(record.pid, None)
        return False, code
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False, record.exit_code
    except PermissionError:  # someone else's process has that pid now
        return False, record.exit_code
    cmdline = Path(f"/proc/{record.pid}/cmdline")
    if cmdline.exists():  # a reused pid is not our job; a zombie has an empty command line
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            return False, record.exit_code
        return (record.out_dir in text), record.exit_code
    return True, None


def _last_line(log: str | Path) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = [ln.strip() for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def read_progress(out_dir: str | Path) -> Progress | None:
    """The running command's ``DIR.partial/progress.json``, or None when absent or unreadable; the fraction
    is clipped to 0-1."""
    path = Path(str(out_dir) + ".partial") / "progress.json"
    try:
        data = json.loads(path.read_text())
        fraction = min(1.0, max(0.0, float(data.get("fraction", 0.0))))
        return Progress(stage=str(data.get("stage", "")), fraction=fraction, message=str(data.get("message", "")))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _registered(store: LabelStore, name: str) -> ModelRecord | None:
    return next((m for m in store.list_models() if m.name == name), None)


def job_status(store: LabelStore, *, data_dir: str | Path | None = None) -> JobStatus:
    """The last fine-tune's state: ``running`` (with its progress), ``finished`` (the version is registered),
    ``stopped`` (killed or ended without registering: resumable), ``failed`` (ended with an error; the
    message is the log's last line), or ``none`` (never started here)."""
    p = _paths(data_dir)
    record = _read_record(p.record)
    if record is None:
        return JobStatus("none")
    running, code = _exit_code(record)
    if running:
        return JobStatus("running", record, read_progress(record.out_dir))
    if code is not None and code != record.exit_code:
        record = JobRecord(**{**asdict(record), "exit_code": code})
        try:
            _write_record(p.record, record)
        except OSError:
            pass
    model = _registered(store, record.name)
    if model is not None:
        return JobStatus("finished", record, Progress("done", 1.0), model,
                         f"Fine-tune {record.name!r} finished and is registered as {model.status}.")
    last = _last_line(record.log)
    progress = read_progress(record.out_dir)
    if code is not None and code > 0:
        return JobStatus("failed", record, progress, None,
                         f"Fine-tune {record.name!r} failed (exit status {code})" + (f": {last}" if last else "."))
    how = f"was stopped (signal {-code})" if code is not None and code < 0 else "stopped before registering a version"
    return JobStatus("stopped", record, progress, None,
                     f"Fine-tune {record.name!r} {how}; resume it to continue" + (f" (last log line: {last})." if last else "."))


def _spawn(record: JobRecord, *, db_url: str) -> JobRecord:
    log = Path(record.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    Path(record.out_dir).parent.mkdir(parents=True, exist_ok=True)
    argv = [*record.prefix, *record.args]
    # the URL (with any password) goes in the child's environment, never on its command line (ps shows that)
    env = {**os.environ, "MODIC_DATABASE_URL": db_url}
    with open(log, "ab") as out:
        out.write(f"--- started {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(_cwd()), env=env)
    _children[proc.pid] = proc
    return JobRecord(**{**asdict(record), "pid": proc.pid, "exit_code": None,
                        "started": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def _cwd() -> Path:
    """The folder ``python -m modic_core...`` is started in: the one holding the ``modic_core`` package."""
    return Path(__file__).resolve().parents[2]


def start_finetune(store: LabelStore, *, name: str, method: str = METHOD_DEFAULT, activate: bool = False,
                   db_url: str | None = None, data_dir: str | Path | None = None,
                   command: Sequence[str] = FINETUNE_COMMAND) -> JobRecord:
    """Start fine-tuning version ``name`` with ``method`` in the background (``--activate`` if ``activate``) and
    return its record. ``db_url``: the store's database (default :func:`modic_core.settings.database_url`).
    InputError when a fine-tune is running, the name is not a plain name (letters, digits, ``.``, ``_``, ``-``;
    at most 64) or is taken by a registered version or an existing weights folder."""
    name = str(name).strip()
    if not _NAME.match(name):
        raise InputError(f"The version name {name!r} is not usable; give letters, digits, '.', '_' or '-' "
                         "(at most 64, starting with a letter or digit).")
    if not str(method).strip():
        raise InputError("A fine-tune needs a normalization method; give one, e.g. zscore.")
    db_url = db_url or settings.database_url()
    with _locked(data_dir) as p:
        current = job_status(store, data_dir=data_dir)
        if current.running:
            raise InputError(f"A fine-tune ({current.job.name!r}) is already running; wait for it to finish "
                             "(one at a time).")
        if _registered(store, name) is not None:
            raise InputError(f"A model version named {name!r} is already registered; pick another name.")
        out = models_dir(data_dir) / name
        if out.exists() or Path(str(out) + ".partial").exists():
            raise InputError(f"A weights folder for {name!r} already exists; pick another name (or resume that "
                             "fine-tune).")
        args = ["--out", str(out), "--method", method, "--name", name] + (["--activate"] if activate else [])
        record = JobRecord(name=name, method=method, prefix=list(command), args=args, db=_hide_password(db_url),
                           out_dir=str(out), log=str(p.logs / f"{name}.log"), pid=0, started="", activate=activate)
        record = _spawn(record, db_url=db_url)
        _write_record(p.record, record)
        return record


def resume_finetune(store: LabelStore, *, db_url: str | None = None, data_dir: str | Path | None = None) -> JobRecord:
    """Start the last fine-tune's command again (it resumes from ``DIR.partial``). InputError when there is none,
    it is running, or it has finished."""
    with _locked(data_dir) as p:
        current = job_status(store, data_dir=data_dir)
        if current.job is None:
            raise InputError("No fine-tune has been started here; start one first.")
        if not current.resumable:
            raise InputError(f"The fine-tune {current.job.name!r} is {current.state}; only a stopped or failed one "
                             "can be resumed.")
        record = _spawn(current.job, db_url=db_url or settings.database_url())
        _write_record(p.record, record)
        return record


def stop_finetune(store: LabelStore, *, data_dir: str | Path | None = None) -> bool:
    """Stop the running fine-tune (SIGTERM to its process group); False when none is running. It can be resumed."""
    current = job_status(store, data_dir=data_dir)
    if not current.running:
        return False
    try:
        os.killpg(current.job.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True
