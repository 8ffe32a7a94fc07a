"""Every default and limit of the product, in one place, read at call time.

Each setting has a documented default and an environment variable that overrides it
(`docs/settings.md` lists them). Functions, not constants: a test or a deployment
that sets the variable after import still gets its value.

Units: bytes, voxels, seconds and mm as named.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from modic_core.errors import InputError

__all__ = [
    "DEFAULT_COVERAGE",
    "DEFAULT_GRADCAM_VARIANT",
    "DEFAULT_NORMALIZATION",
    "DEFAULT_THRESHOLD",
    "MIN_THRESHOLD",
    "MIN_COVERAGE",
    "MAX_COVERAGE",
    "MAX_BATCH_SIZE",
    "MAX_N_BOOT",
    "MAX_STALL_TIMEOUT_S",
    "Limits",
    "MAX_AUTH_FILE_BYTES",
    "SIGNIN_LOCK_SECONDS",
    "SIGNIN_MAX_FAILURES",
    "allowed_server_folders",
    "auth_file",
    "check_coverage",
    "data_dir",
    "database_url",
    "default_coverage",
    "default_normalization",
    "default_threshold",
    "demo_dir",
    "gradcam_variant",
    "device",
    "limits",
    "max_concurrent_analyses",
    "project_root",
    "result_cache_bytes",
    "session_cache_bytes",
    "stale_temp_seconds",
    "weights_dir",
]

#: The paper's finding (Cina et al. 2024) and the product's default unless a comparison run,
#: by the rule fixed in advance, shows another method better (see ``weights/normalization_comparison.json``).
DEFAULT_NORMALIZATION = "zscore"
#: The explanation the app shows (a name in ``modic_core.classification.gradcam.VARIANTS``): the variant whose
#: maps put more mass in the marrow bands than in the disc on the most real MC2 discs, by the rule in
#: ``weights/gradcam_audit.json`` (``python -m modic_core.train.gradcam_audit``).
DEFAULT_GRADCAM_VARIANT = "gradcam_block2"
#: Detector confidence threshold shown at start.
DEFAULT_THRESHOLD = 0.5
#: Candidates below this detector confidence are never classified (the slider's minimum).
MIN_THRESHOLD = 0.05
#: Prediction-set coverage used when none is chosen: the share of levels whose true grade lies in the
#: level's conformal prediction set (:mod:`modic_core.classification.conformal`), and its allowed range.
DEFAULT_COVERAGE = 0.90
MIN_COVERAGE = 0.5
MAX_COVERAGE = 0.99
#: Command-line bounds (``modic_core.cli_args``): bootstrap resamples (``--n-boot``; 10^5 resamples of
#: 10^4 discs already take minutes and GiBs), studies per network pass (``--batch-size``; they are held in
#: memory together), seconds a Ray pipeline may make no progress (``--stall-timeout``, one day).
MAX_N_BOOT = 100_000
MAX_BATCH_SIZE = 256
MAX_STALL_TIMEOUT_S = 86_400.0

GIB = 1024**3
MIB = 1024**2
#: Largest accounts file (``MODIC_AUTH_FILE``) that is read, in bytes; a larger one is refused unread.
MAX_AUTH_FILE_BYTES = MIB
#: Failed sign-ins in one browser session after which further tries are refused for
#: :data:`SIGNIN_LOCK_SECONDS` seconds.
SIGNIN_MAX_FAILURES = 5
SIGNIN_LOCK_SECONDS = 30.0


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"The environment variable {name}={raw!r} is not a number.") from exc
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"The environment variable {name}={raw!r} must be a positive number.")
    return value


def project_root() -> Path:
    """The folder that holds ``modic_core/``, ``weights/`` and ``demo/`` in a checkout."""
    return Path(__file__).resolve().parents[1]


def _data_folder(env_name: str, name: str) -> Path:
    env = _env(env_name)
    if env:
        return Path(env)
    checkout = project_root() / name
    if checkout.is_dir() or not (Path.cwd() / name).is_dir():
        return checkout
    return Path.cwd() / name  # a non-editable install run from a checkout


def weights_dir() -> Path:
    """Folder of the model bundles: ``MODIC_WEIGHTS_DIR``, else the checkout's ``weights/``
    (for a ``pip install .`` outside the checkout, ``./weights`` or the variable)."""
    return _data_folder("MODIC_WEIGHTS_DIR", "weights")


def demo_dir() -> Path:
    """Folder of the bundled demo cases (``MODIC_DEMO_DIR``, else the checkout's ``demo/``)."""
    return _data_folder("MODIC_DEMO_DIR", "demo")


def data_dir() -> Path:
    """Folder of the product's own stored data (the label store's SQLite file and de-identified
    images): ``MODIC_DATA_DIR``, else the checkout's git-ignored ``data/`` (created on first write)."""
    return _data_folder("MODIC_DATA_DIR", "data")


def database_url() -> str:
    """SQLAlchemy URL of the label store (:mod:`modic_core.labels`): ``MODIC_DATABASE_URL``
    (production: ``postgresql+psycopg://user@host:port/db``), else SQLite ``labels.sqlite3`` in :func:`data_dir`."""
    return _env("MODIC_DATABASE_URL") or f"sqlite:///{data_dir() / 'labels.sqlite3'}"


def auth_file() -> Path | None:
    """The accounts file (``MODIC_AUTH_FILE``: TOML, bcrypt-hashed passwords and roles,
    :mod:`modic_core.labels.auth`), or ``None`` when unset: then the app asks for a reviewer name once per
    session (local default) instead of a sign-in."""
    env = _env("MODIC_AUTH_FILE")
    return Path(env).expanduser() if env else None


def default_normalization() -> str:
    """Normalization method used when none is asked for (``MODIC_NORMALIZATION`` overrides)."""
    return _env("MODIC_NORMALIZATION") or DEFAULT_NORMALIZATION


def gradcam_variant() -> str:
    """Explanation shown on heat maps (``MODIC_GRADCAM_VARIANT`` overrides; the names are in
    ``modic_core.classification.gradcam.VARIANTS``, which checks them)."""
    return _env("MODIC_GRADCAM_VARIANT") or DEFAULT_GRADCAM_VARIANT


def default_threshold() -> float:
    """Detector threshold used when none is asked for (``MODIC_THRESHOLD`` overrides), in (0, 1)."""
    value = _env_float("MODIC_THRESHOLD", DEFAULT_THRESHOLD)
    if not MIN_THRESHOLD <= value < 1:
        raise ValueError(f"MODIC_THRESHOLD must lie in [{MIN_THRESHOLD}, 1).")
    return value


def check_coverage(value, *, source: str | None = None) -> float:
    """``value`` as a float when it lies in [:data:`MIN_COVERAGE`, :data:`MAX_COVERAGE`] (a share, not a
    percentage); otherwise an InputError sentence naming ``source`` (default: the value) and the allowed range."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not (math.isfinite(out) and MIN_COVERAGE <= out <= MAX_COVERAGE):
        subject = source or f"The prediction-set coverage {value!r}"
        raise InputError(f"{subject} must be a share between {MIN_COVERAGE} and {MAX_COVERAGE}, e.g. 0.9 for 90 %.")
    return out


def default_coverage() -> float:
    """Prediction-set coverage used when none is asked for (``MODIC_COVERAGE`` overrides), a share in
    [:data:`MIN_COVERAGE`, :data:`MAX_COVERAGE`]; InputError for another value."""
    raw = _env("MODIC_COVERAGE")
    if raw is None:
        return DEFAULT_COVERAGE
    return check_coverage(raw, source=f"The environment variable MODIC_COVERAGE={raw!r}")


def device() -> str:
    """Torch device for inference: ``MODIC_DEVICE`` if set (``cpu``, ``cuda``, ``cuda:1``), else CUDA when available."""
    env = _env("MODIC_DEVICE")
    if env:
        return env
    import torch  # lazy: torch is heavy; only the model path needs it

    return "cuda" if torch.cuda.is_available() else "cpu"


def allowed_server_folders() -> tuple[Path, ...]:
    """Server folders the cohort page may read (``MODIC_SERVER_FOLDERS``, ``os.pathsep``-separated).

    Empty by default: the dashboard then reads only what users upload.
    """
    raw = _env("MODIC_SERVER_FOLDERS")
    if not raw:
        return ()
    return tuple(Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip())


@dataclass(frozen=True)
class Limits:
    """Limits on what users may hand the product; beyond them the input is refused with an InputError.

    Every limit is checked before the work it bounds: sizes from zip directories and image
    headers before anything is unpacked or decoded, so a small file cannot make a large image.

    Attributes:
        max_upload_bytes: total bytes of one upload (files as sent), ``MODIC_MAX_UPLOAD_MB``.
        max_unzipped_bytes: total bytes a zip may unpack to, ``MODIC_MAX_UNZIPPED_MB``.
        max_zip_members: files in one zip, ``MODIC_MAX_ZIP_MEMBERS``.
        max_compression_ratio: unpacked/packed bytes of one zip member above
            ``ratio_check_min_bytes``, and of a whole zip above 64 MiB, ``MODIC_MAX_COMPRESSION_RATIO``.
        ratio_check_min_bytes: members smaller than this are exempt from the ratio check
            (a blank DICOM slice legitimately compresses ~1000x).
        max_voxels: voxels of one decoded series (rows x columns x slices), ``MODIC_MAX_VOXELS``;
            checked against the header before any pixel is decoded.
        max_slices: slices (files or frames) of one series, ``MODIC_MAX_SLICES``.
        max_rows_cols: rows or columns of one slice, ``MODIC_MAX_ROWS_COLS``.
        parse_seconds: time allowed to read the headers of one source, and again to decode one
            series, ``MODIC_PARSE_SECONDS``.
        min_spacing_mm / max_spacing_mm: physically plausible voxel spacing
            (``MODIC_MIN_SPACING_MM`` / ``MODIC_MAX_SPACING_MM``).
        max_series: series (DICOM series and image files) in one upload or source, ``MODIC_MAX_SERIES``;
            counted while the headers are read, so a flood of tiny series stops early.
    """

    max_upload_bytes: int
    max_unzipped_bytes: int
    max_zip_members: int
    max_compression_ratio: float
    max_voxels: int
    max_slices: int
    max_rows_cols: int
    parse_seconds: float
    ratio_check_min_bytes: int = MIB
    min_spacing_mm: float = 0.05
    max_spacing_mm: float = 50.0
    max_series: int = 64


def limits() -> Limits:
    """The limits in force now (environment read at each call)."""
    return Limits(
        max_upload_bytes=int(_env_float("MODIC_MAX_UPLOAD_MB", 1024) * MIB),
        max_unzipped_bytes=int(_env_float("MODIC_MAX_UNZIPPED_MB", 1024) * MIB),
        max_zip_members=int(_env_float("MODIC_MAX_ZIP_MEMBERS", 5000)),
        max_compression_ratio=_env_float("MODIC_MAX_COMPRESSION_RATIO", 200.0),
        max_voxels=int(_env_float("MODIC_MAX_VOXELS", 64 * 1024 * 1024)),
        max_slices=int(_env_float("MODIC_MAX_SLICES", 1024)),
        max_rows_cols=int(_env_float("MODIC_MAX_ROWS_COLS", 4096)),
        parse_seconds=_env_float("MODIC_PARSE_SECONDS", 60.0),
        min_spacing_mm=_env_float("MODIC_MIN_SPACING_MM", 0.05),
        max_spacing_mm=_env_float("MODIC_MAX_SPACING_MM", 50.0),
        max_series=int(_env_float("MODIC_MAX_SERIES", 64)),
    )


def result_cache_bytes() -> int:
    """Budget of the process-wide cache of analysis results (detections, probabilities, crop-local
    Grad-CAM), in bytes: ``MODIC_RESULT_CACHE_MB``, default 160 MiB."""
    return int(_env_float("MODIC_RESULT_CACHE_MB", 160) * MIB)


def viewer_series_bytes() -> int:
    """Most bytes of 16-bit codes sent to the browser per series for the picture
    (``MODIC_VIEWER_SERIES_MB``, default 24 MiB); a larger series is shown with an in-plane stride."""
    return int(_env_float("MODIC_VIEWER_SERIES_MB", 24) * MIB)


def display_cache_bytes() -> int:
    """Budget of the process-wide cache of encoded pictures (series codes, Grad-CAM patches) shared
    by all sessions: ``MODIC_DISPLAY_CACHE_MB``, default 128 MiB."""
    return int(_env_float("MODIC_DISPLAY_CACHE_MB", 128) * MIB)


def session_cache_bytes() -> int:
    """Budget of one dashboard session's store of analysed studies (their T1/T2 arrays and results),
    in bytes: ``MODIC_SESSION_CACHE_MB``, default 64 MiB. The study on screen is always kept."""
    return int(_env_float("MODIC_SESSION_CACHE_MB", 64) * MIB)


def max_concurrent_analyses() -> int:
    """Analyses that may compute at once in one process (dashboard sessions, CLI, library calls):
    ``MODIC_MAX_CONCURRENT_ANALYSES``, a whole number >= 1, default 2. Further ones wait their turn
    (:mod:`modic_core.analysis.slots`); one analysis of a maximum-size pair peaks at about 3 GB."""
    raw = _env("MODIC_MAX_CONCURRENT_ANALYSES")
    if raw is None:
        return 2
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"The environment variable MODIC_MAX_CONCURRENT_ANALYSES={raw!r} is not a whole number.") from exc
    if value < 1:
        raise ValueError(f"The environment variable MODIC_MAX_CONCURRENT_ANALYSES={raw!r} must be at least 1.")
    return value


def stale_temp_seconds() -> float:
    """Age (seconds) beyond which one of our temporary folders that records no owner process is
    removed by the start-up sweep (:mod:`modic_core.io.tempdirs`): ``MODIC_STALE_TEMP_HOURS``, default 24 h.
    Folders that record their owner are removed as soon as that process is gone, whatever their age."""
    return _env_float("MODIC_STALE_TEMP_HOURS", 24.0) * 3600.0


def debug() -> bool:
    """``MODIC_DEBUG=1`` (or ``true``/``yes``/``on``): tracebacks, scrubbed of patient data, go to the
    local log and to the batch status file's ``message`` cell; otherwise a failure is one line (what
    failed where). Anything else, or unset, is off."""
    return (_env("MODIC_DEBUG") or "").strip().lower() in ("1", "true", "yes", "on")
