"""Stand-ins for controller tests: a character-level tokenizer (token id = code point), a setup, a policy."""

from __future__ import annotations

import torch

from cotexit.controller import SEMANTICS, CueConfig, ExitPolicies, ExitPolicy, ExitSetup
from cotexit.models.thinking import get_format

FMT = get_format("plain")  # thinking from the first token; the forced exit opens `\boxed{`
EOS = 3


class CharTokenizer:
    pad_token_id = None
    eos_token_id = EOS

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, **kwargs) -> str:
        return "".join(chr(i) for i in ids if i != EOS)


def ids(text: str) -> list[int]:
    return [ord(c) for c in text]


class _Model:
    class config:
        eos_token_id = EOS


def setup(policies=(), cues: CueConfig | None = None, max_answer_tokens: int = 8) -> ExitSetup:
    return ExitSetup.for_model(
        _Model(), CharTokenizer(), FMT, policies=ExitPolicies(policies), cues=cues, max_answer_tokens=max_answer_tokens
    )


def states(value: float) -> dict[int, torch.Tensor]:
    return {2: torch.full((1, 4), value)}  # {layer: (B=1, H)}


class Seen(ExitPolicy):
    """Records every (cue phrase, has states) it is shown; fires at cue number `fire_at` (0-based)."""

    per_step = False

    def __init__(self, fire_at: int | None = None, *, needs_hidden: bool = False, name: str = "seen", cut: str | None = None):
        self.fire_at, self.needs_hidden, self.name = fire_at, needs_hidden, name
        self.semantics = SEMANTICS[cut].to_json() if cut else None
        self.shown: list[tuple[str, bool]] = []

    def __call__(self, row, cue) -> bool:
        self.shown.append((cue.phrase, cue.hidden is not None))
        if self.needs_hidden and cue.hidden is not None:
            cue.score = float(cue.hidden[2].sum())
        return self.fire_at is not None and len(self.shown) - 1 == self.fire_at
