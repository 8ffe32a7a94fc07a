"""Metrics, the evaluation of prediction files, and the README summary tables."""
