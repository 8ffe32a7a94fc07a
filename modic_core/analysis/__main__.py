"""``python -m modic_core.analysis T1 T2 ...`` (also the ``modic-analyze`` console script)."""
from modic_core.analysis.analyze import main

if __name__ == "__main__":
    raise SystemExit(main())
