"""``python -m modic_core.labels``: the same as ``modic-labels`` (:mod:`modic_core.labels.cli`)."""
import sys

from modic_core.labels.cli import main

sys.exit(main())
