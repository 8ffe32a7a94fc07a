"""One logging set-up for the package: named loggers, a PHI filter on every record, opt-in tracebacks.

- :func:`get_logger` returns ``logging.getLogger(name)`` under the ``modic_core`` logger, with a
  :class:`PhiFilter` on the logger itself (library modules call ``get_logger(__name__)``; before
  :func:`configure_logging`, warnings and errors reach Python's last-resort stderr handler, scrubbed).
- :class:`PhiFilter` rewrites each record before any handler formats it: the message with its
  arguments, the exception text and the stack text pass through :func:`scrub`, which replaces patient
  names (DICOM ``LAST^FIRST``), ``PatientID=``/``MRN``/accession values, dates (birth dates look like
  any date), paths (absolute, home ``~``, and names of image/zip files) and the strings put in
  :func:`sensitive` by the running code (a study's file and folder names) with placeholders such as
  ``[name]``, ``[id]``, ``[date]``, ``[path]``. Without ``debug`` an exception is reduced to one line
  (:func:`describe_exception`: class, scrubbed message, innermost ``modic_core`` frame); with it the
  scrubbed traceback is kept.
- :func:`configure_logging` installs one stderr handler (and optionally a log file) on the
  ``modic_core`` logger, each with the filter; the command-line entry points and the app call it once
  (again: the handlers are replaced, not added). ``debug`` comes from ``MODIC_DEBUG``
  (:func:`modic_core.settings.debug`), read by the callers: this module sits in the bottom layer and
  imports nothing of the package.

Placeholders are lossy on purpose: a log line loses a file name rather than leak a patient's.
"""
from __future__ import annotations

import contextvars
import logging
import re
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PhiFilter", "configure_logging", "describe_exception", "failure_location", "format_traceback", "get_logger",
           "own_frames", "scrub", "sensitive"]

ROOT = "modic_core"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_SENSITIVE: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("modic_sensitive", default=())

_IMAGE_EXT = r"(?:nii\.gz|nii|mha|mhd|nrrd|dcm|dicom|ima|img|raw|zip|png|jpe?g|pdf)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # key = value pairs of identifying DICOM elements (keyword, tag or words): keep the key
    (re.compile(r"(?i)(?<!\w)((?>patient[ _]?name|patient[ _]?id|patient[ _]?birth[ _]?date|birth[ _]?date|date of birth|dob"
                r"|accession[ _]?(?:number|no)?|other[ _]?patient[ _]?ids|mrn"
                r"|\(0010,\s?00(?:10|20|30)\)|\(0008,\s?0050\)))(?![\w])"
                r"(['\"]?\s*(?:[:=]|\bis\b)?\s*)('[^']*'|\"[^\"]*\"|[^\s,;)\]}\[=:][^\s,;)\]}]*)"), r"\1\2[redacted]"),  # a placeholder ([...]) stays
    (re.compile(r"(?<![\w/\\])(?:[A-Za-z'-]+\^)+[A-Za-z'^-]*[A-Za-z']"), "[name]"),  # DICOM person name LAST^FIRST^MIDDLE
    (re.compile(r"(?i)\bMRN[-_ ]?\d+\b"), "[id]"),
    # paths: absolute (POSIX, home, Windows drive or share), then relative ones that hold a separator
    (re.compile(r"(?:(?<![\w.])~/|(?<![\w:/.-])/(?=[\w.~-])|\b[A-Za-z]:\\|\\\\)[^\s'\",;:()\[\]<>|]*"), "[path]"),
    (re.compile(r"(?<![\w/\\])[\w.-]+(?:[/\\][\w.-]+)*[/\\][\w.-]*\w\.[A-Za-z]\w*\b"), "[path]"),  # a/b.ext
    (re.compile(r"(?<![\w/\\])[\w.-]+(?:[/\\][\w.-]+){2,}"), "[path]"),  # a/b/c
    (re.compile(rf"(?i)(?<![\w/\\])[\w.^-]*\w\.{_IMAGE_EXT}\b"), "[file]"),
    # dates: YYYYMMDD, YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY (a birth date looks like any date)
    (re.compile(r"\b(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b"), "[date]"),
    (re.compile(r"\b(?:19|20)\d\d-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])\b"), "[date]"),
    (re.compile(r"\b(?:0?[1-9]|[12]\d|3[01])[./](?:0?[1-9]|1[0-2])[./](?:19|20)\d\d\b"), "[date]"),
)


