"""Benchmarks: ``python -m bench [--only ingest,flow] [--quick]``.

Every figure is printed next to a baseline measured in the same run, as a ratio; nothing here asserts
anything about time, so a slow machine gives smaller numbers, never a failure.
"""
