"""Datasets: the cohort format, the SPIDER adapter, synthetic phantoms, bundled demo cases."""
