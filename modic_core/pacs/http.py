"""The HTTP side of the archive: one authenticated session, retries, and every failure as one sentence.

:func:`pacs_errors` turns what ``requests`` and ``dicomweb-client`` raise (HTTP status, timeouts, refused
connections, TLS failures, answers that are not DICOM JSON) into a :class:`PacsError` raised ``from None``:
library messages hold URLs with query strings (patient IDs and names), so none of their text is kept.
The library loggers (``dicomweb_client``, ``urllib3``) log URLs at DEBUG: they get the package's PHI filter
and are held at WARNING.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import requests
from requests.adapters import HTTPAdapter

from modic_core.logs import PhiFilter, get_logger
from modic_core.pacs.config import DicomwebConfig
from modic_core.pacs.errors import PacsError

__all__ = ["RETRY_STATUS", "make_session", "pacs_errors", "quiet_library_loggers", "with_retries"]

LOG = get_logger(__name__)
#: Answers worth another try (the archive is busy or a gateway timed out).
RETRY_STATUS = (429, 502, 503, 504)
T = TypeVar("T")
_UNESCAPE = (("%2A", "*"), ("%3F", "?"))


def quiet_library_loggers() -> None:
    """Hold the HTTP libraries' loggers at WARNING, scrubbed by :class:`PhiFilter` (idempotent)."""
    for name in ("dicomweb_client", "urllib3", "requests"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        if not any(isinstance(f, PhiFilter) for f in logger.filters):
            logger.addFilter(PhiFilter())


class _QueryAdapter(HTTPAdapter):
    """Sends QIDO's wildcards ``*`` and ``?`` unescaped in the query string. ``dicomweb-client`` percent-encodes them, which some archives (Orthanc 1.10)
    then match literally, so ``DOE*`` found nothing."""

    def send(self, request, *args, **kwargs):  # type: ignore[override]
        url = request.url or ""
        if "?" in url:
            path, query = url.split("?", 1)
            for code, char in _UNESCAPE:
                query = query.replace(code, char).replace(code.lower(), char)
            request.url = f"{path}?{query}"
        return super().send(request, *args, **kwargs)


def make_session(config: DicomwebConfig) -> requests.Session:
    """A session that signs every request (bearer token, else basic auth) and verifies TLS as configured."""
    session = requests.Session()
    session.mount("http://", _QueryAdapter())
    session.mount("https://", _QueryAdapter())
    if config.token:
        session.headers["Authorization"] = f"Bearer {config.token}"
    elif config.username is not None:
        session.auth = (config.username, config.password or "")
    session.verify = config.verify
    session.trust_env = False  # no ~/.netrc credentials or proxies from the environment leak in
    return session


def _status_sentence(status: int, what: str) -> str:
    if status == 401:
        return (f"The PACS refused the sign-in while {what} (HTTP 401); check MODIC_DICOMWEB_USER and "
                "MODIC_DICOMWEB_PASSWORD (or MODIC_DICOMWEB_TOKEN).")
    if status == 403:
        return (f"The PACS does not allow this account to do this ({what}, HTTP 403); ask its administrator "
                "for access.")
    if status == 404:
        return f"The PACS does not hold what was asked for while {what} (HTTP 404); it may have been moved or deleted."
    if status == 413:
        return f"The PACS refused the data as too large while {what} (HTTP 413)."
    if status >= 500:
        return (f"The PACS failed while {what} (HTTP {status}); please try again later, and tell its administrator "
                "if it keeps happening.")
    return f"The PACS refused the request while {what} (HTTP {status})."


@contextmanager
def pacs_errors(what: str, *, timeout_s: float) -> Iterator[None]:
    """Translate failures inside the block into PacsError; ``what`` completes "while ..." (e.g.
    "searching for studies"). PacsError and other InputErrors pass through unchanged."""
    try:
        yield
    except PacsError:
        raise
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        LOG.warning("PACS answered HTTP %s while %s", status, what)
        raise PacsError(_status_sentence(status, what)) from None
    except requests.exceptions.JSONDecodeError:
        LOG.warning("PACS answer could not be read while %s", what)
        raise PacsError(_not_dicomweb(what)) from None
    except requests.exceptions.SSLError:
        LOG.warning("TLS verification failed while %s", what)
        raise PacsError(f"The PACS's TLS certificate could not be verified while {what}; set MODIC_DICOMWEB_VERIFY "
                        "to the path of its CA certificate.") from None
    except (requests.Timeout, TimeoutError):
        LOG.warning("PACS timed out after %.0f s while %s", timeout_s, what)
        raise PacsError(f"The PACS did not answer within {timeout_s:g} s while {what}; please try again later "
                        "(MODIC_DICOMWEB_TIMEOUT_S sets the wait).") from None
    except requests.ConnectionError as exc:
        timed_out = "timed out" in str(exc).lower() or "timeout" in type(exc).__name__.lower()
        LOG.warning("PACS connection failed while %s (%s)", what, "timeout" if timed_out else "connection")
        if timed_out:
            raise PacsError(f"The PACS did not answer within {timeout_s:g} s while {what}; please try again later "
                            "(MODIC_DICOMWEB_TIMEOUT_S sets the wait).") from None
        raise PacsError(f"The PACS could not be reached while {what} (connection refused or lost); check "
                        "MODIC_DICOMWEB_URL and the network.") from None
    except requests.RequestException:
        LOG.warning("PACS request failed while %s", what)
        raise PacsError(f"The request to the PACS failed while {what}; check MODIC_DICOMWEB_URL.") from None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        # JSON that is not DICOM JSON, a wrong media type, a damaged multipart body
        LOG.warning("PACS answer could not be read while %s", what)
        raise PacsError(_not_dicomweb(what)) from None


def _not_dicomweb(what: str) -> str:
    return (f"The PACS answered with something that is not DICOMweb while {what} (wrong content type or damaged "
            "data); check that MODIC_DICOMWEB_URL points at its DICOMweb service.")


def with_retries(call: Callable[[], T], *, retries: int, pause_s: float = 0.5) -> T:
    """``call()``, tried again up to ``retries`` times after a connection failure, a timeout or a
    429/502/503/504 answer (pausing ``pause_s``, doubled each time). Other failures are not retried."""
    for attempt in range(retries + 1):
        try:
            return call()
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status not in RETRY_STATUS or attempt == retries:
                raise
        except (requests.ConnectionError, requests.Timeout):
            if attempt == retries:
                raise
        time.sleep(pause_s * 2**attempt)
    raise AssertionError("unreachable")
