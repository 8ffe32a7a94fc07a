"""Benchmarks (``make bench``): core timings, normalization timings, browser latency."""
