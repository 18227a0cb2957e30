"""The online draft policy of exact mode: arm choice by measured rate, draft length by acceptance against cost."""

from __future__ import annotations

import pytest

from cotexit.depth.adaptive import FIRST_CAP, FIRST_RUNS, MAX_BACKOFF, DraftPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(policy: DraftPolicy, clock: FakeClock, seconds_per_step: dict[str, float], cycles: int) -> list[str]:
    """Run `cycles` cycles of one loop step each, every arm taking its own time per step."""
    chosen = []
    for _ in range(cycles):
        arm = policy.choose()
        policy.ran(arm)
        chosen.append(arm)
        policy.step()
        clock.now += seconds_per_step[arm]
    return chosen


def test_the_faster_arm_runs_and_the_slower_is_still_explored():
    clock = FakeClock()
    policy = DraftPolicy("layer", draft_cost=0.5, explore=8, warmup=2, clock=clock)
    chosen = drive(policy, clock, {"plain": 1.0, "layer": 0.5}, 80)
    later = chosen[10:]
    assert later.count("layer") > 0.8 * len(later)
    assert "plain" in later  # exploration keeps measuring the other arm
    assert policy.rate["layer"] == pytest.approx(2.0) and policy.rate["plain"] == pytest.approx(1.0)


def test_plain_wins_when_drafting_does_not_pay():
    clock = FakeClock()
    policy = DraftPolicy("auto", draft_cost=0.5, explore=10, clock=clock)
    chosen = drive(policy, clock, {"plain": 1.0, "layer": 3.0, "context": 2.0}, 300)
    assert chosen[30:].count("plain") >= 0.9 * len(chosen[30:])


def test_exploring_a_losing_arm_backs_off():
    clock = FakeClock()
    policy = DraftPolicy("layer", draft_cost=0.5, explore=4, budget=1.0, clock=clock)
    chosen = drive(policy, clock, {"plain": 1.0, "layer": 2.0}, 400)
    tries = [i for i, arm in enumerate(chosen) if arm == "layer" and i > 10]
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    assert gaps[-1] == 4 * 2**MAX_BACKOFF and gaps[0] < gaps[-1]  # explored less and less often, up to the cap


