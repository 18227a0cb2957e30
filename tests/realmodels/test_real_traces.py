"""Real R1-Distill generations (40 MATH runs, `real-traces/` in the shared data): thinking split, grading, cues.

Answer extraction and grading must agree with each trace's correctness flag;
the controller's row state must split thinking from answer where `</think>`
is; and cue watching token by token (detokenizer deltas into a `CueWatcher`,
as the decode loop does) must find exactly the cues one scan of the whole
thinking text finds. The cue checks run with the small byte-level tokenizer
(fast) and with the real DeepSeek-R1-Distill-Qwen tokenizer (slow: a download).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cotexit.benchmarks.extraction import extract_answer
from cotexit.benchmarks.grading import is_equivalent, predicted_answer
from cotexit.controller.cues import CueConfig, CueWatcher
from cotexit.controller.rows import RowState
from cotexit.models.thinking import get_format

THINK_START, THINK_END = "<think>\n", "</think>"


def generation(trace: dict) -> str:
    """What the model wrote: the trace's text less the `<think>\\n` its prompt had opened."""
    assert trace["prompt"].endswith(THINK_START) and trace["text"].startswith(THINK_START)
    return trace["text"][len(THINK_START) :]


def split(trace: dict) -> tuple[str, str]:
    """(thinking, answer): the generation before `</think>`, and from `</think>` on."""
    text = generation(trace)
    at = text.index(THINK_END)
    return text[:at], text[at:]


def scanned_cues(thinking: str) -> list[tuple[str, int]]:
    """(phrase, char_start) of every cue in one scan of the whole text (plus one confirming newline)."""
    watcher = CueWatcher(CueConfig())
    watcher.feed(thinking + "\n", 0, step=0)
    found = [(c.phrase, c.char_start) for c in watcher.events]
    assert [start for _, start in found] == [m.start("cue") for m in CueConfig().pattern().finditer(thinking + "\n")]
    return found


@pytest.fixture(params=["byte", pytest.param("r1", marks=pytest.mark.slow)])
def trace_tokenizer(request):
    """The byte-level test tokenizer, or the real DeepSeek-R1-Distill-Qwen-7B one."""
    return request.getfixturevalue("tokenizer" if request.param == "byte" else "r1_tokenizer")


def test_every_trace_thinks_once_then_answers_in_a_box(real_traces):
    assert len(real_traces) == 40
    for trace in real_traces:
        text = generation(trace)
        assert text.count(THINK_END) == 1 and THINK_START.strip() not in text
        thinking, answer = split(trace)
        assert thinking.strip() and "\\boxed" in answer


def test_extraction_and_grading_agree_with_each_traces_correctness_flag(real_traces):
    disagree = []
    for i, trace in enumerate(real_traces):
        thinking, answer = split(trace)
        row = SimpleNamespace(text=thinking + answer, answer_text=answer)  # what predicted_answer reads of a row
        prediction = predicted_answer(row)
        assert prediction == extract_answer(answer), f"trace {i}: the answer part holds no answer"
        dataset_says = trace["model_answer"]  # the answer the traces' source extracted
        assert is_equivalent(dataset_says, prediction), f"trace {i}: {prediction!r} vs {dataset_says!r}"
        if is_equivalent(trace["gold"], prediction) != trace["is_correct"]:
            disagree.append((i, trace["gold"], prediction, trace["is_correct"]))
    assert not disagree, f"grading disagrees with the traces' flags on {len(disagree)}: {disagree}"
    assert sum(t["is_correct"] for t in real_traces) == 20  # one right and one wrong run per model and problem


def test_rows_split_thinking_at_think_end_and_watch_the_cues_of_one_scan(real_traces, trace_tokenizer):
    """Each generation token by token through the controller's row state (detokenizer deltas into its cue watcher)."""
    fmt = get_format("deepseek-r1").with_overrides(prompt_opens_thinking=True)  # these prompts end with <think>\n
    end_id = trace_tokenizer.convert_tokens_to_ids(THINK_END)
    total = 0
    for i, trace in enumerate(real_traces):
        thinking, answer = split(trace)
        ids = trace_tokenizer(generation(trace), add_special_tokens=False)["input_ids"]
        assert ids.count(end_id) == 1, f"trace {i}: {THINK_END} is not one token"
        row = RowState(str(i), [0], trace_tokenizer, fmt, CueConfig())
        for step, token in enumerate(ids):
            row.append(token, step)
        row.finish("length")
        result = row.result()
        assert (result.thinking_text, result.answer_text) == (thinking, answer), f"trace {i}"
        assert result.thinking_tokens == ids.index(end_id)
        expected = scanned_cues(thinking)
        assert [(c.phrase, c.char_start) for c in result.cues] == expected, f"trace {i}"
        for cue in result.cues:  # each cue's tokens spell it
            spelled = trace_tokenizer.decode(ids[cue.token_start : cue.token_end + 1])
            assert cue.text in spelled, f"trace {i}: {cue.text!r} not in {spelled!r}"
        total += len(expected)
    assert total > 5 * len(real_traces)  # real reasoning is full of cues
