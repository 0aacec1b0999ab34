"""Benchmarks, outside the pipeline: speed, robustness and matching measured by command, never asserted in tests."""
