"""``python -m modic_core.evaluation PREDICTIONS.csv LABELS.csv`` (also ``modic-evaluate``)."""
from modic_core.evaluation.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
