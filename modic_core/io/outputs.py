"""Output files of the command-line tools: checked before any work, written with a sentence on failure.

``python -m modic_core.analysis ... --json F --csv F --pdf F --sr F`` checks every target with
:func:`check_output` before reading or analysing anything, so a folder, a device or an
unwritable path is refused in one sentence (exit status 2) instead of an ``OSError`` traceback
after the whole analysis; :func:`write_output` turns a failure while writing (a full disk) into
an :class:`~modic_core.errors.InputError` naming the option.
"""
from __future__ import annotations

from pathlib import Path

from modic_core.errors import InputError

__all__ = ["check_output", "write_output"]


def check_output(option: str, target: str | Path) -> Path:
    """``target`` as a Path, after checking that the file can be written.

    ``option`` names the command-line option in the message (e.g. ``"--pdf"``). Refused with an
    :class:`~modic_core.errors.InputError`: a folder, a missing folder, something that exists but is
    not a regular file (a device such as ``/dev/full``, a pipe), and a file or folder the process
    may not write to (probed by opening the file for appending, or creating and removing it; an
    existing file's content is not changed).
    """
    path = Path(target)
    if path.is_dir():
        raise InputError(f"{option}: {target} is a folder; give the name of a file to write, e.g. {Path(target) / 'report'}.")
    if not path.parent.resolve().is_dir():
        raise InputError(f"{option}: the folder of {target} does not exist.")
    if path.exists() and not path.is_file():
        raise InputError(f"{option}: {target} is not a regular file (a device or a pipe); give the name of a file to write.")
    try:
        if path.exists():
            with open(path, "ab"):
                pass
        else:
            with open(path, "xb"):
                pass
            path.unlink()
    except OSError as exc:
        raise InputError(f"{option}: {target} cannot be written ({exc.strerror or type(exc).__name__}); "
                         "give a file in a folder you may write to.") from None
    return path


def write_output(option: str, target: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``target``; an ``OSError`` becomes an InputError naming ``option``."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        Path(target).write_bytes(payload)
    except OSError as exc:
        raise InputError(f"{option}: writing {target} failed ({exc.strerror or type(exc).__name__}); "
                         "nothing usable was written there. Give a file on a disk with space you may write to.") from None
