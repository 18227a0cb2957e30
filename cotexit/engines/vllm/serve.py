"""cotexit in `vllm serve`: the length exit as a logits processor loaded by name, no code to write.

    COTEXIT_PROBE=probes/toy-arith-keep-cue \\
    python -m vllm.entrypoints.openai.api_server --model cotexit/models/weights/toy \\
        --hf-overrides '{"architectures": ["CotexitLlamaForCausalLM"]}' \\
        --additional-config '{"cotexit_capture_layers": [3, 5, 8]}' \\
        --logits-processors cotexit.engines.vllm.serve:CotexitServeProcessor

The two middle flags run the capture model
(`cotexit.engines.vllm.model_capture`), which hands the probe's layers out of
vLLM's forward, compiled or eager; a server started without them (or with
layers the probes do not cover) stops at start with the flags to add.

Owns `ServeControl`, `served_probes`, `capture_args`, the names vLLM looks up
(`CotexitServeProcessor`, `CotexitServeEntryPoint`) and the environment it
reads; each runner's adapters live in `serve_v1` and `serve_v2` and load
only when vLLM asks for them (vLLM 0.34 has no V1 interface to import):

- `COTEXIT_PROBE`: comma-separated probe folders, loaded once in the worker
  when the server starts (a bad one stops the start with its reason). Every
  request runs the first; a request picks another by folder name, or none,
  with `"vllm_xargs": {"cotexit_probe": "NAME" | "none"}`.
- `COTEXIT_MAX_ANSWER_TOKENS` (default 32): the answer's budget after an exit.

A served request cannot be taken back or resubmitted: when the probe can
read the cue's states (the forward that fed its last token), the cue has
been emitted and perhaps streamed. So the server makes the `keep-cue` cut
(`cotexit.controller.semantics`): thinking ends after the token that
confirmed the cue, the processor forces the thinking format's forced-exit
text token by token, then the answer greedily until its brace closes, then
EOS. The response's text shows the exit: `... Wait,\\n</think>\\nThe final
answer is \\boxed{42}`. Probes collected with `--exit-semantics keep-cue`
are labelled for exactly this; a `before-cue` probe is refused at start.

`ServeControl` is that logic, once, over the controller every engine drives
(`cotexit.engines.vllm.control`: cue watching, `decide_exit`); the adapters
only translate their runner's bookkeeping, as the offline ones do. The name
`CotexitServeProcessor` resolves, when vLLM's loader looks it up, to the
adapter of the runner vLLM runs (`cotexit.engines.vllm.runners`).

The plug-in also loads through vLLM's `vllm.logits_processors` entry-point
group (`CotexitServeEntryPoint`), with no `--logits-processors`; it acts only
when `COTEXIT_PROBE` is set and the run names no cotexit processor
(`cotexit.engines.vllm.serve_entry`).

`cotexit.engines.vllm.reasoning` (`--reasoning-parser-plugin
cotexit.engines.vllm.reasoning --reasoning-parser cotexit_think`) is vLLM's
`deepseek_r1` parser for tokenizers, like the toy's, whose `</think>` is a
special token: it turns `skip_special_tokens` off so the tag stays in the
text the parser splits. An exited response then has its thinking, up to
and including the cue, in `reasoning` (vLLM 0.32's name; `reasoning_content`
before), and the forced answer in `content`, streamed or not.

Both adapters read the capture model's buffer through their runner
(`cotexit.engines.vllm.runners.states_for`). vLLM gives a logits processor
no handle on its model, so each takes the model runner that is building it
from the call stack; the model is looked up at the first read. Each worker
process does this for itself.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import torch

from cotexit.controller.acting import States, follow_emitted, next_token
from cotexit.controller.policies import ExitPolicies
from cotexit.controller.setup import ExitSetup
from cotexit.engines.vllm.control import Control, Request, advance, force, refuse_thinking_budget
from cotexit.engines.vllm.runners import uses_model_runner_v2
from cotexit.models.loading import load_model
from cotexit.probes.controller import ProbeExitPolicy

PROBE_ENV = "COTEXIT_PROBE"
ANSWER_ENV = "COTEXIT_MAX_ANSWER_TOKENS"
XARG = "cotexit_probe"
OFF = "none"
SERVE_CUTS = ("keep-cue",)  # the only cut a server can make: the cue is already out
REASONING_PARSER = "cotexit_think"

log = logging.getLogger("cotexit.serve")


def served_probes(value: str | None = None) -> dict[str, Path]:
    """{folder name: folder} of `COTEXIT_PROBE` (or of `value`, given in its form), first the default; raises on a
    name given twice or none given."""
    text = os.environ.get(PROBE_ENV, "") if value is None else value
    paths = [Path(p.strip()) for p in text.split(",") if p.strip()]
    if not paths:
        raise ValueError(f"{PROBE_ENV} is not set: name the probe folder(s) the server runs, comma-separated")
    probes: dict[str, Path] = {}
    for path in paths:
        if path.name in probes or path.name == OFF:
            raise ValueError(f"{PROBE_ENV}: probe folder name {path.name!r} is used twice or reserved")
        probes[path.name] = path
    return probes


class ServeControl(Control):
    """The served requests, keyed by the adapter's identity of each vLLM request: watch, score, and on an exit
    force the exit text and a greedy answer, then EOS."""

    def __init__(self, vllm_config: Any) -> None:
        super().__init__()
        self.max_answer_tokens = _answer_budget()
        self.setups: dict[str, ExitSetup] = {}
        layers: set[int] = set()
        for name, path in served_probes().items():
            self.setups[name], probe_layers = _setup(path, vllm_config, self.max_answer_tokens)
            layers.update(probe_layers)
        self.default = next(iter(self.setups))
        self.layers = tuple(sorted(layers))
        log.warning("cotexit: serving probes %s (default %s), keep-cue exits", ", ".join(self.setups), self.default)

    @classmethod
    def validate(cls, params: Any) -> None:
        """In the API server: a bad `cotexit_probe` is the client's error (HTTP 400), before it reaches the worker."""
        choice = (params.extra_args or {}).get(XARG)
        if choice is not None:
            names = list(served_probes())
            if not isinstance(choice, str) or (choice != OFF and choice not in names):
                raise ValueError(f"vllm_xargs[{XARG!r}] must be one of {names + [OFF]}, got {choice!r}")
        if choice != OFF:
            refuse_thinking_budget(params)

    def wants(self, params: Any) -> bool:
        return (params.extra_args or {}).get(XARG, self.default) != OFF

    def open(self, params: Any, identity: Hashable, prompt: Any, *, fresh: bool) -> Request:
        request = self.rows.get(identity)
        if request is None or fresh:  # a preempted request (not fresh) keeps its row
            setup = self.setups[(params.extra_args or {}).get(XARG, self.default)]
            request = self.rows[identity] = Request(setup, setup.new_row(str(identity), prompt()))
        return request

    def step(self, logits: torch.Tensor, index: int, request: Request, emitted: Sequence[int], now: States | None) -> None:
        """Watch, score, decide; after an exit follow what was emitted and force the next token."""
        row = request.row
        if row.exit is None:
            if not row.done:
                advance(request, emitted, now)  # sets row.exit on an exit
            if row.exit is None:
                return
            assert row.exit.cut == len(row.tokens), "a served exit cuts after the newest token (keep-cue)"
        else:
            # the forced-exit and answer tokens emitted since the last step; the request's max_tokens caps its length
            follow_emitted(row, emitted, request.setup.limits(sys.maxsize))
        # the next forced-exit token, else the greedy answer token, else (answer closed) EOS
        if row.done:
            token = request.setup.stop_id
        else:
            token, _ = next_token(row, -1, lambda: int(logits[index].argmax()))  # after an exit: never the engine's own
        force(logits, index, token)

    def forget(self, alive: set[Hashable]) -> None:
        """Drop the rows of requests vLLM no longer keeps (most end without the processor seeing their last token)."""
        for key in [k for k in self.rows if k not in alive]:
            del self.rows[key]


