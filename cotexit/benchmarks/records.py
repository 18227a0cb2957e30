"""The one record shape every benchmark is loaded into.

Owns `Problem`. Knows nothing about files, prompts or grading: loaders map
each source's fields onto it, graders compare its `answer` with predictions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    >>> Problem(id="gsm8k/test/0", suite="gsm8k", problem="1+1?", answer="2").answer
    '2'
    """

    id: str
    suite: str
    problem: str
    answer: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
