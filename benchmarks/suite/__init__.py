"""The pieces of ``benchmarks/driver.py``: thread settings and stamps, data, float64 quality,
timing, one module per suite, and the report written from saved raw results."""
