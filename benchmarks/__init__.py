"""Reproducible benchmarks; each module is one command (``python -m benchmarks.NAME``)."""
