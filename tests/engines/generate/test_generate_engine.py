"""The `generate()` engine against the decode loop: same cues, same probe scores, same exits, same answers.

A tiny random model cannot be relied on to write "Wait", so a scripted bias
steers it: hooks on the model itself push the logits towards a fixed chain
of next tokens (after token t, the token that followed t in a reasoning
script). Both engines then run the same forward of the same model; only how
they decode, capture and stop differs, and that is what is compared.
"""

from __future__ import annotations

import pytest
import torch

from cotexit.controller import SEMANTICS, CueConfig, ThinkingBudget
from cotexit.engines.generate import GenerateExits
from cotexit.engines.decoding import DecodeConfig, SamplingConfig
from cotexit.engines.loop import Decoder
from cotexit.engines.tap import layer_modules
from cotexit.models.loading import LoadedModel
from cotexit.models.thinking import get_format
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import ProbeExitPolicy
from cotexit.probes.features import FeatureSpec
from cotexit.probes.probe import Probe, ProbeConfig

SCRIPT = (
    "<think>\nLet me compute 12 + 7 = 19. Wait, let me double-check: 12 + 7 = 19. Hmm, yes. "
    "Alternatively, we could add 7 + 12. But wait, that is the same. Let me verify the numbers.\n</think>\n"
    "The final answer is \\boxed{19}."
)
# Each ends with "?", which the script never writes, so every row starts the script at its beginning.
PROMPTS = ["Tom has 5 apples?", "How many apples does he have? Please reason step by step?", "3 * 4 = 12?", "the sum?"]
FMT = get_format("qwen3")  # the model writes <think> itself


class ScriptBias:
    """Forward hooks that add +30 to the logit of the scripted successor of each position's last two tokens.

    The successor of (a, b) is what first followed them in the script, else what first followed b, else the
    script's first token.
    """

    def __init__(self, model, chain: list[int]) -> None:
        self.pairs: dict[tuple[int, int], int] = {}
        self.next: dict[int, int] = {}
        for a, b, c in zip(chain, chain[1:], chain[2:]):
            self.pairs.setdefault((a, b), c)
        for a, b in zip(chain, chain[1:]):
            self.next.setdefault(a, b)
        self.first = chain[0]
        self.ids = None
        self.handles = [
            model.model.register_forward_pre_hook(self._inputs, with_kwargs=True),
            model.lm_head.register_forward_hook(self._bias),
        ]

    def _inputs(self, _module, args, kwargs):
        self.ids = kwargs.get("input_ids", args[0] if args else None)

    def _bias(self, _module, _inputs, logits):
        k = logits.shape[1]
        bias = torch.zeros_like(logits)
        for b in range(logits.shape[0]):
            for j in range(k):
                at = self.ids.shape[1] - k + j
                prev = (int(self.ids[b, at - 1]) if at > 0 else -1, int(self.ids[b, at]))
                bias[b, j, self.pairs.get(prev, self.next.get(prev[1], self.first))] = 30.0
        return logits + bias

    def remove(self):
        for h in self.handles:
            h.remove()


@pytest.fixture
def scripted(tiny_model, tokenizer):
    bias = ScriptBias(tiny_model, tokenizer(SCRIPT, add_special_tokens=False)["input_ids"])
    yield tiny_model
    bias.remove()


def probe_for(model, tokenizer, threshold, cut="before-cue"):
    rng = torch.Generator().manual_seed(0)
    X = torch.randn(200, 64, generator=rng)
    y = (X[:, :8].sum(1) > 0).numpy()
    return ProbeArtifact(
        probe=Probe.fit(X.numpy(), y, ProbeConfig()),
        features=FeatureSpec(layers=(2, 4), hidden_size=32),
        fingerprint=LoadedModel("tiny", "tiny", model, tokenizer, FMT).fingerprint(),
        cues={"phrases": list(CueConfig().phrases)},
        thinking_format=FMT.to_json(),
        calibration={"mode": "accuracy-drop", "threshold": threshold, "epsilon": 0.1, "delta": 0.1},
        exit_semantics=SEMANTICS[cut].to_json(),
    )


def prompts(tokenizer):
    return list(PROMPTS)


def loop_run(model, tokenizer, policy, max_new_tokens=80, sampling=None):
    config = DecodeConfig(max_new_tokens=max_new_tokens, max_answer_tokens=8, sampling=sampling or SamplingConfig())
    capture = policy.capture() if hasattr(policy, "capture") else None
    decoder = Decoder(model, tokenizer, FMT, config, capture=capture, policies=[policy])
    return decoder.generate(prompts(tokenizer), keys=list(PROMPTS))


