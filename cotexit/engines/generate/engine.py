"""cotexit's exits for an unmodified transformers `model.generate()` (`--backend generate`).

Owns `GenerateExits`. It wraps a probe artifact (or any exit policies: a
thinking-token budget, a baseline) for one model and tokenizer, installs
forward hooks on just the probe's layers once (`cotexit.engines.tap`, the
decode loop's hooks), and hands `generate()` a logits processor
(`ExitProcessor`) that runs the shared controller at every step. After
`generate()` returns, `results(sequences)` turns each row into the same
`RowResult` the decode loop produces: rows that exited are answered by the
controller (`cotexit.controller.acting.answer_exited`: thinking cut where
the probe's exit semantics say, the forced-exit text as token ids, the
greedy answer), this engine supplying only the batched greedy decode (one
`generate()` over the exited rows; the cut prefix is computed again, the
price of an engine that cannot take tokens back).

    >>> # exits = GenerateExits(model, tokenizer, probe="probes/toy-arith")
    >>> # inputs = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    >>> # out = model.generate(**inputs, logits_processor=[exits.processor], max_new_tokens=512)
    >>> # rows = exits.results(out, max_new_tokens=512)   # RowResult per row: .exit, .answer_text, ...
    >>> # rows[0].probe_scores                            # probe scores at that row's cues

Greedy and sampled decoding, left-padded batches and `max_new_tokens` work;
beam search and `num_return_sequences > 1` do not (each row is one answer).
Sampled runs draw from `generate()`'s global torch generator, seeded from
the sampling seed and the batch's keys, so a row's tokens depend on its
batch, unlike the decode loop's per-row streams.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from cotexit.controller.acting import answer_exited, charge_trials, finish_with, trial_request
from cotexit.controller.capture import CaptureConfig
from cotexit.controller.cues import CueConfig, CueEvent
from cotexit.controller.detokenize import IncrementalDetokenizer
from cotexit.controller.policies import ExitPolicies, ExitPolicy
from cotexit.controller.rows import RowResult, RowState
from cotexit.controller.setup import ExitSetup
from cotexit.controller.trials import TRIAL_TOKENS, ForcedAnswer
from cotexit.engines.batching import left_pad
from cotexit.engines.decoding import SamplingConfig
from cotexit.engines.generate.answers import decode_answers
from cotexit.engines.generate.processor import ExitProcessor
from cotexit.engines.tap import LayerTap
from cotexit.models.thinking import ThinkingFormat
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy


class GenerateExits:
    """Exit policies for `model.generate()`; one object serves many `generate()` calls, one at a time."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        fmt: ThinkingFormat | None = None,
        *,
        probe: str | os.PathLike[str] | ProbeArtifact | None = None,
        policies: Sequence[ExitPolicy] = (),
        cues: CueConfig | None = None,
        capture: CaptureConfig | None = None,
        max_answer_tokens: int = 32,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.fmt = fmt or _format_of(model, tokenizer)
        policies = list(policies)
        if probe is not None:  # the probe's own cues, layers and cut come with its policy
            policies.insert(0, ProbeExitPolicy.load(probe, fingerprint=_fingerprint(model, tokenizer, self.fmt)))
        self.policies = ExitPolicies(policies)
        self.setup = ExitSetup.for_model(
            model, tokenizer, self.fmt, policies=self.policies, cues=cues, max_answer_tokens=max_answer_tokens
        )
        self.cues = self.setup.cues
        num_layers = int(model.config.get_text_config().num_hidden_layers)
        layers = (capture or self.policies.capture).resolve(num_layers)
        self.policies.check_engine("generate", layers)
        self.tap: LayerTap | None = None
        if layers:
            self.tap = LayerTap(model, layers)
            self.tap.install()
            self.tap.arm()  # record at every forward of this model until close(); other forwards pass untouched
            weakref.finalize(self, self.tap.remove)
        trial = self._trial if self.policies.needs_trial else None
        self.processor = ExitProcessor(self.setup, self.tap, trial=trial)

    # --- one call ------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[str],
        keys: Sequence[str] | None = None,
        *,
        max_new_tokens: int = 1024,
        sampling: SamplingConfig | None = None,
        **generate_kwargs: Any,
    ) -> list[RowResult]:
        """Tokenize `prompts` (chat template applied), left-pad, `model.generate()` with the exits, results."""
        if not prompts:
            raise ValueError("prompts must not be empty")
        keys = list(keys) if keys is not None else [str(i) for i in range(len(prompts))]
        if len(keys) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(keys)} keys")
        prompt_ids = [self.setup.encode(p) for p in prompts]
        if any(not p for p in prompt_ids):
            raise ValueError("every prompt must encode to at least one token")
        ids, mask = left_pad(prompt_ids, self.setup.pad_id)  # (B, T)
        device = next(self.model.parameters()).device
        sampling = sampling or SamplingConfig()
        if sampling.greedy:
            options: dict[str, Any] = {"do_sample": False}
        else:  # the decode loop's distribution: temperature and top-p, no top-k; seeded by the batch's keys
            torch.manual_seed(sampling.row_seed("\n".join(keys)))
            options = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
        self.processor.keys = keys
        out = self.model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            logits_processor=[self.processor],
            eos_token_id=sorted(self.setup.eos_ids),
            pad_token_id=self.setup.pad_id,
            **options,
            **generate_kwargs,
        )
        return self.results(out, max_new_tokens=max_new_tokens)

    def results(self, sequences: torch.Tensor | Any, *, max_new_tokens: int) -> list[RowResult]:
        """Each row of the last `generate()` call as a `RowResult`, exited rows' answers decoded.

        `sequences` is what `generate()` returned (a tensor, or an output with `.sequences`).
        """
        sequences = getattr(sequences, "sequences", sequences)
        proc = self.processor
        if not proc.rows or sequences.shape[0] != len(proc.rows):
            raise RuntimeError("results() needs the output of a generate() call that ran with this object's processor")
        generated = sequences[:, proc.prompt_width :].tolist()  # (B, S)
        limits = self.setup.limits(max_new_tokens)
        exited = []
        for b, row in enumerate(proc.rows):
            if row.exit is not None:
                exited.append(row)
            else:
                finish_with(row, generated[b][len(row.tokens) :], limits)  # tokens the processor never saw
        answer_exited(exited, self.setup, max_new_tokens, lambda prefixes, n: [a.token_ids for a in self._decode(prefixes, n)])
        return [row.result() for row in proc.rows]

    def close(self) -> None:
        """Take the hooks off the model (also done when this object is garbage-collected)."""
        if self.tap is not None:
            self.tap.remove()
            self.tap.disarm()

    def __enter__(self) -> GenerateExits:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- pieces --------------------------------------------------------------
    def _decode(self, prefixes: list[list[int]], max_tokens: int) -> list[Any]:
        saved = self.tap.states if self.tap is not None else None
        if self.tap is not None:
            self.tap.disarm()  # these forwards are not the run's: keep the hooks quiet
        try:
            setup = self.setup
            return decode_answers(
                self.model, self.tokenizer, prefixes, max_tokens=max_tokens, eos_ids=setup.eos_ids, pad_id=setup.pad_id,
                brace=setup.closes_brace,
            )
        finally:
            if self.tap is not None:
                self.tap.states = saved

    def _trial(self, b: int, row: RowState, cue: CueEvent) -> None:
        """A forced-answer trial from where an exit at `cue` would cut (DEER, consistency), as the decode loop runs one."""
        request = trial_request(self.policies, b, row, cue)
        decoded = self._decode([row.prompt_ids + row.tokens[: request.prefix] + self.setup.forced_exit_ids], TRIAL_TOKENS)[0]
        text = IncrementalDetokenizer(self.tokenizer)
        stream = zip(decoded.token_ids, decoded.token_probs)
        cue.trial = ForcedAnswer.from_greedy(request, stream, text, self.setup.eos_ids, self.setup.closes_brace)
        charge_trials(row, [cue.trial], self.setup.forced_exit_ids)


def _format_of(model: Any, tokenizer: Any) -> ThinkingFormat:
    """The model's thinking format as `load_model` picks it: config key or name, then the rendered template."""
    from cotexit.models.loading import choose_format
    from cotexit.models.template import fit_format_to_template

    name = str(getattr(model.config, "_name_or_path", ""))
    return fit_format_to_template(choose_format(name, model.config, None, tokenizer=tokenizer), tokenizer)


def _fingerprint(model: Any, tokenizer: Any, fmt: ThinkingFormat) -> dict[str, Any]:
    from cotexit.models.loading import LoadedModel

    name = str(getattr(model.config, "_name_or_path", "model"))
    return LoadedModel(name, name, model, tokenizer, fmt).fingerprint()
