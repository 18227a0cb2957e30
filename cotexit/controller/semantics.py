"""What an exit means, the same on every engine: where thinking is cut and what follows.

Owns `ExitSemantics`, the two cuts cotexit implements (`SEMANTICS`), the
default (`EXIT_SEMANTICS`), `resolve_semantics` and `check_cut`. At a cue, thinking is cut

- `before-cue` (the default, as LYNX does): before the cue's first token, so
  the cue word is never kept;
- `keep-cue`: after the token that confirmed the cue (the cue's last token or
  the one after it), so everything generated when the exit is decided is
  kept. This is the cut an engine that cannot take tokens back must make:
  `vllm serve`, whose response has already streamed the cue when its states
  can be read.

A per-step policy (a token budget) cuts after the last token under both.
The thinking format's forced-exit text follows (`ThinkingFormat.forced_exit`,
which closes thinking and opens `\\boxed{`), and the answer is decoded
greedily until that brace closes, whatever the sampling of the thinking.

A probe's labels come from forced answers at its cut, so a probe artifact
records the semantics it was collected with (`card.json` `exit_semantics`);
the exit policies take it from there, and an engine that cannot make that
cut refuses the probe. The decode loop cuts in place; the `generate()` and
`vllm` engines cannot take tokens back, so they stop the row and decode the
answer from the same cut prefix afterwards: the same semantics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cotexit.controller.cues import CueEvent
    from cotexit.controller.rows import RowState

CUTS = ("before-cue", "keep-cue")


@dataclass(frozen=True)
class ExitSemantics:
    """Where thinking is cut on an exit and how the answer after the forced text is decoded.

    >>> EXIT_SEMANTICS.cut_at(None, generated=12)
    12
    """

    cut: str = "before-cue"  # at a cue: what of the cue is kept (CUTS)
    forced_text: str = "format-forced-exit"  # the thinking format's forced_exit string, fed as tokens
    answer: str = "greedy-until-brace-closes"

    def __post_init__(self) -> None:
        if self.cut not in CUTS:
            raise ValueError(f"exit semantics cut must be one of {', '.join(CUTS)}, got {self.cut!r}")

    def cut_at(self, cue: CueEvent | None, *, generated: int) -> int:
        """The first generated token dropped at `cue`, or (no cue) none of the `generated`."""
        if cue is None:
            return generated
        return cue.token_start if self.cut == "before-cue" else cue.step + 1  # step: the confirming token

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExitSemantics:
        semantics = SEMANTICS.get(data.get("cut"))
        if semantics is None or semantics.to_json() != data:
            raise ValueError(f"exit semantics {data!r} are not ones cotexit implements (cut: {', '.join(CUTS)})")
        return semantics


SEMANTICS = {cut: ExitSemantics(cut=cut) for cut in CUTS}
EXIT_SEMANTICS = SEMANTICS["before-cue"]  # what an exit means when no probe says otherwise


def resolve_semantics(recorded: Iterable[dict[str, Any] | None]) -> ExitSemantics:
    """The semantics policies that recorded theirs (probes) agree on.

    `None` entries (policies without labels: budgets, DEER) follow the others; none at all is the default.
    """
    found = {ExitSemantics.from_json(r) for r in recorded if r is not None}
    if len(found) > 1:
        raise ValueError(f"exit policies calibrated with different exit semantics: {sorted(s.cut for s in found)}")
    return found.pop() if found else EXIT_SEMANTICS


def check_cut(semantics: ExitSemantics, engine: str, supported: Iterable[str] = CUTS) -> None:
    """Refuse semantics whose cut `engine` cannot make (it makes the `supported` cuts)."""
    supported = tuple(supported)
    if semantics.cut not in supported:
        raise ValueError(
            f"the probe was calibrated with exit semantics cut={semantics.cut!r}, which the {engine} engine cannot "
            f"make (it cuts {' or '.join(supported)}); collect and calibrate a probe with --exit-semantics {supported[0]}"
        )


def answer_closed(answer: str) -> bool:
    """Whether an answer decoded after a forced text that opened a brace (`\\boxed{`) has closed that brace:
    the one stop rule of forced answers, on every engine (exits and forced-answer trials alike).

    >>> answer_closed("\\frac{1}{2}}."), answer_closed("\\frac{1}{2")
    (True, False)
    """
    depth = 1
    for ch in answer:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return True
    return False


def row_is_open(row: RowState) -> bool:
    """Whether the controller may still stop this row: thinking, not yet exited, not finished."""
    return row.phase == "thinking" and row.exit is None and not row.done
