"""The controller every engine drives: cue watching, capture spec, exit policies, exit semantics, acting on exits.

One piece of code decides when a row stops thinking and what happens then;
an engine (`cotexit.engines`: cotexit's own decode loop, an unmodified
transformers `generate()`, vLLM) only produces tokens and hidden states and
feeds the forced text. So a probe calibrated on one engine means the same on
every other.

- `cues`: find "Wait", "Hmm", ... in a row's text as it grows.
- `capture`: which layers' states a policy reads, and the layer numbering.
- `policies`: the `ExitPolicy` base class, the ordered list, the token budget.
- `rows`: one row's controller state (text, thinking phase, cues, exit) and its result.
- `decide`: which cue (or step) a row's policies fire at, and where thinking is then cut.
- `semantics`: what an exit means (cut before or after the cue, force the format's text, answer greedily
  until the brace closes), recorded in probe artifacts and checked by every engine.
- `setup`: what the controller reads once from a model and tokenizer (EOS, stop, pad and forced-exit ids).
- `acting`: what every engine does around a decision (feed tokens, record the exit, answer exited rows,
  charge trial tokens).
- `trials`: forced-answer trial types and their stop rule.
- `doctor`: checking a model's tokenizer and chat template against all of the above.
"""

from cotexit.controller.capture import CaptureConfig, default_layers
from cotexit.controller.cues import DEFAULT_CUES, CueConfig, CueEvent, CueWatcher
from cotexit.controller.decide import ExitDecision, next_exit
from cotexit.controller.policies import ExitPolicies, ExitPolicy, ThinkingBudget
from cotexit.controller.rows import ExitInfo, RowResult, RowState
from cotexit.controller.semantics import EXIT_SEMANTICS, SEMANTICS, ExitSemantics, check_cut, resolve_semantics
from cotexit.controller.setup import ExitSetup, Limits
from cotexit.controller.trials import TRIAL_TOKENS, ForcedAnswer, ForcedRequest

__all__ = [
    "DEFAULT_CUES",
    "EXIT_SEMANTICS",
    "SEMANTICS",
    "TRIAL_TOKENS",
    "CaptureConfig",
    "CueConfig",
    "CueEvent",
    "CueWatcher",
    "ExitDecision",
    "ExitInfo",
    "ExitPolicies",
    "ExitPolicy",
    "ExitSemantics",
    "ExitSetup",
    "ForcedAnswer",
    "ForcedRequest",
    "Limits",
    "RowResult",
    "RowState",
    "ThinkingBudget",
    "check_cut",
    "default_layers",
    "next_exit",
    "resolve_semantics",
]