def generate_run(model, tokenizer, exits, max_new_tokens=80, sampling=None):
    return exits.generate(prompts(tokenizer), keys=list(PROMPTS), max_new_tokens=max_new_tokens, sampling=sampling)


def a_threshold_that_splits(model, tokenizer):
    """A threshold between the scores the probe gives at these rows' cues, so some cues exit and some do not."""
    policy = ProbeExitPolicy(probe_for(model, tokenizer, None))
    scores = sorted(s for row in loop_run(model, tokenizer, policy) for s in row.probe_scores)
    assert len(scores) >= 8, "the script should produce cues on every row"
    return (scores[len(scores) // 2] + scores[len(scores) // 2 + 1]) / 2


@pytest.mark.parametrize("cut", ["before-cue", "keep-cue"])
def test_greedy_batch_of_4_exits_where_the_loop_exits_with_the_same_answers(scripted, tokenizer, cut):
    artifact = probe_for(scripted, tokenizer, a_threshold_that_splits(scripted, tokenizer), cut)
    loop_policy = ProbeExitPolicy(artifact)
    expected = loop_run(scripted, tokenizer, loop_policy)
    with GenerateExits(scripted, tokenizer, FMT, probe=artifact, max_answer_tokens=8) as exits:
        got = generate_run(scripted, tokenizer, exits)
    for e, g in zip(expected, got):
        assert g.probe_scores == pytest.approx(e.probe_scores, abs=1e-5)
    assert sum(r.exit is not None for r in expected) >= 1, "the threshold should make some row exit"
    for e, g in zip(expected, got):
        assert (g.exit.cut, g.exit.cue_index, g.exit.step) == (e.exit.cut, e.exit.cue_index, e.exit.step) if e.exit else g.exit is None
        assert g.token_ids == e.token_ids
        assert (g.answer_text, g.thinking_tokens, g.finish_reason) == (e.answer_text, e.thinking_tokens, e.finish_reason)
        assert [(c.phrase, c.token_start) for c in g.cues] == [(c.phrase, c.token_start) for c in e.cues]
        if g.exit is not None:
            assert g.text.count("</think>") == 1 and "\\boxed{" in g.answer_text
            if cut == "keep-cue":  # the cue stays, and so does the token that confirmed it
                assert g.exit.cut == e.cues[e.exit.cue_index].step + 1 and len(e.cues) == e.exit.cue_index + 1
            else:
                assert len(e.cues) == e.exit.cue_index  # the cue is cut away


def test_probe_features_inside_generate_equal_the_loops(scripted, tokenizer):
    """The states a cue gets inside generate() are the decode loop's at the same cue (float tolerance)."""
    artifact = probe_for(scripted, tokenizer, None)
    expected = loop_run(scripted, tokenizer, ProbeExitPolicy(artifact))
    with GenerateExits(scripted, tokenizer, FMT, probe=artifact, max_answer_tokens=8) as exits:
        got = generate_run(scripted, tokenizer, exits)
    compared = 0
    for e, g in zip(expected, got):
        for ce, cg in zip(e.cues, g.cues):
            for layer in (2, 4):
                torch.testing.assert_close(cg.hidden[layer], ce.hidden[layer], atol=1e-4, rtol=1e-4)
                compared += 1
    assert compared >= 16


def test_token_budget_cuts_where_the_loop_cuts(scripted, tokenizer):
    expected = loop_run(scripted, tokenizer, ThinkingBudget(20))
    with GenerateExits(scripted, tokenizer, FMT, policies=[ThinkingBudget(20)], max_answer_tokens=8) as exits:
        got = generate_run(scripted, tokenizer, exits)
    assert all(r.exit is not None for r in expected)
    assert [(r.exit.cut, r.exit.step, r.token_ids) for r in got] == [(r.exit.cut, r.exit.step, r.token_ids) for r in expected]


def test_trial_baseline_runs_its_trials_inside_generate(scripted, tokenizer):
    from cotexit.baselines.deer import Deer

    expected = loop_run(scripted, tokenizer, Deer(1e-6))
    with GenerateExits(scripted, tokenizer, FMT, policies=[Deer(1e-6)], max_answer_tokens=8) as exits:
        got = generate_run(scripted, tokenizer, exits)
    for e, g in zip(expected, got):
        assert e.exit is not None and g.exit is not None and g.exit.cue_index == e.exit.cue_index == 0
        assert g.trial_tokens == e.trial_tokens > 0
        assert g.token_ids == e.token_ids


def test_trials_at_a_keep_cue_cut_include_the_confirming_token(scripted, tokenizer):
    """DEER beside a keep-cue probe that never fires: its trials cut after the token that confirmed the cue,
    which the decode loop has not fed yet when it asks (its trial feeds it); generate() decodes from scratch."""
    from cotexit.baselines.deer import Deer

    probe = ProbeExitPolicy(probe_for(scripted, tokenizer, None, "keep-cue"))
    expected = loop_run_all(scripted, tokenizer, [probe, Deer(1e-6)])
    with GenerateExits(scripted, tokenizer, FMT, probe=probe_for(scripted, tokenizer, None, "keep-cue"),
                       policies=[Deer(1e-6)], max_answer_tokens=8) as exits:
        got = generate_run(scripted, tokenizer, exits)
    for e, g in zip(expected, got):
        cue = e.cues[0]
        assert e.exit is not None and e.exit.cut == cue.step + 1 > cue.token_end
        assert (g.exit.cut, g.trial_tokens, g.token_ids) == (e.exit.cut, e.trial_tokens, e.token_ids)
        assert cue.text in e.thinking_text  # the cue is kept


def loop_run_all(model, tokenizer, policies, max_new_tokens=80):
    config = DecodeConfig(max_new_tokens=max_new_tokens, max_answer_tokens=8, sampling=SamplingConfig())
    capture = next((p.capture() for p in policies if hasattr(p, "capture")), None)
    decoder = Decoder(model, tokenizer, FMT, config, capture=capture, policies=policies)
    return decoder.generate(prompts(tokenizer), keys=list(PROMPTS))


def test_sampled_rows_exit_before_a_cue_and_answer(scripted, tokenizer):
    artifact = probe_for(scripted, tokenizer, 0.0)  # every first cue exits
    with GenerateExits(scripted, tokenizer, FMT, probe=artifact, max_answer_tokens=8) as exits:
        rows = generate_run(scripted, tokenizer, exits, sampling=SamplingConfig(temperature=0.6, top_p=0.95, seed=1))
        assert all(len(row.probe_scores) == 1 for row in rows)
    for row in rows:
        assert row.exit is not None and row.exit.cue_index == 0
        assert not row.cues and "Wait" not in row.thinking_text  # cut before the cue: the cue itself is gone
        assert row.text.count("</think>") == 1 and row.finish_reason in ("answer", "length")


def test_hooks_come_off_and_bad_input_is_refused(tiny_llama, tokenizer):
    artifact = probe_for(tiny_llama, tokenizer, 0.5)
    modules = layer_modules(tiny_llama, (2, 4))
    before = [len(m._forward_hooks) for m in modules]
    exits = GenerateExits(tiny_llama, tokenizer, FMT, probe=artifact)
    assert [len(m._forward_hooks) for m in modules] == [n + 1 for n in before]
    exits.close()
    assert [len(m._forward_hooks) for m in modules] == before
    with pytest.raises(ValueError, match="max_answer_tokens"):
        GenerateExits(tiny_llama, tokenizer, FMT, max_answer_tokens=0)
    with pytest.raises(ValueError, match="prompts must not be empty"):
        GenerateExits(tiny_llama, tokenizer, FMT).generate([])
    other = {**artifact.fingerprint, "config_sha256": "0" * 16}
    with pytest.raises(ValueError, match="fitted on model"):
        GenerateExits(tiny_llama, tokenizer, FMT, probe=ProbeArtifact(**{**artifact.__dict__, "fingerprint": other}))
    wrong = {**artifact.exit_semantics, "cut": "after-cue"}
    with pytest.raises(ValueError, match="not ones cotexit implements"):
        GenerateExits(tiny_llama, tokenizer, FMT, probe=ProbeArtifact(**{**artifact.__dict__, "exit_semantics": wrong}))


def test_a_new_generate_call_is_never_taken_for_the_next_step_of_the_last(tokenizer):
    """Ids one column wider than the last call's, but not extending them, start a new batch."""
    from cotexit.controller import ExitPolicies, ExitSetup
    from cotexit.engines.generate import ExitProcessor

    eos = tokenizer.eos_token_id
    setup = ExitSetup(tokenizer, FMT, CueConfig(), ExitPolicies(), eos_ids={eos}, stop_id=eos, pad_id=eos, forced_exit_ids=[5])
    proc = ExitProcessor(setup, None)
    scores = torch.zeros(2, len(tokenizer))
    first = torch.tensor([[eos, 10, 11], [12, 13, 14]])
    proc(first, scores)
    proc(torch.cat([first, torch.tensor([[20], [21]])], dim=1), scores)
    assert proc.prompt_width == 3 and [r.tokens for r in proc.rows] == [[20], [21]]
    other = torch.tensor([[30, 31, 32, 33, 34], [35, 36, 37, 38, 39]])  # as wide as the next step would be
    proc(other, scores)
    assert proc.prompt_width == 5 and [r.tokens for r in proc.rows] == [[], []]
    assert [r.prompt_ids for r in proc.rows] == other.tolist()
