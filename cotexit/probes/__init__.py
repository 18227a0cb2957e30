"""The length exit: probe features, the probe, its artifact, the probe exit policy, data collection and fitting."""

from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy
from cotexit.probes.features import FeatureSpec, cue_features
from cotexit.probes.probe import Probe, ProbeConfig

__all__ = ["FeatureSpec", "Probe", "ProbeArtifact", "ProbeConfig", "ProbeExitPolicy", "cue_features"]