@pytest.mark.parametrize("budget", [0.01, 0.05])
def test_exploration_loses_at_most_its_budget_of_the_time(budget):
    clock = FakeClock()
    policy = DraftPolicy("auto", draft_cost={3: 0.4, 7: 0.6}, explore=4, budget=budget, clock=clock)
    seconds = {"plain": 1.0, "context": 3.0, "layer:3": 2.0, "layer:7": 2.5}
    chosen = drive(policy, clock, seconds, 3000)
    lost = sum(seconds[a] - 1.0 for a in chosen)
    assert lost <= budget * clock.now + max(seconds.values())  # (one exploration may overrun it)
    assert lost >= 0.5 * budget * clock.now  # and it is spent: the slower arms are still measured now and then
    later = chosen[len(chosen) // 2 :]
    assert {"context", "layer:3", "layer:7"} <= set(later)
    assert policy.to_json()["seconds_lost_to_slower_arms"] == pytest.approx(lost)


def test_a_much_slower_arm_warms_up_only_as_far_as_the_budget_allows():
    clock = FakeClock()
    policy = DraftPolicy("layer", draft_cost={3: 0.4, 7: 0.6}, warmup=8, budget=0.02, clock=clock)
    chosen = drive(policy, clock, {"plain": 1.0, "layer:3": 4.0, "layer:7": 1.1}, 40)
    assert chosen[:2] == ["plain"] * FIRST_RUNS
    assert chosen.count("layer:3") == FIRST_RUNS  # 6 seconds lost: no more of it in 40 cycles
    generous = DraftPolicy("layer", draft_cost={3: 0.4, 7: 0.6}, warmup=8, budget=1.0, clock=FakeClock())
    assert drive(generous, generous.clock, {"plain": 1.0, "layer:3": 4.0, "layer:7": 1.1}, 40).count("layer:3") == 8


def test_a_draft_layer_starts_with_short_drafts_and_lengthens_them_while_all_are_accepted():
    policy = DraftPolicy("layer", draft_cost={2: 0.3})
    assert policy.draft_cap(2) == FIRST_CAP
    policy.observe([0.9, 0.9], accepted=1, layer=2)
    assert policy.draft_cap(2) == FIRST_CAP
    policy.observe([0.9, 0.9], accepted=2, layer=2)
    policy.observe([0.9] * 4, accepted=4, layer=2)
    assert policy.draft_cap(2) == 4 * FIRST_CAP
    assert DraftPolicy("layer", draft_cost={2: 0.3}, adaptive=False).draft_cap(2) is None


def test_a_context_cycle_with_nothing_to_propose_counts_for_the_arm_that_ran():
    clock = FakeClock()
    policy = DraftPolicy("context", draft_cost=0.5, clock=clock)
    for _ in range(6):
        policy.choose()
        policy.ran("plain")  # the context proposed nothing
        policy.step()
        clock.now += 1.0
    policy.choose()
    assert policy.rate["context"] is None and policy.rate["plain"] == pytest.approx(1.0)


def test_drafting_stops_when_the_chance_of_acceptance_falls_below_the_cost():
    policy = DraftPolicy("layer", draft_cost=0.3)
    assert policy.keep_drafting(0.31) and not policy.keep_drafting(0.29)
    assert policy.acceptance(0.95) > policy.acceptance(0.05)  # before any evidence: the confidence itself


def test_observed_acceptance_overrides_the_prior():
    policy = DraftPolicy("layer", draft_cost=0.3)
    before = policy.acceptance(0.95)
    for _ in range(50):
        policy.observe([0.95, 0.95], accepted=0)  # confident drafts the full stack keeps rejecting
    assert policy.acceptance(0.95) < 0.1 < before
    assert not policy.keep_drafting(policy.acceptance(0.95))


def test_only_drafts_after_accepted_ones_are_evidence():
    policy = DraftPolicy("layer", draft_cost=0.3)
    policy.observe([0.55, 0.15, 0.15], accepted=1)  # the third draft followed a rejected one: not counted
    counts = {tuple(row["bin"]): (row["drafted"], row["accepted"]) for row in policy.to_json()["acceptance_by_confidence"]["0"]}
    assert counts == {(0.5, 0.6): (1, 1), (0.1, 0.2): (1, 0)}


def test_measured_step_times_replace_the_flop_prior():
    policy = DraftPolicy("layer", draft_cost={2: 0.9, 6: 0.95})
    policy.time_draft(2, 0.2)
    assert policy.draft_cost[2] == 0.9  # one side measured is not a ratio yet
    policy.time_pass(1, 1.0)  # a plain step: one position through the whole stack
    assert policy.draft_cost == {2: pytest.approx(0.2), 6: 0.95}


def test_each_candidate_draft_layer_is_an_arm_and_the_fastest_wins():
    clock = FakeClock()
    policy = DraftPolicy("auto", draft_cost={2: 0.3, 4: 0.5}, explore=8, clock=clock)
    assert policy.arms == ("plain", "context", "layer:2", "layer:4")
    chosen = drive(policy, clock, {"plain": 1.0, "context": 0.9, "layer:2": 0.4, "layer:4": 0.6}, 200)
    assert chosen[40:].count("layer:2") > 0.85 * len(chosen[40:])


def test_acceptance_is_counted_per_draft_layer():
    policy = DraftPolicy("layer", draft_cost={2: 0.3, 4: 0.5})
    for _ in range(30):
        policy.observe([0.95], accepted=0, layer=2)
        policy.observe([0.95], accepted=1, layer=4)
    assert policy.acceptance(0.95, 2) < 0.2 < 0.8 < policy.acceptance(0.95, 4)


def test_fixed_policy_always_drafts_from_its_own_source():
    policy = DraftPolicy("auto", draft_cost=0.9, adaptive=False)
    assert {policy.choose() for _ in range(40)} == {"context"}
    assert policy.fallback() == "layer" and policy.keep_drafting(0.0) and policy.context_length(7) == 7
    assert DraftPolicy("context", draft_cost=0.9, adaptive=False).fallback() == "plain"
    assert DraftPolicy("layer", draft_cost=0.9, adaptive=False).choose() == "layer"


@pytest.mark.parametrize(
    "bad",
    [dict(drafter="ngram", draft_cost=0.5), dict(drafter="layer", draft_cost=0.0), dict(drafter="layer", draft_cost=0.5, budget=2.0)],
)
def test_bad_policy_settings_are_named(bad):
    with pytest.raises(ValueError, match="drafter|draft_cost|budget"):
        DraftPolicy(bad.pop("drafter"), **bad)


def test_pass_times_give_the_cost_of_one_more_position():
    policy = DraftPolicy("context", draft_cost=0.5)
    for width in [1] * 50 + [3, 5, 1, 7, 2]:  # mostly one-position passes: each width still weighs the same
        policy.time_pass(width, 0.010 + 0.002 * (width - 1))  # 10 ms for one position, 2 ms per extra one
    assert policy.token_cost == pytest.approx(0.2)


def test_context_drafts_are_as_long_as_their_acceptance_pays_for():
    policy = DraftPolicy("context", draft_cost=0.5, explore=0)
    policy.token_cost = 0.2
    for _ in range(40):
        policy.observe_context(proposed=6, accepted=2)  # the first two positions always hold, the third never
    assert policy.context_length(6) == 2
    every = DraftPolicy("context", draft_cost=0.5, explore=4)
    every.token_cost = 0.99
    assert [every.context_length(6) for _ in range(8)] == [0, 0, 0, 6, 0, 0, 0, 6]  # the longest, now and then
    policy.token_cost = 0.0  # positions cost nothing (a GPU's pass): propose all the room there is
    assert policy.context_length(6) == 6


def test_time_between_prompts_counts_for_no_arm():
    clock = FakeClock()
    policy = DraftPolicy("layer", draft_cost=0.5, clock=clock)
    policy.choose()
    policy.ran("plain")
    policy.step()
    clock.now += 1.0
    policy.pause()  # the prompt of the next problem
    clock.now += 100.0  # (other work between problems)
    policy.choose()
    assert policy.rate["plain"] is None


def test_one_slow_start_is_not_remembered_for_long():
    clock = FakeClock()
    policy = DraftPolicy("layer", draft_cost=0.5, clock=clock)
    for seconds in (50.0, 1.0, 1.0, 1.0, 1.0):  # the first layer cycle was slow (a new shape, a busy machine)
        policy.choose()
        policy.ran("layer")
        policy.step()
        clock.now += seconds
    policy.choose()
    assert policy.rate["layer"] == pytest.approx(5 / 54)  # a plain mean over the first cycles


def test_one_hiccup_does_not_sink_the_fastest_arm():
    clock = FakeClock()
    policy = DraftPolicy("layer", draft_cost=0.5, clock=clock)
    seconds = {"plain": 1.0, "layer": 0.5}
    drive(policy, clock, seconds, 100)
    arm = policy.choose()
    policy.ran(arm)
    policy.step()
    clock.now += 200.0  # the machine stalled during one cycle
    assert arm == "layer"
    later = drive(policy, clock, seconds, 20)
    assert policy.rate["layer"] > policy.rate["plain"] and later[-5:] == ["layer"] * 5
