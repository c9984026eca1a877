"""The throughput benchmark harness (`python -m benchmarks`; see cli.py)."""
