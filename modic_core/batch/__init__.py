"""Batch analysis of a cohort (resumable; ``python -m modic_core.batch``)."""
from __future__ import annotations

from modic_core.batch.local import *  # noqa: F401,F403
from modic_core.batch.local import __all__  # noqa: F401
