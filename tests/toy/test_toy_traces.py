"""Traces look like a reasoning model's: cues, think tags, boxed answers, slips."""

from __future__ import annotations

import random
import re

import pytest

from cotexit.benchmarks.arith_splits import arith_structured
from cotexit.toy.traces import FORCED_EXIT, TraceConfig, forced_reply, reply_text, write_trace

CUE = re.compile(r"(?m)^(Wait|Hmm|Alternatively|But wait|Let me verify)")


@pytest.fixture(scope="module")
def traces():
    probs = arith_structured("test", 300)
    return probs, [write_trace(p, random.Random(i)) for i, p in enumerate(probs)]


def test_trace_is_deterministic():
    p = arith_structured("test", 1)[0]
    assert write_trace(p, random.Random(3)).text == write_trace(p, random.Random(3)).text


def test_replies_have_think_tags_cues_and_boxed_answer(traces):
    probs, trs = traces
    for p, t in zip(probs, trs):
        reply = reply_text(t)
        assert reply.startswith("<think>\n") and reply.count("</think>") == 1
        assert FORCED_EXIT in reply
        boxed = re.search(r"\\boxed\{(-?\d+)\}\.$", reply).group(1)  # an unfixed slip may go negative
        assert boxed == str(t.final_answer)
        assert len(CUE.findall(t.text)) == t.n_cues >= 1
        if t.correct:
            assert boxed == str(p.answer)


def test_mix_of_slips_and_rechecks(traces):
    _, trs = traces
    acc = sum(t.correct for t in trs) / len(trs)
    assert 0.8 <= acc <= 0.97  # unfixed slips make some full runs wrong
    assert sum(t.n_cues >= 2 for t in trs) / len(trs) > 0.7
    assert any("not" in t.text and t.correct for t in trs)  # fixed slips
    first_right = sum(t.cut_points()[0][1] == t.gold for t in trs) / len(trs)
    assert 0.2 <= first_right <= 0.8


def test_forced_reply_cuts_before_a_cue_word(traces):
    _, trs = traces
    t = trs[2]
    prefix, forced, tail = forced_reply(t, t.cut_points()[0])
    assert prefix.endswith("\n") and forced == FORCED_EXIT
    assert CUE.match(t.text[len(prefix) - len("<think>\n") :])
    assert re.fullmatch(r"\d+\}\.", tail)


def test_config_validates():
    with pytest.raises(ValueError, match="p_slip_fixed"):
        TraceConfig(p_slip_fixed=1.5)
