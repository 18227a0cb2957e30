"""cotexit: early exit for reasoning models, in length (stop thinking) and depth (skip layers)."""

from cotexit.version import __version__

__all__ = ["__version__"]
