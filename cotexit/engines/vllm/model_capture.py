"""Reading the probe's layers out of vLLM's own forward, compiled or eager: the model's auxiliary outputs.

Owns the capture models (`Cotexit<Arch>`, e.g. `CotexitLlamaForCausalLM`,
whose names `cotexit.vllm_plugin` registers in every vLLM process),
`engine_args` (what selects them) and `capture_model` (a runner's model,
checked). No hooks:
hooks do not fire inside `torch.compile`d graphs or CUDA graphs.

vLLM's Llama, Qwen2 and Qwen3 decoder models implement the EAGLE-3 auxiliary
hidden-state path (`SupportsEagle3.set_aux_hidden_state_layers`): with layers
set before the first trace, the inner model returns `(hidden, aux)`, each aux
entry `hidden + residual` after that block, which is transformers'
`hidden_states[l]` (l = 0: the embedding), as ordinary outputs of the graph
that Dynamo, Inductor and CUDA-graph capture keep. The model runner unpacks
that tuple only for a speculative draft; a capture model is the architecture's
own class with a forward that unpacks it itself and copies every token row of
each probe layer into a buffer allocated once (`captured`, float32,
(layers, max batched tokens, H)), then returns the hidden states alone, so
the runner sees the model it expects. Layer N, after the final norm, is the
model's output itself. The copy is part of the forward, so a CUDA graph
replays it too. A logits processor reads the rows of each request's newest
token after the forward (`states_at`; `cotexit.engines.vllm.capture`).

A capture model is chosen at start: `hf_overrides={"architectures":
["Cotexit<Arch>"]}` and the layers in `additional_config` under
`cotexit_capture_layers`, which vLLM hashes into its compile-cache key (the
traced code is the inner model's, the same with or without layers, so the
layers must be in the key or a cached graph without them would be reused).
`cotexit.vllm_plugin.register` makes the names known in each vLLM process.

Refused with one line: pipeline parallelism (a layer's states would sit on
another rank) and speculative decoding (the draft reads the same auxiliary
outputs and the runner would unpack them).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import torch

from cotexit.vllm_plugin import BASES, PREFIX

LAYERS_KEY = "cotexit_capture_layers"  # in vLLM's additional_config


def capture_architecture(arch: str) -> str:
    """The registered name of `arch`'s capture model."""
    if arch not in BASES:
        raise ValueError(
            f"cotexit reads hidden states inside vLLM for {', '.join(BASES)}; this model is {arch} (use --backend hf)"
        )
    return PREFIX + arch


def engine_args(arch: str, layers: Sequence[int]) -> dict[str, Any]:
    """`vllm.LLM` keyword arguments that run `arch`'s capture model for `layers`."""
    return {"hf_overrides": {"architectures": [capture_architecture(arch)]}, "additional_config": {LAYERS_KEY: sorted(layers)}}


def serve_flags(arch: str, layers: Sequence[int]) -> str:
    """The `vllm serve` flags of `engine_args`, to paste."""
    args = engine_args(arch, layers)
    return f"--hf-overrides '{json.dumps(args['hf_overrides'])}' --additional-config '{json.dumps(args['additional_config'])}'"


def configured_layers(vllm_config: Any) -> tuple[int, ...]:
    """The layers a vLLM configuration asks the capture model for (none when it is not one)."""
    extra = getattr(vllm_config, "additional_config", None)
    return tuple(int(layer) for layer in extra.get(LAYERS_KEY) or ()) if isinstance(extra, dict) else ()


def architecture(vllm_config: Any) -> str:
    """The architecture vLLM is told to build (after `hf_overrides`)."""
    archs = getattr(vllm_config.model_config, "architectures", None) or getattr(vllm_config.model_config.hf_config, "architectures", None)
    return (archs or ["?"])[0]


def check_config(vllm_config: Any, layers: Sequence[int]) -> None:
    """Refuse, at start, a vLLM configuration that does not run a capture model holding `layers`, with the flags
    that would (a server is started with them; `--enforce-eager` alone no longer suffices: there are no hooks)."""
    if not layers:
        return
    arch = architecture(vllm_config)
    held = set(configured_layers(vllm_config))
    if not arch.startswith(PREFIX) or not set(layers) <= held:
        base = arch[len(PREFIX) :] if arch.startswith(PREFIX) else arch
        wanted = sorted(held | set(layers)) if arch.startswith(PREFIX) else sorted(layers)
        raise ValueError(
            f"cotexit reads the probe's layers {sorted(layers)} from its capture model, which this vLLM was not "
            f"started with: add {serve_flags(base, wanted)}"
        )


