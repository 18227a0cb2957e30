"""How much exact mode drafts, decided online from what drafting has cost and gained so far.

Owns `DraftPolicy`. Every draft is verified by the full stack, so nothing
here can change the output; it decides only how fast the output comes.

- Which arm runs the next draft-and-verify cycle: `plain` (no drafts: one
  pass of the whole stack), `context` (prompt-lookup drafts, verified in that
  same pass) or `layer` (drafts from the draft layer, verified by the blocks
  above it). An arm's rate is the loop steps it advanced per second, from
  the start of its cycle to the start of the next, as an exponential moving
  average. The best arm runs; each other arm runs again once every
  `explore` cycles, so a rate that changes with the text is noticed. `plain`
  is always an arm, so the engine is never meaningfully slower than plain
  decoding.
- How long a layer draft runs: the draft layer's top-1 probability is mapped
  to the probability that the full stack accepts the token (online counts per
  confidence bin, starting from the confidence itself), and drafting goes on
  while the probability that every draft of the cycle is accepted stays at
  least the measured cost of one draft step relative to a plain step: an
  accepted draft saves about one plain step, and every draft step costs its
  share whether or not it is accepted. Zero drafts is a possible outcome.

With `adaptive=False` the drafter's own arm always runs (`auto`: the context
when it proposes something, else the layer) and drafts are always the
longest allowed: the fixed schedule, to measure what adaptivity buys.

>>> policy = DraftPolicy("layer", draft_cost=0.3)
>>> policy.arms
('plain', 'layer')
>>> policy.keep_drafting(0.9 * 0.8), policy.keep_drafting(0.2)
(True, False)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

ARMS = {"layer": ("plain", "layer"), "context": ("plain", "context"), "auto": ("plain", "context", "layer")}
BINS = 10


class DraftPolicy:
    def __init__(
        self,
        drafter: str,
        *,
        draft_cost: float,
        explore: int = 16,
        warmup: int = 2,
        alpha: float = 0.2,
        clock: Callable[[], float] = time.perf_counter,
        adaptive: bool = True,
    ) -> None:
        if drafter not in ARMS:
            raise ValueError(f"drafter must be one of {', '.join(ARMS)}, got {drafter!r}")
        if not 0.0 < draft_cost:
            raise ValueError(f"draft_cost must be > 0, got {draft_cost}")
        self.arms = ARMS[drafter]
        self.adaptive = adaptive  # False: always the drafter's own arm, drafts always `max_draft` long
        self.explore, self.warmup, self.alpha, self.clock = explore, warmup, alpha, clock
        self.rate: dict[str, float | None] = {arm: None for arm in self.arms}  # loop steps per second (EMA)
        self.runs: dict[str, int] = {arm: 0 for arm in self.arms}
        self.cycles = 0
        self._open: tuple[str, float] | None = None  # (arm, start time) of the cycle being measured
        self._steps = 0  # loop steps since that cycle started
        # the cost of one draft step relative to one plain step: a prior (from FLOPs) until both are measured
        self.draft_cost = float(draft_cost)
        self._step_seconds: dict[str, float | None] = {"draft": None, "plain": None}
        # acceptance per confidence bin: (accepted, drafted), with the bin's own confidence as a prior of weight 2
        self._accepted = [0] * BINS
        self._drafted = [0] * BINS

    # --- which arm ------------------------------------------------------------
    def step(self) -> None:
        """One loop step went by (the engine was called for the next token)."""
        self._steps += 1

    def choose(self) -> str:
        """The arm for the cycle starting now; closes the measurement of the previous one."""
        now = self.clock()
        if self._open is not None:
            arm, began = self._open
            seconds = max(now - began, 1e-9)
            sample = self._steps / seconds
            old = self.rate[arm]
            self.rate[arm] = sample if old is None else (1 - self.alpha) * old + self.alpha * sample
        self.cycles += 1
        arm = self._pick()
        self._open, self._steps = (arm, now), 0
        return arm

    def ran(self, arm: str) -> None:
        """The cycle ran `arm` instead (a context cycle with nothing to propose is a plain one)."""
        if self._open is not None and arm in self.rate:
            self._open = (arm, self._open[1])
        self.runs[arm] = self.runs.get(arm, 0) + 1

    def fallback(self) -> str:
        """The arm for a cycle where the context proposes nothing: the best arm that does not need it."""
        arms = [a for a in self.arms if a != "context"]
        if not self.adaptive:
            return arms[-1]
        return max(arms, key=lambda a: self.rate[a] if self.rate[a] is not None else float("inf"))

    def _pick(self) -> str:
        if not self.adaptive:
            return self.arms[1]
        for arm in self.arms:  # every arm gets a few runs before rates are compared
            if self.runs[arm] < self.warmup:
                return arm
        best = max(self.arms, key=lambda a: self.rate[a] or 0.0)
        if self.explore and self.cycles % self.explore == 0:  # now and then, the arm least recently favoured
            others = [a for a in self.arms if a != best]
            return others[(self.cycles // self.explore) % len(others)]
        return best

    # --- how long a layer draft runs -----------------------------------------
    def acceptance(self, confidence: float) -> float:
        """Estimated probability that the full stack accepts a draft the draft layer gave `confidence`."""
        b = _bin(confidence)
        prior = (b + 0.5) / BINS
        return (self._accepted[b] + 2 * prior) / (self._drafted[b] + 2)

    def keep_drafting(self, all_accepted: float) -> bool:
        """Whether a draft whose whole cycle is accepted with probability `all_accepted` is worth its step."""
        return not self.adaptive or all_accepted >= self.draft_cost

    def observe(self, confidences: Sequence[float], accepted: int) -> None:
        """A cycle's drafts (their confidences, in order) and how many the full stack accepted in a row.

        Only drafts whose predecessors were all accepted tell the conditional acceptance: the accepted ones
        and the first rejected one.
        """
        for i, c in enumerate(confidences[: accepted + 1]):
            b = _bin(c)
            self._drafted[b] += 1
            self._accepted[b] += int(i < accepted)

    def time_step(self, kind: str, seconds: float) -> None:
        """A measured draft step (draft layer + its head) or plain step (whole stack), in seconds."""
        old = self._step_seconds[kind]
        self._step_seconds[kind] = seconds if old is None else (1 - self.alpha) * old + self.alpha * seconds
        draft, plain = self._step_seconds["draft"], self._step_seconds["plain"]
        if draft is not None and plain is not None:
            self.draft_cost = draft / plain

    def to_json(self) -> dict:
        return {
            "rates_steps_per_s": dict(self.rate),
            "cycles_per_arm": dict(self.runs),
            "draft_cost": self.draft_cost,
            "acceptance_by_confidence": [
                {"bin": [b / BINS, (b + 1) / BINS], "drafted": d, "accepted": a}
                for b, (a, d) in enumerate(zip(self._accepted, self._drafted))
                if d
            ],
        }


def _bin(confidence: float) -> int:
    return min(BINS - 1, max(0, int(confidence * BINS)))
