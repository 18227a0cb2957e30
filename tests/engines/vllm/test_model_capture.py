"""The capture model's side of the seam, without starting vLLM: what selects it, what it refuses, and which
buffer rows a processor reads on each runner (marker `vllm`).

The end-to-end checks (its states equal the decode loop's, compiled and eager) are in `test_vllm_engine.py`.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("vllm.sampling_params")  # not just "vllm": this tests folder imports as one

import torch  # noqa: E402

from cotexit.engines.vllm.capture import ModelStates, StepStates, v1_rows, v2_rows  # noqa: E402
from cotexit.engines.vllm.model_capture import (  # noqa: E402
    CaptureModel,
    capture_architecture,
    capture_model,
    check_config,
    configured_layers,
    engine_args,
)

pytestmark = pytest.mark.vllm


def config(arch: str, extra: dict | None) -> SimpleNamespace:
    return SimpleNamespace(model_config=SimpleNamespace(architectures=[arch]), additional_config=extra)


def test_engine_args_select_the_capture_model_and_put_the_layers_in_the_compile_key():
    args = engine_args("Qwen2ForCausalLM", [8, 3])
    assert args == {
        "hf_overrides": {"architectures": ["CotexitQwen2ForCausalLM"]},
        "additional_config": {"cotexit_capture_layers": [3, 8]},
    }
    assert configured_layers(config("CotexitQwen2ForCausalLM", args["additional_config"])) == (3, 8)
    assert configured_layers(config("LlamaForCausalLM", None)) == ()
    with pytest.raises(ValueError, match="GPT2LMHeadModel .use --backend hf."):
        capture_architecture("GPT2LMHeadModel")


def test_a_server_without_the_capture_model_or_with_too_few_layers_stops_with_the_flags_to_add():
    check_config(config("LlamaForCausalLM", {}), ())  # policies that read no states need no capture model
    check_config(config("CotexitLlamaForCausalLM", {"cotexit_capture_layers": [3, 5, 8]}), (3, 8))
    with pytest.raises(ValueError) as plain:
        check_config(config("LlamaForCausalLM", {}), (5, 3))
    flags = """--hf-overrides '{"architectures": ["CotexitLlamaForCausalLM"]}' --additional-config '{"cotexit_capture_layers": [3, 5]}'"""
    assert str(plain.value).endswith("add " + flags)
    with pytest.raises(ValueError) as fewer:
        check_config(config("CotexitLlamaForCausalLM", {"cotexit_capture_layers": [3]}), (5,))
    assert json.dumps({"cotexit_capture_layers": [3, 5]}) in str(fewer.value)  # what it held, and what is missing


class FakeCapture(CaptureModel):
    """A capture model's buffer without a model: (layers, rows, H), row r of layer j filled with 100 j + r."""

    def __init__(self, layers: tuple[int, ...], rows: int = 16, hidden: int = 4) -> None:
        self.capture_layers = layers
        values = torch.arange(rows, dtype=torch.float32)[None, :, None] + 100 * torch.arange(len(layers))[:, None, None]
        self.captured = values.expand(len(layers), rows, hidden).contiguous()


def test_each_runner_reads_the_row_of_each_requests_newest_token():
    model = FakeCapture((3, 8))
    # three requests this step: a prefill of 4 tokens, then one decode token each; their tokens end at rows 3, 4, 5
    v1 = SimpleNamespace(query_start_loc=SimpleNamespace(np=np.array([0, 4, 5, 6, 6], dtype=np.int32)))
    v2 = SimpleNamespace(input_buffers=SimpleNamespace(query_start_loc=torch.tensor([0, 4, 5, 6, 6], dtype=torch.int32)))
    for rows in (v1_rows(v1), v2_rows(v2)):
        states = ModelStates(lambda: model, (8,), rows).take(3)
        assert list(states) == [8]  # the layers asked for, of those the buffer holds
        assert states[8][:, 0].tolist() == [103.0, 104.0, 105.0]


def test_a_model_that_is_not_the_capture_model_or_lacks_a_layer_is_one_line():
    with pytest.raises(ValueError, match="vLLM runs Module, not cotexit's capture model|vLLM runs Module: cotexit reads"):
        capture_model(torch.nn.Module(), (3,))
    with pytest.raises(ValueError, match=r"holds layers \[3, 8\], not \[5\]"):
        capture_model(FakeCapture((3, 8)), (3, 5))
    wrapped = SimpleNamespace(unwrap=lambda: FakeCapture((3,)))  # a CUDA-graph wrapper around it
    assert capture_model(wrapped, (3,)).capture_layers == (3,)


def test_handed_over_states_are_read_once_per_forward():
    step = StepStates()
    assert step.take(2) == {}
    step.states, step.forwards = {3: torch.zeros(2, 4)}, 1
    assert list(step.take(2)) == [3] and step.take(2) == {}
