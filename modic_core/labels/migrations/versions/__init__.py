"""Migration scripts, one per schema version, oldest first (``0001_initial``)."""
