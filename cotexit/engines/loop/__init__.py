"""cotexit's own decode loop (`--backend hf`): batched decoding step by step, forced-answer trials.

The controller's pieces (cues, capture, policies, rows) live in `cotexit.controller`.
"""

from cotexit.engines.loop.decode import DecodeConfig, Decoder, DecodeSession, StepEvent
from cotexit.engines.loop.forced import ForcedAnswer, ForcedRequest, forced_answers
from cotexit.engines.loop.sampling import SamplingConfig

__all__ = [
    "DecodeConfig",
    "DecodeSession",
    "Decoder",
    "ForcedAnswer",
    "ForcedRequest",
    "SamplingConfig",
    "StepEvent",
    "forced_answers",
]
