"""Environments and the wrappers that make them match the D4RL versions."""
