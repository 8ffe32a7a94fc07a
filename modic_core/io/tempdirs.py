"""Our folders in the system temporary folder: each records its owner process, and the ones a
killed process left behind are swept at start-up.

Every folder the product makes in :func:`tempfile.gettempdir` has a name starting with one of
:data:`PREFIXES` and holds a small :data:`OWNER_FILE` (hidden, so no reader ever takes it for an
image): ``pid=<pid> start=<start>``, the process that made it and, on Linux, that process's start
time (clock ticks after boot, ``/proc/<pid>/stat``), so a reused pid is not taken for the owner.

:func:`sweep_stale` removes a folder only when all of these hold:

- it lies directly in the temporary folder and its name starts with one of our prefixes;
- it is a real folder (a symbolic link of that name is never followed nor removed) owned by this user;
- its owner process is gone (no such pid, or the pid now belongs to a process started at another
  time), or, when it records no owner (made by an older version, or the make was killed before
  the record was written), it is older than ``settings.stale_temp_seconds()``.

:func:`process_temp_dir` gives one folder per process and prefix (made under a lock, removed at exit).
"""
from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from modic_core import settings
from modic_core.logs import get_logger

__all__ = [
    "FIGURE_PREFIX",
    "OWNER_FILE",
    "PREFIXES",
    "UPLOAD_PREFIX",
    "is_stale",
    "make_owned_dir",
    "process_temp_dir",
    "record_owner",
    "sweep_once",
    "sweep_stale",
]

UPLOAD_PREFIX = "modic_upload_"  # an upload or zip being read (removed when done)
FIGURE_PREFIX = "modic_figure_"  # the case viewer's component files (one per process)
PREFIXES = (UPLOAD_PREFIX, FIGURE_PREFIX)
OWNER_FILE = ".modic_owner"

log = get_logger(__name__)


def _start_ticks(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks after boot (Linux), None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        return int(raw[raw.rindex(b")") + 2:].split()[19])  # field 22; the name (field 2) may hold spaces
    except (OSError, ValueError, IndexError):
        return None


def record_owner(folder: Path) -> None:
    """Write :data:`OWNER_FILE` into ``folder``: this process's pid and start time."""
    pid = os.getpid()
    start = _start_ticks(pid)
    (Path(folder) / OWNER_FILE).write_text(f"pid={pid} start={'' if start is None else start}\n")


def make_owned_dir(prefix: str) -> Path:
    """A new private folder (``tempfile.mkdtemp``) in the temporary folder, with its owner recorded."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    record_owner(folder)
    return folder


def _read_owner(folder: Path) -> tuple[int, int | None] | None:
    """(pid, start ticks or None) from the folder's owner record, None without a readable one."""
    try:
        fd = os.open(folder / OWNER_FILE, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            text = f.read(256).decode("ascii", "replace")
        fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
        pid = int(fields["pid"])
        start = int(fields["start"]) if fields.get("start") else None
        return (pid, start) if pid > 0 else None
    except (OSError, ValueError, KeyError):
        return None


def _alive(pid: int, start: int | None) -> bool:
    """Whether the process that recorded ``(pid, start)`` still runs."""
    if pid == os.getpid():
        return start is None or start == _start_ticks(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    except OSError:
        return True  # cannot tell: keep the folder
    if start is not None:
        now = _start_ticks(pid)
        if now is not None and now != start:
            return False  # the pid was reused by a later process
    return True


def is_stale(folder: Path, *, max_age_s: float, now: float | None = None) -> bool:
    """Whether ``folder`` is one of ours that no running process owns (see the module docstring);
    never true for a symbolic link or another user's folder."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False  # a symbolic link or a file of our name: not ours to remove
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False
    owner = _read_owner(Path(folder))
    if owner is not None:
        return not _alive(*owner)
    return (time.time() if now is None else now) - st.st_mtime > max_age_s


def sweep_stale(*, root: Path | str | None = None, prefixes: tuple[str, ...] = PREFIXES,
                max_age_s: float | None = None) -> list[Path]:
    """Remove our stale folders directly inside ``root`` (default: the temporary folder); returns them.

    ``max_age_s`` (seconds) applies to folders without an owner record; default
    ``settings.stale_temp_seconds()``. Removal never follows symbolic links (``shutil.rmtree``
    with its symlink-attack protection); a folder that cannot be removed is left and logged.
    """
    root = Path(tempfile.gettempdir() if root is None else root)
    max_age_s = settings.stale_temp_seconds() if max_age_s is None else float(max_age_s)
    removed = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefixes):
            continue
        path = root / name
        if not is_stale(path, max_age_s=max_age_s):
            continue
        try:
            shutil.rmtree(path)
        except OSError as exc:
            log.warning("could not remove a stale temporary folder (%s)", exc.strerror or type(exc).__name__)
            continue
        removed.append(path)
    if removed:
        log.info("removed %d stale temporary folder(s) left by ended processes", len(removed))
    return removed


_swept = False
_sweep_lock = threading.Lock()


def sweep_once() -> list[Path]:
    """:func:`sweep_stale` of the temporary folder, the first time it is called in this process
    (the dashboard calls it at start-up); later calls return ``[]``."""
    global _swept
    with _sweep_lock:
        if _swept:
            return []
        _swept = True
        return sweep_stale()


_process_dirs: dict[tuple[int, str], Path] = {}
_process_lock = threading.Lock()


def _remove_at_exit(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # a forked child inherits the handler, not the folder
        shutil.rmtree(folder, ignore_errors=True)


def process_temp_dir(prefix: str, *, fill: Callable[[Path], None] | None = None) -> Path:
    """This process's one folder for ``prefix``, made on the first call under a lock (concurrent
    first calls get the same folder), filled by ``fill(folder)`` before anyone gets it, and removed
    when the process exits."""
    key = (os.getpid(), prefix)
    with _process_lock:
        folder = _process_dirs.get(key)
        if folder is not None and folder.is_dir():
            return folder
        folder = make_owned_dir(prefix)
        try:
            if fill is not None:
                fill(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _process_dirs[key] = folder
        atexit.register(_remove_at_exit, folder, key[0])
        return folder