class _State:
    debug = False  # set by configure_logging; read by the filters made without an explicit debug


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (a module's ``__name__``; names outside the package are put under ``modic_core.``).

    The logger itself carries a :class:`PhiFilter`, so a record is scrubbed before any handler sees
    it, whoever installed the handler (an application's root handler, pytest's ``caplog``).
    """
    if name != ROOT and not name.startswith(ROOT + "."):
        name = f"{ROOT}.{name}"
    logger = logging.getLogger(name)
    if not any(isinstance(f, PhiFilter) for f in logger.filters):
        logger.addFilter(PhiFilter())
    return logger


@contextmanager
def sensitive(values: Iterable[str | Path]) -> Iterator[None]:
    """While inside, :func:`scrub` replaces these strings too (e.g. a study's file and folder names).

    Paths contribute their full text, their name and their parent folder's name. Names shorter than
    3 characters (``t1``) or of up to 3 digits are ignored (they would also match ordinary words and
    counts). Scoped to the current thread/context.
    """
    extra: set[str] = set()
    for v in values:
        p = Path(v)
        for s in (str(v), p.name, p.parent.name):
            if len(s) >= 3 and s not in (".", "/") and not (s.isdigit() and len(s) < 4):
                extra.add(s)
    token = _SENSITIVE.set(tuple(sorted(set(_SENSITIVE.get()) | extra, key=len, reverse=True)))
    try:
        yield
    finally:
        _SENSITIVE.reset(token)


def scrub(text: str) -> str:
    """``text`` with patient identifiers, dates and paths replaced by placeholders (see the module docstring)."""
    if not text:
        return text
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    for value in _SENSITIVE.get():
        text = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w-]|\.\w)", "[redacted]", text)
    return text


_CHECKOUT = Path(__file__).resolve().parents[1]  # modic_core/, pages/ and app.py of a source checkout
MAX_FRAMES = 3


def failure_location(exc: BaseException, *, max_frames: int = MAX_FRAMES, skip: Iterable[str] = ()) -> str:
    """Where ``exc`` was raised, without any data: ``"modic_core.x:func:12 <- pages.y:<module>:40 (in numpy)"``.

    The innermost ``max_frames`` frames of the product's own code (``modic_core``, ``pages``,
    ``app``), innermost first, and the top-level package of the innermost frame when that is a
    library. Only module and function names and line numbers: no message, arguments or source text.
    Frames of the modules in ``skip`` (e.g. a context manager that re-raises) are left out.
    """
    own, outside = own_frames(exc, skip=skip)
    text = " <- ".join(own[:max_frames]) or "outside the product's code"
    return f"{text} (in {outside})" if outside else text


def own_frames(exc: BaseException, *, skip: Iterable[str] = ()) -> tuple[list[str], str | None]:
    """(``module:function:line`` of the product's own frames, innermost first; the library package
    of the innermost frame, if the innermost frame is not the product's). Modules in ``skip`` are left out."""
    skip = set(skip)
    own: list[str] = []
    outside = None
    for fr in reversed(traceback.extract_tb(exc.__traceback__)):
        mod = _module_of(fr.filename)
        if mod is None:
            if not own and outside is None:
                outside = _library_of(fr.filename)
            continue
        if mod not in skip:
            own.append(f"{mod}:{fr.name}:{fr.lineno}")
    return own, outside


def _innermost_frame(tb) -> str:
    """``module:function:line`` of the innermost frame of the product's own code (else the innermost one)."""
    frames = traceback.extract_tb(tb)
    if not frames:
        return "?"
    for fr in reversed(frames):
        mod = _module_of(fr.filename)
        if mod:
            return f"{mod}:{fr.name}:{fr.lineno}"
    pick = frames[-1]
    return f"{_source_name(pick.filename)}:{pick.name}:{pick.lineno}"


def _module_of(filename: str) -> str | None:
    """Dotted module name of a source file of the product (``modic_core`` wherever it is installed,
    and ``pages``/``app`` of this checkout); None for any other file."""
    path = Path(filename)
    try:
        rel = path.resolve().relative_to(_CHECKOUT)
    except (ValueError, OSError):
        rel = None
    if rel is not None and rel.parts and (rel.parts[0] == "pages" or rel.parts == ("app.py",)):
        return ".".join(rel.with_suffix("").parts)
    parts = path.with_suffix("").parts
    if ROOT not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index(ROOT)
    mod = list(parts[i:])
    if mod[-1] == "__init__":
        mod.pop()
    return ".".join(mod)


def _library_of(filename: str) -> str:
    """The top-level package of a library file (the folder under ``site-packages``), else the file's stem."""
    parts = Path(filename).with_suffix("").parts
    if "site-packages" in parts and parts.index("site-packages") + 1 < len(parts):
        return parts[parts.index("site-packages") + 1]
    return Path(filename).stem


_FRAME_LINE = re.compile(r'^(\s*File ")(.*)(", line \d+, in .*)$')


def _source_name(filename: str) -> str:
    """A frame's file as a traceback may show it: the dotted module inside ``modic_core``, the part
    after ``site-packages`` for libraries, else the base name (a user's folders are never shown)."""
    mod = _module_of(filename)
    if mod:
        return mod
    parts = Path(filename).parts
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1:])
    stdlib = Path(sysconfig.get_paths()["stdlib"]).parts
    if parts[:len(stdlib)] == stdlib:
        return "/".join(parts[len(stdlib):])
    return Path(filename).name


