"""cotexit: early exit for reasoning models, in length (stop thinking) and depth (skip layers)."""

__version__ = "0.1.0"
