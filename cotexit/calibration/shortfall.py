"""Too little calibration data: the error that says how much is missing and which levels the data could serve.

Owns `TooFewSamples`, raised by every calibration mode before it tests
anything when even a sample without a single loss could not certify a
threshold at the asked levels, and `looser_levels`, the sentence naming the
levels the data at hand could certify. The modes know only the calibration
data they were given; a caller that split a larger collection to get it
(`cotexit.probes.fit`) knows the rest of the story and rewords the error
with `TooFewSamples.reworded`.
"""

from __future__ import annotations

from cotexit.calibration.pvalues import min_level, min_target

__all__ = ["TooFewSamples", "looser_levels"]


class TooFewSamples(ValueError):
    """Calibration data too small for the asked levels: at least `need` `unit` are needed, `got` were given.

    `looser` names the levels `got` could pass the check at ("epsilon >= 0.0303 (at delta 0.1) or ..."; may be
    empty); `unit` is e.g. "calibration problems"; `detail` is the message without that sentence.
    """

    def __init__(self, message: str, *, need: int, got: int, unit: str, looser: str = "") -> None:
        self.need, self.got, self.unit, self.looser, self.detail = need, got, unit, looser, message
        super().__init__(f"{message}. With {got}, {looser} passes this check" if looser else message)

    def reworded(self, message: str) -> TooFewSamples:
        """The same shortfall told by a caller that knows more: `message` is the whole new text."""
        out = TooFewSamples(message, need=self.need, got=self.got, unit=self.unit)
        out.looser, out.detail = self.looser, self.detail
        return out


def looser_levels(
    n: int, target_name: str, target: float, delta: float, families: int = 1, delta_name: str = "delta"
) -> str:
    """The smallest target (at this delta) and delta (at this target) that `n` samples pass the check at, as a
    phrase ("" when neither is below 1). `families`: delta is shared by that many tests (delta / families each);
    the names are how the caller's user spells the levels ("epsilon", or "--epsilon" on a command line).
    """
    options = []
    smallest = min_target(n, delta / families)
    if smallest is not None:
        options.append(f"{target_name} >= {smallest:g} (at {delta_name} {delta:g})")
    level = min_level(n, target, families)
    if level is not None:
        options.append(f"{delta_name} >= {level:g} (at {target_name} {target:g})")
    return " or ".join(options)