def format_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (chained ones included), scrubbed; frame file names as :func:`_source_name` gives them."""
    lines = []
    for line in "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).splitlines():
        m = _FRAME_LINE.match(line)
        lines.append(f"{m.group(1)}{_source_name(m.group(2))}{m.group(3)}" if m else scrub(line))
    return "\n".join(lines)


def describe_exception(exc: BaseException, *, debug: bool = False) -> str:
    """What failed where, scrubbed: ``"ValueError: message (at modic_core.x:func:12)"``.

    One line without ``debug``; with it, the line followed by the scrubbed traceback.
    """
    msg = " ".join(str(exc).split())
    line = f"{type(exc).__name__}{': ' + msg if msg else ''} (at {_innermost_frame(exc.__traceback__)})"
    line = scrub(line)
    if not debug:
        return line
    return f"{line}\n{format_traceback(exc)}"


class PhiFilter(logging.Filter):
    """Scrubs every record it sees (message and arguments, exception, stack); never drops one.

    Without ``debug`` the exception is reduced to the one line of :func:`describe_exception` added to
    the message; with ``debug`` the scrubbed traceback stays (as ``exc_text``).
    """

    def __init__(self, *, debug: bool | None = None) -> None:
        super().__init__()
        self._debug = debug

    @property
    def debug(self) -> bool:
        """The ``debug`` given, else the one of the last :func:`configure_logging` (False before)."""
        return _State.debug if self._debug is None else self._debug

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_modic_scrubbed", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not self.debug:
            message = f"{message} [{describe_exception(exc)}]"
            record.exc_info, record.exc_text = None, None
        elif exc is not None:
            record.exc_text = format_traceback(exc)
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text) if self.debug else None
        record.msg, record.args = scrub(message), ()
        if record.stack_info:
            record.stack_info = scrub(record.stack_info) if self.debug else None
        record._modic_scrubbed = True
        return True


def configure_logging(*, debug: bool = False, level: int | None = None, log_file: str | Path | None = None,
                      stream=None) -> logging.Logger:
    """Send the package's records to ``stream`` (default stderr) and, when given, ``log_file`` (appended).

    Every handler carries a :class:`PhiFilter` (records of loggers made without :func:`get_logger`
    pass it too); ``debug`` also becomes the default of the loggers' own filters. ``level`` defaults to DEBUG with ``debug``, else INFO.
    Calling again replaces the handlers this function installed. Returns the ``modic_core`` logger.
    """
    _State.debug = bool(debug)
    root = logging.getLogger(ROOT)
    for h in [h for h in root.handlers if getattr(h, "_modic_handler", False)]:
        root.removeHandler(h)
        h.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream) if stream is not None else _StderrHandler()]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(logging.Formatter(FORMAT))
        h.addFilter(PhiFilter(debug=debug))
        h._modic_handler = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(level if level is not None else (logging.DEBUG if debug else logging.INFO))
    return root


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at each record (as logging's last-resort handler does)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass
