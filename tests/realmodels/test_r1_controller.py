"""The whole controller with the real DeepSeek-R1-Distill-Qwen-7B tokenizer on a tiny random Qwen2 (slow).

The model has the real vocabulary (152,064 rows), the real chat template
(older variant: the prompt ends at `<｜Assistant｜>` and the model writes
`<think>` itself) and the deepseek-r1 thinking format. A random model writes
no cues, so a scripted step makes greedy decoding write a real-looking
thought (`<think>\\n ... Wait, ... </think> ... \\boxed{5}`) through the decode
loop; once the session's tokens leave the script (a forced exit) and in
forced-answer trials, the model's own logits decide.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cotexit.benchmarks.grading import predicted_answer
from cotexit.controller import CaptureConfig, CueConfig, ThinkingBudget
from cotexit.controller.trials import ForcedRequest
from cotexit.engines.decoding import DecodeConfig
from cotexit.engines.loop import Decoder, forced_answers
from cotexit.engines.loop.step import full_forward
from cotexit.models import LoadedModel, chat_prompt
from cotexit.models.thinking import get_format
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy
from cotexit.probes.features import FeatureSpec, cue_features
from cotexit.probes.probe import Probe, ProbeConfig

pytestmark = pytest.mark.slow

END_THINK = 151649
# The older R1 template leaves `<think>` to the model; passed explicitly, whatever the template inspection says.
FMT = get_format("deepseek-r1").with_overrides(prompt_opens_thinking=False)
QUESTIONS = ["What is 2 + 3?", "Tom has 5 apples and eats 2. How many are left?"]
THOUGHT = (
    "<think>\nLet me compute 2 + 3 = 5. Wait, is that right? Hmm, 2 + 3 is 5.\n\n"
    "Alternatively, count up: 3, 4, 5. But wait, let me double-check: 5 - 3 = 2. Let me verify once more: yes.\n"
)
ANSWER = "</think>\n\nThe answer is \\boxed{5}."
CUES = ["Wait", "Hmm", "Alternatively", "But wait", "Let me double-check", "Let me verify"]


def scripted(script: list[int]):
    """`full_forward` whose logits make greedy decoding write `script` on the session's cache.

    The first call is the session's prompt forward; its cache is the session's. Every row gets the same
    scripted token while the tokens fed on that cache (row 0's) follow the script; after that, and for
    forced-answer trials (which run on caches of their own), the model's own logits are returned.
    """
    state: dict = {"cache": None, "fed": []}

    def step(model, input_ids, attention_mask, position_ids, cache, layers):
        out = full_forward(model, input_ids, attention_mask, position_ids, cache, layers)
        if state["cache"] is None:
            state["cache"] = cache
        elif cache is state["cache"]:
            state["fed"].append(int(input_ids[0, -1]))
        fed = state["fed"]
        if cache is state["cache"] and len(fed) < len(script) and fed == script[: len(fed)]:
            out.logits = torch.full_like(out.logits, -1e4)  # (B, V)
            out.logits[:, script[len(fed)]] = 0.0
        return out

    return step


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def teacher_forced(model, ids: list[int]):
    with torch.no_grad():
        return model(torch.tensor([ids]), output_hidden_states=True)


def greedy_continues(model, context: list[int], tokens: list[int]) -> bool:
    """Whether each of `tokens` is the model's argmax after `context` and the tokens before it."""
    logits = teacher_forced(model, context + tokens).logits[0]  # (T, V)
    return logits[len(context) - 1 : len(context) - 1 + len(tokens)].argmax(-1).tolist() == tokens


@pytest.fixture(scope="module")
def script(r1_tokenizer) -> list[int]:
    return encode(r1_tokenizer, THOUGHT + ANSWER) + [r1_tokenizer.eos_token_id]


@pytest.fixture(scope="module")
def scripted_run(r1_tiny_model, r1_tokenizer, script):
    """(prompt, the decode loop's result) for the scripted thought, with states captured at cues."""
    decoder = Decoder(
        r1_tiny_model, r1_tokenizer, FMT, DecodeConfig(max_new_tokens=len(script) + 8),
        capture=CaptureConfig(layers=(1, -1)), step_forward=scripted(script),
    )
    prompt = chat_prompt(r1_tokenizer, QUESTIONS[0])
    return prompt, decoder.generate([prompt], keys=["q"])[0]


def test_the_model_opens_thinking_and_the_loop_watches_its_cues(r1_tiny_model, r1_tokenizer, script, scripted_run):
    prompt, result = scripted_run
    assert prompt.endswith("<｜Assistant｜>")
    assert result.token_ids == script and result.finish_reason == "eos"
    assert result.text == THOUGHT + ANSWER
    assert result.thinking_text == THOUGHT.removeprefix("<think>") and result.answer_text == ANSWER
    assert result.thinking_tokens == script.index(END_THINK) - 1  # from the token after <think> to </think>
    assert [c.phrase for c in result.cues] == CUES
    one_scan = [m.start("cue") for m in CueConfig().pattern().finditer(result.text)]
    assert [c.char_start for c in result.cues] == one_scan
    for cue in result.cues:
        assert cue.text.lower() in r1_tokenizer.decode(script[cue.token_start : cue.token_end + 1]).lower()
    assert predicted_answer(result) == "5"

    prompt_ids = encode(r1_tokenizer, prompt)
    out = teacher_forced(r1_tiny_model, prompt_ids + script)
    for cue in result.cues:
        for layer in (1, 2):
            expected = out.hidden_states[layer][0, len(prompt_ids) + cue.token_end]
            torch.testing.assert_close(cue.hidden[layer], expected, atol=1e-5, rtol=1e-4)


def test_budget_exit_forces_think_end_as_one_token_then_a_greedy_answer(r1_tiny_model, r1_tokenizer):
    decoder = Decoder(
        r1_tiny_model, r1_tokenizer, FMT, DecodeConfig(max_new_tokens=64, max_answer_tokens=6),
        policies=[ThinkingBudget(8)], step_forward=scripted(encode(r1_tokenizer, "<think>\n")),
    )
    forced = decoder.forced_exit_ids
    assert forced.count(END_THINK) == 1
    prompts = [chat_prompt(r1_tokenizer, q) for q in QUESTIONS]
    for prompt, result in zip(prompts, decoder.generate(prompts, keys=["a", "b"])):
        assert result.exit is not None and result.exit.policy == "budget-8"
        assert result.text.startswith("<think>\n") and result.thinking_tokens == 8
        cut = result.exit.cut
        assert cut == 9 and result.token_ids[cut : cut + len(forced)] == forced
        assert result.answer_text.startswith(FMT.forced_exit) and "</think>" in result.answer_text
        assert "</think>" not in result.thinking_text
        context = encode(r1_tokenizer, prompt) + result.token_ids[: cut + len(forced)]
        assert greedy_continues(r1_tiny_model, context, result.token_ids[cut + len(forced) :])


def test_forced_answer_trials_at_each_cue_leave_the_run_unchanged(r1_tiny_model, r1_tokenizer, script, scripted_run):
    prompt, plain = scripted_run
    decoder = Decoder(
        r1_tiny_model, r1_tokenizer, FMT, DecodeConfig(max_new_tokens=len(script) + 8), step_forward=scripted(script)
    )
    session = decoder.session([prompt], keys=["q"])
    trials = []
    for event in session.steps():
        requests = [ForcedRequest(r, cue.token_start) for r, cue in event.cues if r in session.batch]
        trials += forced_answers(session, requests, max_tokens=4)
    assert session.results()[0].token_ids == plain.token_ids
    assert [t.request.prefix for t in trials] == [c.token_start for c in plain.cues]
    prompt_ids = encode(r1_tokenizer, prompt)
    for trial in trials:
        assert trial.token_ids and all(0.0 < p <= 1.0 for p in trial.token_probs)
        context = prompt_ids + script[: trial.request.prefix] + decoder.forced_exit_ids
        assert greedy_continues(r1_tiny_model, context, trial.token_ids)


def probe_artifact(lm: LoadedModel, threshold: float | None) -> ProbeArtifact:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 64)).astype(np.float32)
    return ProbeArtifact(
        probe=Probe.fit(X, X[:, 0] > 0, ProbeConfig()),
        features=FeatureSpec(layers=(1, 2), hidden_size=32),
        fingerprint=lm.fingerprint(),
        cues=CueConfig().to_json(),
        thinking_format=FMT.to_json(),
        calibration={"mode": "accuracy-drop", "threshold": threshold, "epsilon": 0.02, "delta": 0.1},
    )


