"""Depth: token-level layer exit (engines, confidence, kernels, calibration) and the suitability analysis."""

from cotexit.depth.stats import DepthStats
from cotexit.depth.config import LayerExitConfig
from cotexit.depth.propagate import PropagateForward
from cotexit.depth.speculative import SpeculativeForward

__all__ = ["DepthStats", "LayerExitConfig", "PropagateForward", "SpeculativeForward"]
