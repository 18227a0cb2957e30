"""Generation: the decode loop, cue watching, hidden-state capture, exit policies, forced answers."""

from cotexit.generation.capture import CaptureConfig, default_layers
from cotexit.generation.cues import DEFAULT_CUES, CueConfig, CueEvent, CueWatcher
from cotexit.generation.decode import DecodeConfig, Decoder, DecodeSession, StepEvent
from cotexit.generation.forced import ForcedAnswer, ForcedRequest, forced_answers
from cotexit.generation.policies import ExitPolicies, ExitPolicy, ThinkingBudget
from cotexit.generation.sampling import SamplingConfig
from cotexit.generation.state import ExitInfo, RowResult

__all__ = [
    "DEFAULT_CUES",
    "CaptureConfig",
    "CueConfig",
    "CueEvent",
    "CueWatcher",
    "DecodeConfig",
    "DecodeSession",
    "Decoder",
    "ExitInfo",
    "ExitPolicies",
    "ExitPolicy",
    "ForcedAnswer",
    "ForcedRequest",
    "RowResult",
    "SamplingConfig",
    "StepEvent",
    "ThinkingBudget",
    "default_layers",
    "forced_answers",
]
