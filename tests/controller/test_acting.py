"""Acting on exits (`cotexit.controller.acting`): the steps every engine shares around a decision."""

from __future__ import annotations

import torch

from cotexit.controller import ForcedAnswer, ForcedRequest, ThinkingBudget
from cotexit.controller.acting import (
    RowStates,
    answer_exited,
    charge_trials,
    decide_exit,
    feed_forced,
    finish_with,
    follow_emitted,
    next_token,
    observe_token,
    trial_request,
)
from cotexit.controller.detokenize import IncrementalDetokenizer
from cotexit.controller.semantics import answer_closed
from stand_ins import EOS, CharTokenizer, Seen, ids, setup, states


def test_observed_cues_get_the_states_of_their_last_token_from_this_step_or_the_one_before():
    s = setup([Seen(needs_hidden=True)])
    row = s.new_row("r", ids("Q"))
    before = None
    for i, token in enumerate(ids("x. Wait, ok")):
        now = RowStates(states(float(i)), 0)
        observe_token(row, token, now=now, before=before, eos_ids=s.eos_ids)
        before = now
    cue = row.cues[0]
    assert cue.token_end == 6 and row.tokens[7] == ord(",")  # confirmed one token later, by the comma
    assert torch.equal(cue.hidden[2], torch.full((4,), 6.0))  # the states kept from the step that fed "t"
    assert row.fed == len(row.tokens)
    observe_token(row, EOS, now=None, before=None, eos_ids=s.eos_ids)
    assert row.finish_reason == "eos"


def test_an_exit_is_recorded_cut_with_its_forced_text_queued_and_the_answer_then_greedy():
    s = setup([Seen(fire_at=0)])
    row = s.new_row("r", ids("Q"))
    for token in ids("x. Wait, ok"):
        observe_token(row, token, now=None, before=None, eos_ids=s.eos_ids)
    info = decide_exit(s.policies, row, s.forced_exit_ids)
    assert info.cut == 3 and row.tokens == ids("x. ")  # before-cue: "Wait, ok" is dropped
    assert info.step == len(ids("x. Wait, ok")) - 1  # judged now, in the step of the newest token (the comma confirmed it earlier)
    assert row.forced == s.forced_exit_ids
    token, forced = next_token(row, engine_token=99, greedy=lambda: 55)
    assert (token, forced) == (s.forced_exit_ids[0], True)
    feed_forced(row, s.limits(100))
    assert row.text.endswith(s.fmt.forced_exit) and not row.forced
    assert next_token(row, engine_token=99, greedy=lambda: 55) == (55, False)  # after an exit: greedy, never sampled
    finish_with(row, ids("12}.") + ids("ignored"), s.limits(100))
    result = row.result()
    assert result.finish_reason == "answer" and result.answer_text == s.fmt.forced_exit + "12}"


def test_without_an_exit_the_engine_chooses_and_a_row_out_of_tokens_ends_by_length():
    s = setup()
    row = s.new_row("r", ids("Q"))
    assert next_token(row, engine_token=99, greedy=lambda: 55) == (99, False)
    finish_with(row, ids("abc"), s.limits(100))
    assert row.finish_reason == "length" and row.tokens == ids("abc")
    row = s.new_row("r", ids("Q"))
    finish_with(row, ids("abcdef"), s.limits(4))
    assert row.finish_reason == "length" and row.tokens == ids("abcd")


def test_an_eos_inside_the_forced_text_does_not_end_the_row():
    s = setup()
    s.forced_exit_ids[:] = ids("\n\\boxed") + [EOS] + ids("{")
    row = s.new_row("r", ids("Q"))
    row.exit_at("p", 0, 0, None, s.forced_exit_ids)
    feed_forced(row, s.limits(100))
    assert not row.done and not row.forced


def test_exited_rows_are_answered_from_their_cut_prefixes_in_one_decode_call():
    s = setup([ThinkingBudget(2)], max_answer_tokens=4)
    rows = []
    for key in ("a", "b"):
        row = s.new_row(key, ids("Q" + key))
        for token in ids("abc"):
            row.append(token, len(row.tokens))
        row.fed = len(row.tokens)
        decide_exit(s.policies, row, s.forced_exit_ids)
        rows.append(row)
    calls = []

    def decode(prefixes, max_tokens):
        calls.append((prefixes, max_tokens))
        return [ids("7}.."), ids("1234567")]

    answer_exited(rows, s, 100, decode)
    assert len(calls) == 1 and calls[0][1] == 4
    assert calls[0][0] == [ids("Qa") + ids("abc") + s.forced_exit_ids, ids("Qb") + ids("abc") + s.forced_exit_ids]
    assert [r.finish_reason for r in rows] == ["answer", "length"]  # the second ran out of its answer budget
    assert rows[0].result().answer_text.endswith("{7}") and rows[1].tokens[-4:] == ids("1234")


def test_a_server_follows_what_it_was_made_to_emit():
    s = setup()
    row = s.new_row("r", ids("Q"))
    for token in ids("x. Wait,"):
        row.append(token, len(row.tokens))
    row.exit_at("p", len(row.tokens), 0, 0, s.forced_exit_ids)  # keep-cue: nothing cut
    emitted = row.tokens + s.forced_exit_ids + ids("5}") + [EOS]
    follow_emitted(row, emitted, s.limits(1000))
    assert row.finish_reason == "answer" and not row.forced and row.text.endswith("{5}")


def test_trials_start_where_an_exit_would_cut_and_the_row_pays_for_each():
    policy = Seen()
    s = setup([policy])
    row = s.new_row("r", ids("Q"))
    for token in ids("x. Wait, ok"):
        row.append(token, len(row.tokens))
    request = trial_request(s.policies, 3, row, row.cues[0])
    assert request == ForcedRequest(3, row.cues[0].token_start)
    text = IncrementalDetokenizer(CharTokenizer())
    answer = ForcedAnswer.from_greedy(request, [(t, 0.5) for t in ids("4}2}")], text, s.eos_ids, closes_brace=True)
    assert (answer.text, answer.cost_tokens) == ("4}", 2)  # the one stop rule: the brace closed
    charge_trials(row, [answer, answer], s.forced_exit_ids)
    assert row.trial_tokens == 2 * (len(s.forced_exit_ids) + 2)


def test_answer_closed_counts_nested_braces():
    assert answer_closed("\\frac{1}{2}}") and not answer_closed("\\frac{1}{2}") and not answer_closed("")
