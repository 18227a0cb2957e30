"""`next_exit`: which cue a row's policies are shown, when, with which states, and where an exit cuts."""

from __future__ import annotations

import pytest
import torch

from cotexit.controller import ExitPolicies, ExitPolicy, ThinkingBudget, next_exit
from stand_ins import Seen, ids, setup


def row_with(text: str, policies, *, fed: int | None = None):
    s = setup(policies)
    row = s.new_row("r", ids("Q"))
    for token in ids(text):
        row.append(token, len(row.tokens))
    row.fed = len(row.tokens) if fed is None else fed
    return s, row


def test_each_cue_is_shown_once_in_order_and_the_first_firing_policy_names_the_exit():
    quiet, firing = Seen(name="quiet"), Seen(fire_at=1, name="firing")
    s, row = row_with("x=1. Wait, x=2. Hmm, ok", [quiet, firing])
    assert [c.phrase for c in row.cues] == ["Wait", "Hmm"]
    decision = next_exit(s.policies, row, at_step=False)
    assert decision.policy == "firing" and decision.cue_index == 1
    assert decision.cut == row.cues[1].token_start  # before-cue by default: the cue word is dropped
    assert quiet.shown == [("Wait", False), ("Hmm", False)] and firing.shown == quiet.shown
    assert next_exit(s.policies, row, at_step=False) is None  # shown once: nothing new
    assert quiet.shown == [("Wait", False), ("Hmm", False)]


def test_keep_cue_semantics_cut_after_the_confirming_token():
    s, row = row_with("x=1. Wait, ok", [Seen(fire_at=0, cut="keep-cue")])
    decision = next_exit(s.policies, row, at_step=False)
    assert decision.cut == row.cues[0].step + 1 == row.cues[0].token_end + 2  # "Wait" then "," confirmed it


def test_a_cue_waits_for_its_states_and_goes_on_without_them_once_they_cannot_come():
    policy = Seen(needs_hidden=True)
    s, row = row_with("x=1. Wait, ok", [policy], fed=0)
    cue = row.cues[0]
    row.fed = cue.token_end  # its last token not fed yet: its states come with the next forward
    assert next_exit(s.policies, row, at_step=False) is None and policy.shown == []
    row.fed = cue.token_end + 1
    cue.hidden = {2: torch.ones(4)}
    next_exit(s.policies, row, at_step=False)
    assert policy.shown == [("Wait", True)]
    assert row.probe_scores == [4.0]  # the score the policy wrote on the cue stays with the row

    late = Seen(needs_hidden=True)
    s, row = row_with("x=1. Wait, ok", [late])  # every token fed, the states never captured
    next_exit(s.policies, row, at_step=False)
    assert late.shown == [("Wait", False)] and row.probe_scores == []


def test_per_step_policies_cut_after_the_last_token_and_only_when_asked_at_a_step():
    s, row = row_with("abcdefgh", [ThinkingBudget(5)])
    assert next_exit(s.policies, row, at_step=False) is None
    decision = next_exit(s.policies, row, at_step=True)
    assert (decision.policy, decision.cut, decision.cue_index) == ("budget-5", 8, None)


def test_a_row_that_is_not_thinking_is_never_stopped():
    s, row = row_with("x=1. Wait, so \\boxed{1}", [Seen(fire_at=0)])
    assert row.phase == "answer"
    assert next_exit(s.policies, row, at_step=True) is None
    assert next_exit(ExitPolicies(), row_with("Wait, x", [])[1], at_step=True) is None


class Trial(ExitPolicy):
    needs_trial = True
    per_step = False
    name = "trial"

    def __call__(self, row, cue) -> bool:
        return cue.trial == "42}"


def test_trial_policies_get_a_trial_at_each_cue_or_a_clear_error():
    s, row = row_with("x=1. Wait, x=2. Hmm, ok", [Trial()])
    with pytest.raises(ValueError, match="no trial runner"):
        next_exit(s.policies, row, at_step=False)
    s, row = row_with("x=1. Wait, x=2. Hmm, ok", [Trial()])
    answers = iter(["7}", "42}"])
    trials = []

    def trial(cue):
        trials.append(cue.phrase)
        cue.trial = next(answers)

    decision = next_exit(s.policies, row, at_step=False, trial=trial)
    assert trials == ["Wait", "Hmm"] and decision.cue_index == 1
