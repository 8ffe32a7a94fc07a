"""Training entry points: ``python -m modic_core.train.detector`` and ``...classifier`` / ``...compare``."""