def test_probe_reads_the_cue_states_and_its_exit_cuts_before_the_cue(
    r1_tiny_model, r1_tokenizer, r1_tokenizer_dir, tokenizer, script, scripted_run, tmp_path
):
    prompt, plain = scripted_run
    lm = LoadedModel("tiny-r1", str(r1_tokenizer_dir), r1_tiny_model, r1_tokenizer, FMT)
    artifact = ProbeArtifact.load(probe_artifact(lm, threshold=None).save(tmp_path / "never"))
    artifact.check_model(lm.fingerprint())
    with pytest.raises(ValueError, match="tokenizer_sha256"):
        artifact.check_model(LoadedModel("tiny-r1", "x", r1_tiny_model, tokenizer, FMT).fingerprint())

    def run(policy: ProbeExitPolicy):
        decoder = Decoder(
            r1_tiny_model, r1_tokenizer, FMT, DecodeConfig(max_new_tokens=len(script) + 8, max_answer_tokens=6),
            capture=policy.capture(), policies=[policy], step_forward=scripted(script),
        )
        return decoder.generate([prompt], keys=["q"])[0], decoder.forced_exit_ids

    never = ProbeExitPolicy(artifact)  # threshold None: scores every cue, never exits
    result, _ = run(never)
    assert result.token_ids == plain.token_ids and result.exit is None
    expected = [float(artifact.probe.score(cue_features(c.hidden, artifact.features)[None])[0]) for c in plain.cues]
    assert result.probe_scores == pytest.approx(expected, abs=1e-5)

    always = ProbeExitPolicy(artifact, threshold=0.0)  # fires at the first cue whose states are in
    result, forced = run(always)
    cut = plain.cues[0].token_start
    assert result.exit is not None and result.exit.policy == "probe-accuracy-drop" and result.exit.cut == cut
    assert len(result.probe_scores) == 1 and result.cues == []  # the cue is cut with everything after it
    assert result.token_ids[:cut] == script[:cut] and result.token_ids[cut : cut + len(forced)] == forced
    kept = THOUGHT[: plain.cues[0].char_start].rstrip()  # " Wait" is one token: its space goes with it
    assert result.text.startswith(kept + FMT.forced_exit) and result.thinking_text == kept.removeprefix("<think>")
    assert "</think>" in result.answer_text and forced.count(END_THINK) == 1
    context = encode(r1_tokenizer, prompt) + result.token_ids[: cut + len(forced)]
    assert greedy_continues(r1_tiny_model, context, result.token_ids[cut + len(forced) :])
