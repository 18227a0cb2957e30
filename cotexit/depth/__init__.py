"""Depth: token-level layer exit (engine, confidence, kernels) and the early-exit suitability analysis."""
