"""Whether the shipped models are installed, for tests that run the real pipeline."""
from __future__ import annotations

__all__ = ["models_ready"]


def models_ready() -> bool:
    """True when ``weights/`` holds the disc detector and the z-score classifier."""
    try:
        from modic_core.analysis.analyze import models_available

        m = models_available()
        return bool(m.get("detector") and m.get("zscore"))
    except Exception:  # noqa: BLE001 - a missing or broken bundle means "not installed" here
        return False
