"""A probe runs on its own cues on every engine: one calibrated on "Wait" alone never exits, or even stops to
look, at "Hmm" or "Alternatively", and the decode loop and `generate()` exit at the same cues (vLLM:
tests/engines/vllm/test_vllm_probe_cues.py)."""

from __future__ import annotations

import pytest

from cotexit.benchmarks.loading import load_problems
from cotexit.benchmarks.prompts import build_prompt
from cotexit.controller.cues import DEFAULT_CUES
from cotexit.engines.backends import open_engine
from cotexit.engines.decoding import DecodeConfig
from cotexit.models import chat_prompt, load_model
from cotexit.probes.controller import ProbeExitPolicy


@pytest.fixture(scope="module")
def toy():
    return load_model("toy")


def test_a_wait_probe_exits_only_at_wait_on_the_loop_and_generate(toy, wait_probe):
    policy = ProbeExitPolicy.load(wait_probe, fingerprint=toy.fingerprint())
    assert policy.cues.phrases == ("Wait",) and policy.threshold is not None
    problems = load_problems("arith", "test", limit=16)
    prompts, keys = [chat_prompt(toy.tokenizer, build_prompt(p)) for p in problems], [p.id for p in problems]
    runs = {}
    for backend in ("hf", "generate"):
        with open_engine(backend, toy, DecodeConfig(max_new_tokens=400), policies=[ProbeExitPolicy.load(wait_probe)]) as run:
            runs[backend] = run(prompts, keys)  # no cues given: the engine watches the probe's own
    for rows in runs.values():
        assert all(c.phrase == "Wait" for r in rows for c in r.cues)
        assert sum(r.exit is not None for r in rows) >= 2, "the calibrated threshold should fire on some rows"
        assert all(len(r.probe_scores) <= len(r.cues) + (r.exit is not None) for r in rows)
    # the same rows with every default cue watched show the other cues exist on these problems
    with open_engine("hf", toy, DecodeConfig(max_new_tokens=400)) as run:
        plain = run(prompts, keys)
    assert {c.phrase for r in plain for c in r.cues} > {"Wait"} and set(DEFAULT_CUES) > {"Wait"}
    for hf, gen in zip(runs["hf"], runs["generate"]):
        assert hf.exit == gen.exit and hf.token_ids == gen.token_ids
