"""What an exit means, the same on every engine: where thinking is cut and what follows.

Owns `ExitSemantics`, the one instance cotexit's engines implement
(`EXIT_SEMANTICS`) and `check_semantics`. At a cue, thinking is cut before
the cue's first token (as LYNX does: the cue word is never kept); a per-step
policy (a token budget) cuts after the last token. The thinking format's
forced-exit text follows (`ThinkingFormat.forced_exit`, which closes
thinking and opens `\\boxed{`), and the answer is decoded greedily until that
brace closes, whatever the sampling of the thinking.

A probe's labels come from forced answers with these semantics, so a probe
artifact records them (`card.json` `exit_semantics`) and an engine that
would exit differently refuses it. The decode loop cuts in place; the
`generate()` engine cannot take tokens back, so it stops the row and
decodes the answer from the same cut prefix afterwards: the same semantics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cotexit.controller.cues import CueEvent
    from cotexit.controller.rows import RowState


@dataclass(frozen=True)
class ExitSemantics:
    """Where thinking is cut on an exit and how the answer after the forced text is decoded.

    >>> EXIT_SEMANTICS.cut_at(None, generated=12)
    12
    """

    cut: str = "before-cue"  # at a cue: drop the cue and everything after it
    forced_text: str = "format-forced-exit"  # the thinking format's forced_exit string, fed as tokens
    answer: str = "greedy-until-brace-closes"

    def cut_at(self, cue: CueEvent | None, *, generated: int) -> int:
        """The first generated token dropped: the cue's first token, or (no cue) none of the `generated`."""
        return cue.token_start if cue is not None else generated

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


EXIT_SEMANTICS = ExitSemantics()


def check_semantics(recorded: dict[str, Any] | None, engine: str, implemented: ExitSemantics = EXIT_SEMANTICS) -> None:
    """Raise `ValueError` when an artifact's recorded exit semantics differ from what `engine` implements."""
    if recorded is None:
        return
    want = implemented.to_json()
    differing = {k: (recorded.get(k), v) for k, v in want.items() if recorded.get(k) != v}
    if differing:
        detail = "; ".join(f"{k}: calibrated with {a!r}, engine does {b!r}" for k, (a, b) in differing.items())
        raise ValueError(f"the probe was calibrated with other exit semantics than the {engine} engine implements ({detail})")


def row_is_open(row: RowState) -> bool:
    """Whether the controller may still stop this row: thinking, not yet exited, not finished."""
    return row.phase == "thinking" and row.exit is None and not row.done
