"""``python -m modic_core.bench`` (what ``make bench`` runs)."""
from modic_core.bench.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main())
