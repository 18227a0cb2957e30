"""Which vLLM model runner is running, and cotexit's processor class for it.

Owns `has_v1_runner`, `uses_model_runner_v2`, `processor_class` (the
offline engine's), `building_runner`, `is_v2_runner` and `states_for`
(where a processor reads its runner's states). vLLM 0.32 and 0.33 have two
model runners with two logits-processor interfaces, and their loaders take
only their own: the V1 runner (and the frontend's request
validation when V1 is chosen) requires a subclass of
`vllm.v1.sample.logits_processor.LogitsProcessor`, Model Runner V2 (and its
validation) one of `vllm.v1.worker.gpu.sample.logits_processor.
LogitsProcessor`; a class of the other kind stops the start. Which runner
runs is `VllmConfig.use_v2_model_runner`: `VLLM_USE_V2_MODEL_RUNNER` when
set, else V2 wherever Triton runs unless the configuration asks for a
feature V2 lacks. Both loaders look a name up with `getattr` on its module
when they load it, so `cotexit.engines.vllm.serve:CotexitServeProcessor`
resolves there to the serve adapter of the runner `uses_model_runner_v2` names.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from typing import Any


def has_v1_runner() -> bool:
    """Whether this vLLM still has the V1 model runner and its logits-processor interface (0.34 removed both)."""
    return importlib.util.find_spec("vllm.v1.sample.logits_processor") is not None


def uses_model_runner_v2(vllm_config: Any = None) -> bool:
    """Whether vLLM runs Model Runner V2: `vllm_config`'s answer, or that of the configuration vLLM is
    building the runner under; without either (vLLM's frontend validating requests),
    `VLLM_USE_V2_MODEL_RUNNER` when set, else vLLM's default, V2 wherever Triton runs. That guess misses a
    configuration that falls back to V1 for a feature V2 lacks: setting the variable settles it."""
    if not has_v1_runner():  # 0.34 removed V1, its switch and its config field
        return True
    from vllm import envs
    from vllm.config import get_current_vllm_config_or_none

    config = vllm_config if vllm_config is not None else get_current_vllm_config_or_none()
    if config is not None:
        return bool(config.use_v2_model_runner)
    if envs.VLLM_USE_V2_MODEL_RUNNER is not None:
        return bool(envs.VLLM_USE_V2_MODEL_RUNNER)
    from vllm.triton_utils import HAS_TRITON

    return bool(HAS_TRITON)


def processor_class(*, vllm_config: Any = None) -> type:
    """The offline engine's processor class for the runner vLLM runs (the plug-in's is `serve`'s own choice)."""
    if uses_model_runner_v2(vllm_config):
        from cotexit.engines.vllm.processor_v2 import CotexitLogitsProcessorV2

        return CotexitLogitsProcessorV2
    from cotexit.engines.vllm.processor import CotexitLogitsProcessor

    return CotexitLogitsProcessor


def building_runner(*, v2: bool) -> Any:
    """The model runner whose construction (V1: `__init__`) or model loading (V2: `load_model`) is building the
    calling processor: it is on the call stack. vLLM hands a processor no handle on its model."""
    if v2:
        from vllm.v1.worker.gpu.model_runner import GPUModelRunner
    else:
        from vllm.v1.worker.gpu_model_runner import GPUModelRunner

    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, GPUModelRunner):
            return candidate
        frame = frame.f_back
    which = "Model Runner V2" if v2 else "vLLM's V1 model runner"
    raise RuntimeError(f"the cotexit serve processor must be built by {which} (--logits-processors)")


def is_v2_runner(runner: Any) -> bool:
    """Whether `runner` is Model Runner V2's (the CPU build's V2 runner derives from it)."""
    try:
        from vllm.v1.worker.gpu.model_runner import GPUModelRunner
    except ImportError:
        return False
    return isinstance(runner, GPUModelRunner)


def states_for(runner: Any, layers: Sequence[int], *, v2: bool) -> Any:
    """The states source a processor of `runner` reads `layers` from: the capture model's buffer at each
    request's newest token (`cotexit.engines.vllm.capture`), or none when no layers are read."""
    from cotexit.engines.vllm.capture import NO_STATES, ModelStates, v1_rows, v2_rows

    if not layers:
        return NO_STATES
    if v2:
        return ModelStates(lambda: runner.model, layers, v2_rows(runner))
    return ModelStates(runner.get_model, layers, v1_rows(runner))
