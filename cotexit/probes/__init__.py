"""The length exit: probe features, the probe, its artifact, the probe exit policy, fitting and reports.

Collecting the cue data a probe is fitted on runs models over suites: `cotexit.experiments.collect`.
"""

from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy
from cotexit.probes.features import FeatureSpec, cue_features
from cotexit.probes.probe import Probe, ProbeConfig

__all__ = ["FeatureSpec", "Probe", "ProbeArtifact", "ProbeConfig", "ProbeExitPolicy", "cue_features"]
