"""Choosing an engine by name (`--backend`): one call that decodes a batch of prompts into `RowResult`s.

Owns `BACKENDS`, `check_backend`, `engine_options` and `open_engine`. `hf` is cotexit's own
decode loop (`cotexit.engines.loop`), the only one that runs layer exits;
`generate` is an unmodified transformers `model.generate()` driven by
`cotexit.engines.generate`; `vllm` is `vllm.LLM` with the controller in its
worker (`cotexit.engines.vllm`, length exit only). Both run the same controller, so a probe means
the same on either, and both return the same records. The benchmark runner
and `solve` use this; neither knows which engine it got.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cotexit.controller.capture import CaptureConfig
from cotexit.controller.cues import CueConfig
from cotexit.controller.policies import ExitPolicy
from cotexit.controller.rows import RowResult
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop.decode import Decoder

BACKENDS = ("hf", "generate", "vllm")

BatchDecoder = Callable[[Sequence[str], Sequence[str]], list[RowResult]]  # (prompts, keys) -> one result per prompt


def check_backend(name: str, *, layer_exit: bool = False) -> None:
    """A clear error for an unknown backend, or one that cannot run what was asked."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if layer_exit and name != "hf":
        raise ValueError(f"layer exits run on the hf backend only (cotexit's decode loop), not on --backend {name}")


def engine_options(backend: str, options: dict[str, Any]) -> Any:
    """An engine's typed options from their JSON form (`BenchConfig.engine`); None for engines without any."""
    if backend != "vllm":
        return None
    from cotexit.engines.vllm.engine import VllmOptions

    return VllmOptions(**options)


@contextmanager
def open_engine(
    backend: str,
    lm: Any,
    decode: DecodeConfig,
    cues: CueConfig | None = None,
    *,
    policies: Sequence[ExitPolicy] = (),
    capture: CaptureConfig | None = None,
    step_forward: Any = None,
    engine_options: Any = None,
) -> Iterator[BatchDecoder]:
    """A batch decoder for `backend`; hooks an engine installs come off when the block ends.

    `cues=None` watches the policies' own cues (a probe's), else the defaults. `engine_options` are the vLLM
    engine's (`cotexit.engines.vllm.VllmOptions`).
    """
    check_backend(backend, layer_exit=step_forward is not None)
    if backend == "hf":
        options = {"step_forward": step_forward} if step_forward is not None else {}
        decoder = Decoder(lm.model, lm.tokenizer, lm.fmt, decode, cues=cues, capture=capture, policies=policies, **options)
        yield decoder.generate
        return
    if backend == "vllm":
        from cotexit.engines.vllm import VllmEngine

        engine = VllmEngine(lm, decode, policies=policies, cues=cues, capture=capture, options=engine_options)
        try:
            yield engine
        finally:
            engine.close()
        return
    from cotexit.engines.generate import GenerateExits

    exits = GenerateExits(
        lm.model, lm.tokenizer, lm.fmt, policies=policies, cues=cues, capture=capture, max_answer_tokens=decode.max_answer_tokens
    )

    def run(prompts: Sequence[str], keys: Sequence[str]) -> list[RowResult]:
        return exits.generate(prompts, keys, max_new_tokens=decode.max_new_tokens, sampling=decode.sampling)

    try:
        yield run
    finally:
        exits.close()