_LAZY = {  # name -> module: each runner's adapters import that runner's interface, which another vLLM may lack
    "CotexitServeProcessorV1": "serve_v1", "CotexitServeEntryPointV1": "serve_v1",
    "CotexitServeProcessorV2": "serve_v2", "CotexitServeEntryPointV2": "serve_v2",
    "entry_point_acts": "serve_entry", "CotexitReasoningParser": "reasoning",
}


def __getattr__(name: str) -> Any:
    """`CotexitServeProcessor`, the plug-in's one name, and `CotexitServeEntryPoint`, its entry point's: the
    adapter of the runner vLLM runs, looked up when vLLM's loader (V1 or V2, in the frontend and in each
    worker) resolves the name; the adapters themselves by name, imported on first use."""
    if name in ("CotexitServeProcessor", "CotexitServeEntryPoint"):
        v2 = uses_model_runner_v2()
        return __getattr__(name + ("V2" if v2 else "V1"))
    if name in _LAZY:
        return getattr(importlib.import_module(f"cotexit.engines.vllm.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def capture_args(model: str, probes: str) -> list[str]:
    """The `vllm serve` arguments that run `model`'s capture model for the layers of `probes` (a `COTEXIT_PROBE`
    value), as a list to append to a command."""
    from cotexit.engines.vllm.model_capture import engine_args

    lm = load_model(model, weights=False)
    layers: set[int] = set()
    for path in [Path(p.strip()) for p in probes.split(",") if p.strip()]:
        layers.update(ExitPolicies([ProbeExitPolicy.load(path)]).capture.resolve(lm.num_layers))
    args = engine_args((getattr(lm.model.config, "architectures", None) or ["?"])[0], sorted(layers))
    return ["--hf-overrides", json.dumps(args["hf_overrides"]), "--additional-config", json.dumps(args["additional_config"])]


def _setup(path: Path, vllm_config: Any, max_answer_tokens: int) -> tuple[ExitSetup, tuple[int, ...]]:
    """A probe's controller for the served model and the layers it reads, checked: the same model, states it
    can read, a cut it can make. The probe's own cues come with its policy."""
    try:
        policy = ProbeExitPolicy.load(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{PROBE_ENV}: cannot load probe {path}: {e}") from None
    lm = load_model(vllm_config.model_config.model, weights=False)
    policy.artifact.check_model(lm.fingerprint())
    _warn_if_other_dtype(path, policy.artifact, vllm_config)
    policies = ExitPolicies([policy])
    layers = policies.capture.resolve(lm.num_layers)
    policies.check_engine("vllm serve", layers, cuts=SERVE_CUTS)
    setup = ExitSetup.for_model(lm.model, lm.tokenizer, lm.fmt, policies=policies, max_answer_tokens=max_answer_tokens)
    return setup, layers


def _warn_if_other_dtype(path: Path, artifact: Any, vllm_config: Any) -> None:
    """Log, once at start, when the server computes in another dtype than the probe's features were computed in
    (its card records it; older cards do not): its guarantee does not cover these requests."""
    from cotexit.models.loading import dtype_name
    from cotexit.probes.coverage import certified_dtypes

    probe = certified_dtypes(artifact)
    dtype = getattr(vllm_config.model_config, "dtype", None)  # (test doubles of the config may leave it out)
    served = dtype_name(dtype) if dtype is not None else None
    if probe and served is not None and served not in probe:
        log.warning(
            "probe %s: its features were computed in %s and this server computes in %s: its guarantee does not cover "
            "these requests (start the server with --dtype %s)", path, "/".join(sorted(probe)), served, min(probe),
        )


def _answer_budget() -> int:
    text = os.environ.get(ANSWER_ENV, "32")
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{ANSWER_ENV} must be an integer >= 1, got {text!r}")
    return value
