"""cotexit's own decode loop (`--backend hf`): batched decoding step by step, forced-answer trials.

The controller's pieces (cues, capture, policies, rows, acting on exits, trial types) live in
`cotexit.controller`; the decode settings every engine takes in `cotexit.engines.decoding`.
"""

from cotexit.engines.loop.decode import Decoder, DecodeSession, StepEvent
from cotexit.engines.loop.forced import forced_answers

__all__ = [
    "DecodeSession",
    "Decoder",
    "StepEvent",
    "forced_answers",
]
