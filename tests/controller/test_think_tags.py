"""A row finds where thinking starts and ends whether a tag came as its one special token or in pieces."""

from __future__ import annotations

import pytest

from cotexit.controller.cues import CueConfig
from cotexit.controller.rows import RowState
from cotexit.models.thinking import get_format

THINKING = "\nLet me compute 12 + 7 = 19. Wait, let me double-check: 12 + 7 = 19.\n"
ANSWER = "\n\nThe final answer is \\boxed{19}."


def ids(tokenizer, text: str, *, split_tags: bool) -> list[int]:
    """`text` encoded with tags as their special tokens, or (`split_tags`) written out piece by piece."""
    return list(tokenizer(text, add_special_tokens=False, split_special_tokens=split_tags)["input_ids"])


def run_row(tokenizer, pieces: list[list[int]], *, prompt_opens: bool) -> RowState:
    fmt = get_format("qwen3").with_overrides(prompt_opens_thinking=prompt_opens)
    row = RowState("r", [0], tokenizer, fmt, CueConfig())
    for step, token in enumerate(t for part in pieces for t in part):
        row.append(token, step)
    return row


@pytest.mark.parametrize("split_start", [False, True])
@pytest.mark.parametrize("split_end", [False, True])
def test_thinking_ends_at_the_tag_however_it_was_tokenised(tokenizer, split_start, split_end):
    start = ids(tokenizer, "<think>", split_tags=split_start)
    end = ids(tokenizer, "</think>", split_tags=split_end)
    assert (len(start) == 1) is not split_start and (len(end) == 1) is not split_end
    body = ids(tokenizer, THINKING, split_tags=False)
    row = run_row(tokenizer, [start, body, end, ids(tokenizer, ANSWER, split_tags=False)], prompt_opens=False)
    assert row.phase == "answer"
    assert row.text == "<think>" + THINKING + "</think>" + ANSWER
    assert row.text[row.think_end_char :].startswith("</think>")
    assert row.thinking_tokens == len(body)
    assert [c.phrase for c in row.cues] == ["Wait", "Let me double-check"]


def test_thinking_opened_by_the_prompt_ends_at_a_piecewise_tag(tokenizer):
    body = ids(tokenizer, THINKING, split_tags=False)
    end = ids(tokenizer, "</think>", split_tags=True)
    row = run_row(tokenizer, [body, end[:-1]], prompt_opens=True)
    assert row.phase == "thinking"  # "</think" is not the tag yet
    row.append(end[-1], len(body) + len(end))
    assert row.phase == "answer" and row.thinking_tokens == len(body)
