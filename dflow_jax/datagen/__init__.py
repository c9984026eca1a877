"""Offline dataset regeneration: the generators, their recipes and the `generate` CLI.

Training never imports this package; it reads what this package writes (dflow_jax.data).
"""
