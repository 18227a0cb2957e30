"""Where exact mode's drafts come from, besides the early-exit layer: the context itself.

Owns `context_draft` (prompt lookup / n-gram drafting): the tokens that
followed the latest earlier occurrence of the context's last n tokens, for
the longest n <= `ngram` that occurs. Reasoning traces repeat themselves
(re-checks redo a computation, numbers are copied from the problem), so such
drafts cost no forward pass and are often right; the full stack verifies
every one, so the output is still exactly greedy decoding.

>>> context_draft([5, 6, 7, 8, 5, 6], ngram=2, k=3)
[7, 8, 5]
>>> context_draft([1, 2, 3], ngram=2, k=3)
[]
"""

from __future__ import annotations

from collections.abc import Sequence


def context_draft(tokens: Sequence[int], ngram: int, k: int) -> list[int]:
    """Up to `k` tokens that followed the latest earlier match of the last n tokens (n = ngram .. 1); [] if none."""
    if ngram < 1 or k < 1:
        raise ValueError(f"ngram and k must be >= 1, got {ngram} and {k}")
    tokens = list(tokens)
    size = len(tokens)
    for n in range(min(ngram, size - 1), 0, -1):
        tail = tokens[size - n :]
        for start in range(size - n - 1, -1, -1):  # latest first; the match must end before the tail does
            if tokens[start : start + n] == tail:
                return tokens[start + n : start + n + k]
    return []
