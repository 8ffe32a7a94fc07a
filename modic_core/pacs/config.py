"""Where the DICOMweb archive is and how to sign in to it (environment settings, read at call time).

| variable | meaning |
|---|---|
| ``MODIC_DICOMWEB_URL`` | base URL of the DICOMweb service (QIDO/WADO/STOW below it); unset: no PACS |
| ``MODIC_DICOMWEB_USER`` / ``MODIC_DICOMWEB_PASSWORD`` | HTTP basic authentication |
| ``MODIC_DICOMWEB_TOKEN`` | bearer token (``Authorization: Bearer ...``), instead of basic |
| ``MODIC_DICOMWEB_VERIFY`` | TLS verification: ``true`` (default), ``false``, or the path of a CA bundle |
| ``MODIC_DICOMWEB_TIMEOUT_S`` | seconds to connect and between two received bytes, default 30 |
| ``MODIC_DICOMWEB_RETRIES`` | retries after a failed connection, timeout or 429/502/503/504, default 2 |

Secrets never appear in ``repr()``, in errors or in logs.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from modic_core.errors import InputError
from modic_core.settings import _env, _env_float

__all__ = ["DicomwebConfig", "dicomweb_config", "public_url"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def public_url(url: str) -> str:
    """``url`` without user information, query or fragment: safe to show and log (scheme, host, port, path)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class DicomwebConfig:
    """How to reach one DICOMweb archive.

    ``url``: base URL (``http(s)://host[:port]/path``), e.g. Orthanc's ``http://pacs:8042/dicom-web``;
    ``username``/``password``: HTTP basic auth; ``token``: bearer token (wins over basic);
    ``verify``: TLS verification (True, False, or a CA bundle path); ``timeout_s``: seconds to connect and
    between two received bytes; ``retries``: further tries after a failed connection, a timeout or a
    429/502/503/504 answer.
    """

    url: str
    username: str | None = None
    password: str | None = None
    token: str | None = None
    verify: bool | str = True
    timeout_s: float = 30.0
    retries: int = 2

    def __post_init__(self) -> None:
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError("The DICOMweb URL must start with http:// or https:// and name a host, "
                             "e.g. http://pacs.example.org:8042/dicom-web.")
        if not (self.timeout_s > 0):
            raise InputError("The DICOMweb timeout must be a positive number of seconds.")
        if self.retries < 0:
            raise InputError("The DICOMweb retries must be 0 or more.")

    def __repr__(self) -> str:
        secret = lambda v: None if v is None else "***"  # noqa: E731
        return (f"DicomwebConfig(url={public_url(self.url)!r}, username={secret(self.username)!r}, "
                f"password={secret(self.password)!r}, token={secret(self.token)!r}, verify={self.verify!r}, "
                f"timeout_s={self.timeout_s!r}, retries={self.retries!r})")

    __str__ = __repr__


def _verify(raw: str | None) -> bool | str:
    if raw is None or raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    return raw  # a CA bundle path


def dicomweb_config(url: str | None = None) -> DicomwebConfig | None:
    """The archive named by ``MODIC_DICOMWEB_URL`` (or ``url``, e.g. a command line's ``--dicomweb``) with the
    sign-in, TLS and timeout settings of the environment; None when no URL is set (the app then hides every
    PACS control)."""
    url = url or _env("MODIC_DICOMWEB_URL")
    if url is None:
        return None
    raw_retries = _env("MODIC_DICOMWEB_RETRIES")
    try:
        retries = 2 if raw_retries is None else int(raw_retries)
    except ValueError:
        raise InputError(f"The environment variable MODIC_DICOMWEB_RETRIES={raw_retries!r} is not a whole number.") from None
    return DicomwebConfig(
        url=url,
        username=_env("MODIC_DICOMWEB_USER"),
        password=_env("MODIC_DICOMWEB_PASSWORD"),
        token=_env("MODIC_DICOMWEB_TOKEN"),
        verify=_verify(_env("MODIC_DICOMWEB_VERIFY")),
        timeout_s=_env_float("MODIC_DICOMWEB_TIMEOUT_S", 30.0),
        retries=retries,
    )
