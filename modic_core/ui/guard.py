"""No traceback ever reaches the page: input problems become messages, the rest a generic error.

Usage in a page::

    with guarded("loading the upload") as g:
        study = load(...)
    if not g.ok:
        st.stop()

An :class:`~modic_core.InputError` is shown with its own message (written for clinicians,
free of patient identifiers), markdown made inert (it may quote a file name). Any other exception is shown as :data:`GENERIC_ERROR` and
logged with its type name and where it happened -- ``module:function:line`` of the innermost
frames in the product's own code (``modic_core``, ``pages``, ``app``) and the library it was
raised in -- never its message, arguments or source lines, which could hold file names, tags
or paths of a patient. Streamlit's own control flow (``st.stop``, reruns,
page switches) derives from ``BaseException`` and passes through untouched.
"""
from __future__ import annotations

import traceback
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from modic_core.errors import InputError
from modic_core.logs import get_logger
from modic_core.export.style import GENERIC_ERROR
from modic_core.text import markdown_inert

__all__ = ["Outcome", "failure_location", "guarded", "safe_call", "log_unexpected", "LOGGER"]

LOGGER = get_logger("modic_core.app")
_ROOT = Path(__file__).resolve().parents[2]  # the checkout: modic_core/, pages/, app.py
_OWN = ("modic_core", "pages", "app")
MAX_FRAMES = 3


@dataclass
class Outcome:
    """Result of a guarded block: ``ok`` is False when an error was shown."""

    ok: bool = True
    message: str | None = None
    kind: str | None = None  # "input" or "unexpected"
    extra: dict[str, Any] = field(default_factory=dict)


def _module_of(filename: str) -> tuple[str, bool]:
    """Dotted module name of a source file and whether it is the product's own code."""
    path = Path(filename)
    try:
        rel = path.resolve().relative_to(_ROOT)
    except (ValueError, OSError):
        rel = None
    if rel is not None and rel.parts and (rel.parts[0] in _OWN[:2] or rel.name == "app.py"):
        return ".".join(rel.with_suffix("").parts), True
    parts = path.with_suffix("").parts
    if "site-packages" in parts:  # a library: its top-level package is enough
        return parts[parts.index("site-packages") + 1], False
    return path.stem, False


def failure_location(exc: BaseException) -> str:
    """Where ``exc`` was raised, without any data: ``"modic_core.x:func:12 <- pages.y:<module>:40 (in numpy)"``.

    The innermost :data:`MAX_FRAMES` frames of the product's own code, innermost first, and the
    package of the innermost frame when that is a library. Only file, function names and line
    numbers: no message, no arguments, no source text.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    own, outside = [], None
    for fr in reversed(frames):
        module, mine = _module_of(fr.filename)
        if module == __name__:  # the guard's own frames (the ``yield`` of guarded) say nothing
            continue
        if mine:
            own.append(f"{module}:{fr.name}:{fr.lineno}")
        elif not own and outside is None:
            outside = module
    text = " <- ".join(own[:MAX_FRAMES]) or "outside the product's code"
    return f"{text} (in {outside})" if outside else text


def log_unexpected(exc: BaseException, what: str) -> None:
    """Log an unexpected failure by exception type and code location (no message, no arguments)."""
    LOGGER.error("unexpected %s while %s at %s", type(exc).__name__, what, failure_location(exc))


def _show(message: str, show: Callable[[str], Any] | None) -> None:
    if show is None:
        import streamlit as st

        show = st.error
    show(message)


@contextmanager
def guarded(what: str = "processing the request", *, show: Callable[[str], Any] | None = None) -> Iterator[Outcome]:
    """Context manager that turns exceptions into ``st.error`` messages (see module docstring)."""
    outcome = Outcome()
    try:
        yield outcome
    except InputError as exc:
        outcome.ok, outcome.kind, outcome.message = False, "input", str(exc)
        _show(markdown_inert(str(exc)), show)  # messages may quote file names: drawn as text, never markdown
    except Exception as exc:  # noqa: BLE001 - the page must never show a traceback
        log_unexpected(exc, what)
        outcome.ok, outcome.kind, outcome.message = False, "unexpected", GENERIC_ERROR
        _show(GENERIC_ERROR, show)


def safe_call(fn: Callable[[], Any], what: str, *, fallback: Any = None,
              on_error: Callable[[], Any] | None = None) -> Callable[[], Any]:
    """Wrap a deferred callable (e.g. a download's data) so that it never raises: on failure it
    returns ``on_error()`` when given (built only then, e.g. a PDF saying the report failed), else ``fallback``."""

    def run() -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            log_unexpected(exc, what)
            return on_error() if on_error is not None else fallback

    return run
