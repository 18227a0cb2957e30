"""What the controller needs to know about one model before any engine runs: `ExitSetup`.

Owns `ExitSetup` (tokenizer, thinking format, cues, exit policies, and the
ids read once from the model and tokenizer: every EOS, the EOS a stopped row
is made to write, the pad id, the forced-exit text as token ids), `Limits`
(what ends a row) and the id rules (`eos_ids`, `stop_id`, `pad_id`). Every
engine builds its setup here, so they agree on these ids; a vLLM engine
ships the same object to its workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cotexit.controller.cues import CueConfig
from cotexit.controller.policies import ExitPolicies
from cotexit.controller.rows import RowState
from cotexit.models.thinking import ThinkingFormat


@dataclass(frozen=True)
class Limits:
    """What ends a row besides a closed answer: EOS, the token budget, the answer's budget after an exit."""

    eos_ids: set[int]
    max_new_tokens: int
    answer_limit: int  # forced-exit tokens + max answer tokens


@dataclass
class ExitSetup:
    """One model's controller setup; `for_model` reads the ids, engines only use them.

    >>> # setup = ExitSetup.for_model(model, tokenizer, fmt, policies=ExitPolicies([probe_policy]))
    >>> # setup.cues is the probe's own cue set unless `cues=` overrides it
    """

    tokenizer: Any
    fmt: ThinkingFormat
    cues: CueConfig
    policies: ExitPolicies
    eos_ids: set[int]
    stop_id: int  # the EOS a stopped row is made to write
    pad_id: int
    forced_exit_ids: list[int]
    max_answer_tokens: int = 32

    @classmethod
    def for_model(
        cls,
        model: Any,
        tokenizer: Any,
        fmt: ThinkingFormat,
        *,
        policies: ExitPolicies | None = None,
        cues: CueConfig | None = None,
        max_answer_tokens: int = 32,
    ) -> ExitSetup:
        """`model` is anything with `.config` (and maybe `.generation_config`): weights are not needed."""
        if max_answer_tokens < 1:
            raise ValueError(f"max_answer_tokens must be >= 1, got {max_answer_tokens}")
        policies = policies if policies is not None else ExitPolicies()
        ids = eos_ids(model, tokenizer)
        forced = list(tokenizer(fmt.forced_exit, add_special_tokens=False)["input_ids"])
        if not forced:
            raise ValueError(f"the forced-exit text {fmt.forced_exit!r} encodes to no tokens")
        return cls(
            tokenizer, fmt, policies.cue_config(cues), policies, ids, stop_id(model, ids), pad_id(tokenizer, ids), forced,
            max_answer_tokens,
        )

    @property
    def pause_at_cues(self) -> bool:
        """Engines that cannot run a trial mid-step stop a row at each new cue for it (DEER, consistency)."""
        return self.policies.needs_trial

    @property
    def closes_brace(self) -> bool:
        """Whether a forced answer ends when its brace closes (the forced text opens one: `\\\\boxed{`)."""
        return self.fmt.forced_exit.endswith("{")

    def limits(self, max_new_tokens: int) -> Limits:
        return Limits(self.eos_ids, max_new_tokens, len(self.forced_exit_ids) + self.max_answer_tokens)

    def new_row(self, key: str, prompt_ids: list[int], *, watch: bool = True) -> RowState:
        return RowState(key, list(prompt_ids), self.tokenizer, self.fmt, self.cues, watch=watch)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every end-of-sequence id the generation config, the model config or the tokenizer names."""
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if not ids:
        raise ValueError("the model and tokenizer define no eos_token_id; set one on the tokenizer")
    return ids


def stop_id(model: Any, ids: set[int]) -> int:
    """The EOS a stopped row is made to write: one `generate()` itself stops on (its generation config's first)."""
    config = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    first = config[0] if isinstance(config, (list, tuple)) and config else config
    return int(first) if isinstance(first, int) else min(ids)


def pad_id(tokenizer: Any, ids: set[int]) -> int:
    """The id left pads use: the tokenizer's pad token, else the smallest EOS."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(ids)