class CaptureModel:
    """Mixed in before a vLLM decoder class: copy the probe layers' rows into `captured` every forward."""

    capture_layers: tuple[int, ...]
    captured: torch.Tensor

    def __init__(self, *, vllm_config: Any, prefix: str = "", **kwargs: Any) -> None:
        super().__init__(vllm_config=vllm_config, prefix=prefix, **kwargs)
        if vllm_config.parallel_config.pipeline_parallel_size > 1:
            raise ValueError("cotexit's capture model reads every probe layer on one rank: pipeline parallelism is not supported")
        if getattr(vllm_config, "speculative_config", None) is not None:
            raise ValueError("cotexit's capture model uses the auxiliary hidden states a speculative draft reads: not both")
        text = vllm_config.model_config.hf_config.get_text_config()
        n = int(text.num_hidden_layers)
        layers = tuple(sorted(set(configured_layers(vllm_config))))
        if not layers or not all(0 <= layer <= n for layer in layers):
            raise ValueError(f"additional_config[{LAYERS_KEY!r}] must list layers in 0..{n}, got {list(layers)}")
        self.capture_layers = layers
        aux = tuple(layer for layer in layers if layer < n)  # layer n: the final norm's output, the model's own
        if aux:
            self.set_aux_hidden_state_layers(aux)
        self._with_output = n in layers
        rows = int(vllm_config.scheduler_config.max_num_batched_tokens)
        device = vllm_config.device_config.device
        self.captured = torch.zeros(len(layers), rows, int(text.hidden_size), dtype=torch.float32, device=device)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = super().forward(*args, **kwargs)
        hidden, aux = out if isinstance(out, tuple) else (out, [])
        n = hidden.shape[0]
        for j, state in enumerate([*aux, hidden] if self._with_output else aux):
            self.captured[j, :n].copy_(state)
        return hidden

    def states_at(self, rows: torch.Tensor) -> dict[int, torch.Tensor]:
        """{layer: (len(rows), H)} float32: the captured states at flattened token rows `rows` of the last forward.

        One gather for every layer (each op is a dispatch, on a CPU a thread-pool wake-up, paid every step)."""
        gathered = self.captured.index_select(1, rows)  # (layers, rows, H), a copy: the next forward overwrites the buffer
        return dict(zip(self.capture_layers, gathered.unbind(0)))


def capture_model(model: Any, layers: Sequence[int]) -> CaptureModel:
    """`model` (a runner's) as a capture model holding `layers`, or a one-line error saying how to start vLLM."""
    inner = getattr(model, "unwrap", lambda: model)()  # a CUDA-graph wrapper keeps the model inside
    inner = getattr(inner, "runnable", inner)
    if not isinstance(inner, CaptureModel):
        arch = type(inner).__name__
        raise ValueError(
            f"vLLM runs {arch}, not cotexit's capture model: start it with " + serve_flags(arch, layers)
            if arch in BASES else f"vLLM runs {arch}: cotexit reads hidden states inside vLLM for {', '.join(BASES)}"
        )
    missing = sorted(set(layers) - set(inner.capture_layers))
    if missing:
        raise ValueError(f"the capture model holds layers {list(inner.capture_layers)}, not {missing}")
    return inner


def _capture_class(arch: str) -> type:
    from vllm import ModelRegistry

    base = ModelRegistry._try_load_model_cls(arch)  # vLLM's own class for the architecture
    if base is None:
        raise ValueError(f"this vLLM has no {arch}")
    return type(PREFIX + arch, (CaptureModel, base), {"__module__": __name__, "__qualname__": PREFIX + arch})


def __getattr__(name: str) -> Any:
    """`Cotexit<Arch>`, built on first use from vLLM's class (vLLM's registry loads it by this name)."""
    if name.startswith(PREFIX) and name[len(PREFIX) :] in BASES:
        cls = _capture_class(name[len(PREFIX) :])
        setattr(sys.modules[__name__], name, cls)
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
