"""Metrics, the evaluation of prediction files, and the result tables of `docs/` and the README."""
