"""cotexit's `vllm.general_plugins` entry point: the capture models' names in vLLM's registry.

vLLM runs every installed general plugin in each of its processes (API
server, engine core, workers), so this module imports nothing of cotexit
and only records names: `Cotexit<Arch>` for each architecture in `BASES`,
as lazy `module:class` references that load
`cotexit.engines.vllm.model_capture` only when a model asks for one. A vLLM
run that does not ask for a capture model is unchanged.
"""

from __future__ import annotations

PREFIX = "Cotexit"
BASES = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM")
MODULE = "cotexit.engines.vllm.model_capture"


def register() -> None:
    """Record `Cotexit<Arch>` for each of `BASES` in vLLM's model registry."""
    from vllm import ModelRegistry

    for arch in BASES:
        ModelRegistry.register_model(PREFIX + arch, f"{MODULE}:{PREFIX + arch}")
