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

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from modic_core.errors import InputError
from modic_core import logs
from modic_core.logs import get_logger
from modic_core.export.style import GENERIC_ERROR
from modic_core.text import markdown_inert

__all__ = ["Outcome", "failure_location", "guarded", "safe_call", "log_unexpected", "LOGGER"]

LOGGER = get_logger("modic_core.app")


@dataclass
class Outcome:
    """Result of a guarded block: ``ok`` is False when an error was shown."""

    ok: bool = True
    message: str | None = None
    kind: str | None = None  # "input" or "unexpected"
    extra: dict[str, Any] = field(default_factory=dict)


def failure_location(exc: BaseException) -> str:
    """Where ``exc`` was raised (:func:`modic_core.logs.failure_location`), the guard's own frames
    (the ``yield`` of :func:`guarded`) left out: they say nothing."""
    return logs.failure_location(exc, skip=(__name__,))


def log_unexpected(exc: BaseException, what: str) -> None:
    """Log an unexpected failure by exception type and code location (no message, no arguments)."""
    LOGGER.error("unexpected %s while %s at %s", type(exc).__name__, what, failure_location(exc))


def _show(message: str, show: Callable[[str], Any] | None) -> None:
    if show is None:
        import streamlit as st  # lazy: streamlit is needed only while the dashboard runs

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
