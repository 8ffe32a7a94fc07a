"""``python -m modic_core.analysis T1 T2 ...`` (also the ``modic-analyze`` console script).

The entry point is composed above the layers: the analysis command line plus the export layer's
files (--csv, --pdf, --sr), see :mod:`modic_core.export.cli` (an ignored import in pyproject).
"""
from modic_core.export.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
