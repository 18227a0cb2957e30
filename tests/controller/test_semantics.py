"""Exit semantics: where each cut falls, what artifacts may record, and which engine may make which cut."""

from __future__ import annotations

import pytest

from cotexit.controller import SEMANTICS, CueEvent, ExitPolicies, ExitPolicy, ExitSemantics, ThinkingBudget, resolve_semantics

CUE = CueEvent(phrase="Wait", text="Wait", char_start=40, token_start=10, token_end=11, step=12)


class Recorded(ExitPolicy):
    """A policy that carries the semantics its labels were made with, as a probe does."""

    needs_hidden = False
    name = "recorded"

    def __init__(self, cut: str) -> None:
        self.semantics = SEMANTICS[cut].to_json()

    def __call__(self, row, cue) -> bool:
        return False


def test_each_cut_drops_what_it_says():
    assert SEMANTICS["before-cue"].cut_at(CUE, generated=20) == 10  # the cue's first token is dropped
    assert SEMANTICS["keep-cue"].cut_at(CUE, generated=20) == 13  # kept through the confirming token (step 12)
    assert all(s.cut_at(None, generated=20) == 20 for s in SEMANTICS.values())  # a per-step exit keeps everything


def test_only_implemented_semantics_load():
    assert ExitSemantics.from_json(SEMANTICS["keep-cue"].to_json()) is SEMANTICS["keep-cue"]
    for bad in ({"cut": "after-cue", "forced_text": "format-forced-exit", "answer": "greedy-until-brace-closes"},
                {**SEMANTICS["keep-cue"].to_json(), "answer": "sampled"}, {}):
        with pytest.raises(ValueError, match="not ones cotexit implements"):
            ExitSemantics.from_json(bad)
    with pytest.raises(ValueError, match="cut must be one of"):
        ExitSemantics(cut="middle")


def test_policies_take_the_probes_semantics_and_engines_refuse_cuts_they_cannot_make():
    assert ExitPolicies([ThinkingBudget(5)]).semantics is SEMANTICS["before-cue"]
    policies = ExitPolicies([ThinkingBudget(5), Recorded("keep-cue")])
    assert policies.semantics is SEMANTICS["keep-cue"]
    policies.check_engine("vllm-serve", (), cuts=("keep-cue",))
    with pytest.raises(ValueError, match="cannot make"):
        ExitPolicies([Recorded("before-cue")]).check_engine("vllm-serve", (), cuts=("keep-cue",))
    with pytest.raises(ValueError, match="different exit semantics"):
        ExitPolicies([Recorded("before-cue"), Recorded("keep-cue")])
    assert resolve_semantics([None, None]) is SEMANTICS["before-cue"]
