"""``python -m modic_core.batch COHORT --out results.csv`` (also ``modic-batch``)."""
from modic_core.batch.local import main

if __name__ == "__main__":
    raise SystemExit(main())
