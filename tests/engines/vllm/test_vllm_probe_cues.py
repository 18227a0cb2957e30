"""vLLM runs a probe on its own cues too: one calibrated on "Wait" alone exits where the decode loop exits."""

from __future__ import annotations

import pytest

pytest.importorskip("vllm")

from cotexit.benchmarks.loading import load_problems  # noqa: E402
from cotexit.benchmarks.prompts import build_prompt  # noqa: E402
from cotexit.engines.backends import open_engine  # noqa: E402
from cotexit.engines.decoding import DecodeConfig  # noqa: E402
from cotexit.engines.vllm import VllmOptions  # noqa: E402
from cotexit.models import chat_prompt  # noqa: E402
from cotexit.probes.controller import ProbeExitPolicy  # noqa: E402

pytestmark = pytest.mark.vllm


def test_a_wait_probe_exits_only_at_wait_on_vllm_as_on_the_loop(toy, wait_probe):
    problems = load_problems("arith", "test", limit=16)
    prompts, keys = [chat_prompt(toy.tokenizer, build_prompt(p)) for p in problems], [p.id for p in problems]
    decode = DecodeConfig(max_new_tokens=400)
    with open_engine("hf", toy, decode, policies=[ProbeExitPolicy.load(wait_probe)]) as run:
        expected = run(prompts, keys)
    options = VllmOptions(max_model_len=768, dtype="float32")
    with open_engine("vllm", toy, decode, policies=[ProbeExitPolicy.load(wait_probe)], engine_options=options) as run:
        got = run(prompts, keys)
    assert sum(r.exit is not None for r in expected) >= 2
    assert all(c.phrase == "Wait" for r in got for c in r.cues)
    for e, g in zip(expected, got):
        assert g.exit == e.exit and g.token_ids == e.token_ids
