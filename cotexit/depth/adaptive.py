"""How much exact mode drafts, decided online from what drafting has cost and gained so far.

Owns `DraftPolicy`. Every draft is verified by the full stack, so nothing
here can change the output; it decides only how fast the output comes.

- Which arm runs the next draft-and-verify cycle: `plain` (no drafts: one
  pass of the whole stack), `context` (prompt-lookup drafts, verified in
  that same pass; a cycle where the context proposes nothing runs the best
  other arm) or `layer` (drafts from the draft layer, verified by the
  blocks above it). An arm's rate is the loop steps it advanced per second,
  from the start of its cycle to the start of the next (moving averages of
  steps and of seconds per cycle, divided): in a batch that is what counts,
  since a cycle runs as soon as any row has used up its verified tokens. A
  cycle counts for at most `OUTLIER` times its arm's mean cycle time: one
  hiccup of the machine would otherwise sink an arm's rate for long, and
  with it the explorations that could restore it. The fastest arm runs;
  another is tried again every `explore` cycles, an interval that doubles
  (up to 8 times) each time the tried arm is still slower, and restarts
  when the fastest arm changes. Exploring costs time whenever the other arm
  is slower, so it is also budgeted: an exploration that is due waits while
  the time lost to arms other than the fastest (each such cycle's seconds
  less what the fastest arm would have taken for its steps, warm-up
  included) exceeds `budget` of all the time measured. A model on which no
  draft pays (SmolLM2's draft layers: one layer cycle costs 1.5-2 plain
  ones) then spends about `budget` on finding that out again and again,
  not a fixed share of its cycles. With `plain` always an arm, the engine
  is never meaningfully slower than plain decoding.
- Warm-up: every arm runs `FIRST_RUNS` cycles before rates are compared,
  then up to `warmup` cycles while the budget above allows (an arm already
  measured much slower than the fastest waits for the explorations).
- Which draft layer: each candidate draft layer E is an arm of its own
  (`layer:E`, with its own acceptance counts and step cost), so the layer
  drafts come from is the one measured fastest on this model and text,
  rather than one picked by hand.
- How long a layer draft runs: the draft layer's top-1 probability is mapped
  to the probability that the full stack accepts the token (online counts per
  confidence bin, starting from the confidence itself), and drafting goes on
  while the probability that every draft of the cycle is accepted stays at
  least the measured cost of one draft step relative to a plain step: an
  accepted draft saves about one plain step, and every draft step costs its
  share whether or not it is accepted. Zero drafts is a possible outcome.
  A draft layer starts slowly: at most `FIRST_CAP` drafts per cycle, a cap
  that doubles after every cycle whose drafts were all accepted, so a layer
  whose confidence promises more than the full stack confirms (a model never
  trained for early exit) costs little while its acceptance is learnt.
- How many context drafts to propose: the same rule, with the acceptance of
  the i-th token of a context draft counted per position, and the cost of a
  token being what one more position adds to a pass of the whole stack
  relative to a one-token pass (a least-squares line through the mean pass
  time of each width; every `explore`-th context cycle proposes the longest
  draft there is room for, so wide passes stay measured). On a GPU that cost
  is near zero and drafts run long; on a CPU, where every position costs,
  they stay shorter.

With `adaptive=False` the drafter's own source always drafts (`auto`: the
context when it proposes something, else the layer) and drafts are always
the longest allowed: the fixed schedule, to measure what adaptivity buys.

>>> policy = DraftPolicy("auto", draft_cost=0.3)
>>> policy.arms
('plain', 'context', 'layer')
>>> policy.keep_drafting(0.9 * 0.8), policy.keep_drafting(0.2)
(True, False)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

DRAFTERS = ("layer", "context", "auto")
MAX_BACKOFF = 3  # exploration interval: `explore` * 2**k, k <= MAX_BACKOFF
BINS = 10
FIRST_RUNS = 2  # cycles every arm runs before rates are compared; the rest of its warm-up is budgeted
OUTLIER = 4.0  # a cycle counts for at most this many times its arm's mean cycle
FIRST_CAP = 2  # the most drafts of a draft layer's first cycles (the cap doubles after every cycle all accepted)


class DraftPolicy:
    def __init__(
        self,
        drafter: str,
        *,
        draft_cost: float | dict[int, float],
        explore: int = 16,
        warmup: int = 4,
        budget: float = 0.02,
        alpha: float = 0.1,
        clock: Callable[[], float] = time.perf_counter,
        adaptive: bool = True,
    ) -> None:
        if drafter not in DRAFTERS:
            raise ValueError(f"drafter must be one of {', '.join(DRAFTERS)}, got {drafter!r}")
        # per candidate draft layer E, the cost of one draft step relative to one plain step: a prior (from FLOPs)
        # until both are measured; a bare number is layer 0's (a caller with one draft layer it need not name)
        costs = dict(draft_cost) if isinstance(draft_cost, dict) else {0: float(draft_cost)}
        if not costs or any(not 0.0 < c for c in costs.values()):
            raise ValueError(f"draft_cost must be > 0 for every draft layer, got {draft_cost}")
        self.layers = tuple(sorted(costs))
        layer_arms = tuple(layer_arm(e) for e in self.layers) if drafter != "context" else ()
        self.arms = ("plain",) + (("context",) if drafter != "layer" else ()) + layer_arms
        self.uses_context = "context" in self.arms
        self.adaptive = adaptive  # False: always the drafter's own source, drafts always `max_draft` long
        if not 0.0 <= budget <= 1.0:
            raise ValueError(f"budget must be in [0, 1], got {budget}")
        self.explore, self.warmup, self.budget, self.alpha, self.clock = explore, warmup, budget, alpha, clock
        kinds = ("plain", "context") + tuple(layer_arm(e) for e in self.layers)
        self.rate: dict[str, float | None] = {arm: None for arm in kinds}  # loop steps per second
        self.runs: dict[str, int] = {arm: 0 for arm in kinds}
        self.cycles = 0
        self._open: tuple[str, float] | None = None  # (arm, start time) of the cycle being measured
        self._sums: dict[str, tuple[float, float, int]] = {}  # per arm: (steps, seconds) per cycle (EMAs), cycles
        self._best: str | None = None
        self._backoff = 0
        self._next_explore = explore
        self._explored: str | None = None  # the arm an exploration ran, judged when its rate comes in
        self._steps = 0  # loop steps since that cycle started
        self._seconds = 0.0  # all cycles measured
        self._lost = 0.0  # of which lost to arms slower than the fastest (exploration and warm-up)
        self.draft_cost = costs
        self._draft_seconds: dict[int, float | None] = {e: None for e in self.layers}
        # per draft layer, acceptance per confidence bin: (accepted, drafted), the bin's own confidence a prior of weight 2
        self._cap = {e: FIRST_CAP for e in self.layers}
        self._accepted = {e: [0] * BINS for e in self.layers}
        self._drafted = {e: [0] * BINS for e in self.layers}
        # context drafts: acceptance per position in the draft, and pass time against pass width
        self._ctx_accepted: list[int] = []
        self._ctx_drafted: list[int] = []
        self._width_seconds: dict[int, float] = {}  # whole-stack pass time per width (EMA); width 1 is a plain step
        self._context_cycles = 0
        self.token_cost = 0.1  # one more position in a pass, relative to a one-position pass: a prior until measured

    # --- which arm ------------------------------------------------------------
    def step(self) -> None:
        """One loop step went by (the engine was called for the next token)."""
        self._steps += 1

    def pause(self) -> None:
        """Drop the cycle being measured (a new prompt starts: the time since belongs to no arm)."""
        self._open, self._steps = None, 0

    def choose(self) -> str:
        """The arm for the cycle starting now; closes the measurement of the previous one."""
        now = self.clock()
        if self._open is not None:
            arm, began = self._open
            # steps and seconds averaged apart: the rate is their ratio, not a mean of per-cycle rates, which a
            # few one-step cycles of an arm that sometimes gains many steps would drag down
            # (a plain mean over an arm's first 1/alpha cycles, so one slow start is not remembered for long)
            steps, secs, n = self._sums.get(arm, (None, None, 0))
            weight = max(self.alpha, 1.0 / (n + 1))
            took = max(now - began, 1e-9)
            if n >= FIRST_RUNS:  # a hiccup (the OS, a collection) must not make an arm look slow for long
                took = min(took, OUTLIER * secs)
            steps = _ema(steps, float(self._steps), weight)
            secs = _ema(secs, took, weight)
            self._sums[arm] = (steps, secs, n + 1)
            self.rate[arm] = steps / secs
            self._charge(arm, self._steps, took)
        self.cycles += 1
        arm = self._pick()
        self._open, self._steps = (arm, now), 0
        return arm

    def _charge(self, arm: str, steps: int, seconds: float) -> None:
        """Count a closed cycle's time, and what it lost against the fastest arm measured."""
        self._seconds += seconds
        fastest = self._fastest()
        if self.rate[fastest] and fastest != arm:
            self._lost += max(0.0, seconds - steps / self.rate[fastest])

    def _fastest(self) -> str:
        """The arm with the highest rate measured (the first arm while none is measured)."""
        return max(self.arms, key=lambda a: self.rate[a] or 0.0)

    def ran(self, arm: str) -> None:
        """The arm the cycle ran: the chosen one, or `context` when the context proposed drafts."""
        if self._open is not None:
            self._open = (arm, self._open[1])
        self.runs[arm] += 1

    def fallback(self) -> str:
        """The arm for a cycle where the context proposes nothing: the fastest arm that does not need it."""
        arms = [a for a in self.arms if a != "context"]
        if not self.adaptive:
            return arms[1] if len(arms) > 1 else arms[0]  # the first draft layer, or plain
        return max(arms, key=lambda a: self.rate[a] if self.rate[a] is not None else float("inf"))

    def _pick(self) -> str:
        if not self.adaptive:
            return "context" if self.uses_context else self.arms[1]
        for arm in self.arms:  # every arm gets a few runs before rates are compared
            if self.runs[arm] < FIRST_RUNS:
                return arm
        within_budget = self._lost <= self.budget * self._seconds
        for arm in self.arms:  # the rest of the warm-up, as far as the budget allows
            if self.runs[arm] < self.warmup and within_budget:
                return arm
        best = self._fastest()
        if self._explored is not None:  # the last exploration's verdict
            self._backoff = min(self._backoff + 1, MAX_BACKOFF) if self._explored != best else 0
            self._explored = None
        if best != self._best:
            self._best, self._backoff = best, 0
            self._next_explore = self.cycles + self.explore
        if self.explore and self.cycles >= self._next_explore and within_budget:
            self._next_explore = self.cycles + self.explore * 2**self._backoff
            others = [a for a in self.arms if a != best]
            self._explored = others[(self.cycles // self.explore) % len(others)]
            return self._explored
        return best

    # --- how long a layer draft runs -----------------------------------------
    def acceptance(self, confidence: float, layer: int = 0) -> float:
        """Estimated probability that the full stack accepts a draft that draft layer `layer` gave `confidence`."""
        b = _bin(confidence)
        prior = (b + 0.5) / BINS
        return (self._accepted[layer][b] + 2 * prior) / (self._drafted[layer][b] + 2)

    def draft_cap(self, layer: int = 0) -> int | None:
        """The most drafts a cycle from `layer` may make now (None: no cap but the engine's)."""
        return self._cap[layer] if self.adaptive else None

    def keep_drafting(self, all_accepted: float, layer: int = 0) -> bool:
        """Whether a draft whose whole cycle is accepted with probability `all_accepted` is worth its step."""
        return not self.adaptive or all_accepted >= self.draft_cost[layer]

    def observe(self, confidences: Sequence[float], accepted: int, layer: int = 0) -> None:
        """A cycle's drafts from `layer` (their confidences, in order) and how many the full stack accepted in a row.

        Only drafts whose predecessors were all accepted tell the conditional acceptance: the accepted ones
        and the first rejected one.
        """
        if confidences and accepted == len(confidences):
            self._cap[layer] *= 2
        for i, c in enumerate(confidences[: accepted + 1]):
            b = _bin(c)
            self._drafted[layer][b] += 1
            self._accepted[layer][b] += int(i < accepted)

    def context_length(self, room: int) -> int:
        """How many context tokens to propose (at most `room`): while the chance all are accepted pays for them."""
        self._context_cycles += 1
        if not self.adaptive or (self.explore and self._context_cycles % self.explore == 0):
            return room  # (now and then the longest draft, so the cost of every width stays measured)
        reach, length = 1.0, 0
        while length < room:
            reach *= self._context_acceptance(length)
            if reach < self.token_cost:
                break
            length += 1
        return length

    def _context_acceptance(self, position: int) -> float:
        a = self._ctx_accepted[position] if position < len(self._ctx_accepted) else 0
        d = self._ctx_drafted[position] if position < len(self._ctx_drafted) else 0
        return (a + 2 * 0.6) / (d + 2)

    def observe_context(self, proposed: int, accepted: int) -> None:
        """A row's context draft of `proposed` tokens, of which the first `accepted` were accepted."""
        for i in range(min(proposed, accepted + 1)):
            while len(self._ctx_drafted) <= i:
                self._ctx_drafted.append(0)
                self._ctx_accepted.append(0)
            self._ctx_drafted[i] += 1
            self._ctx_accepted[i] += int(i < accepted)

    def time_pass(self, width: int, seconds: float) -> None:
        """A measured pass of the whole stack over `width` positions per row.

        The cost of a position is the slope of a least-squares line through the mean time of each width
        measured, every width weighing the same (one-position passes, by far the most frequent, would
        otherwise leave the slope to the noise of a few wider ones).
        """
        self._width_seconds[width] = _ema(self._width_seconds.get(width), float(seconds), self.alpha)
        if width == 1:
            self._update_draft_costs()
        if len(self._width_seconds) < 2:
            return
        ws, ts = list(self._width_seconds), list(self._width_seconds.values())
        mw, mt = sum(ws) / len(ws), sum(ts) / len(ts)
        slope = sum((w - mw) * (t - mt) for w, t in zip(ws, ts)) / sum((w - mw) ** 2 for w in ws)
        one = mt + slope * (1 - mw)  # the line at width 1
        if one > 0:
            self.token_cost = max(slope, 0.0) / one

    def time_draft(self, layer: int, seconds: float) -> None:
        """A measured draft step from `layer` (blocks 1..`layer` and its head), in seconds."""
        self._draft_seconds[layer] = _ema(self._draft_seconds[layer], seconds, self.alpha)
        self._update_draft_costs()

    def _update_draft_costs(self) -> None:
        """Draft steps relative to a plain step (a one-position pass of the whole stack), once both are timed."""
        plain = self._width_seconds.get(1)
        if plain is None:
            return
        for e, draft in self._draft_seconds.items():
            if draft is not None:
                self.draft_cost[e] = draft / plain

    def to_json(self) -> dict:
        return {
            "rates_steps_per_s": {a: r for a, r in self.rate.items() if r is not None},
            "cycles_per_arm": {a: n for a, n in self.runs.items() if n},
            "seconds_lost_to_slower_arms": self._lost,
            "seconds_measured": self._seconds,
            "draft_cost": {str(e): c for e, c in self.draft_cost.items()},
            "token_cost": self.token_cost,
            "context_acceptance_by_position": [
                {"position": i, "drafted": d, "accepted": a} for i, (a, d) in enumerate(zip(self._ctx_accepted, self._ctx_drafted))
            ],
            "acceptance_by_confidence": {
                str(e): [
                    {"bin": [b / BINS, (b + 1) / BINS], "drafted": d, "accepted": a}
                    for b, (a, d) in enumerate(zip(self._accepted[e], self._drafted[e]))
                    if d
                ]
                for e in self.layers
            },
        }


def layer_arm(layer: int) -> str:
    """The arm drafting from layer `layer` ("layer" when there is one draft layer, unnamed)."""
    return "layer" if layer == 0 else f"layer:{layer}"


def arm_layer(arm: str) -> int | None:
    """The draft layer of a `layer:E` arm; None for the other arms."""
    return int(arm.split(":")[1]) if arm.startswith("layer:") else None


def _ema(old: float | None, new: float, alpha: float) -> float:
    return new if old is None else (1 - alpha) * old + alpha * new


def _bin(confidence: float) -> int:
    return min(BINS - 1, max(0, int(confidence * BINS)))
