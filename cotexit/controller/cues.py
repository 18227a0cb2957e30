"""Cue watching: find phrases such as "Wait" or "Hmm" in a row's generated text as it grows.

Owns `CueConfig`, `CueEvent` and `CueWatcher`. Matching runs on decoded text,
not token ids, so it does not care how a tokenizer splits "Wait" (" Wait",
"W"+"ait", "wait" at a sentence start). Each character is mapped back to the
token that produced it, so an event knows its first and last token. A cue is
reported once the character after it is known and is not a letter (so
"Waiting" is no cue); this costs at most one token of delay. The watcher
knows nothing about models or hidden states.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DEFAULT_CUES: tuple[str, ...] = (
    "Wait",
    "Hmm",
    "Alternatively",
    "But wait",
    "Let me double-check",
    "Let me verify",
    "Let me check",
)

PARAGRAPH = "\n\n"
_CUE_CONTINUES = frozenset(string.ascii_letters + "-")  # a cue followed by one of these is not over yet


@dataclass(frozen=True)
class CueConfig:
    """Which phrases count as cues.

    `sentence_start_only` keeps cues that open a sentence or clause (after the
    start of the text, a newline, or one of `.!?:;,)>`), so "you wait for"
    is no cue. `paragraph_breaks` also reports each blank line as a cue.

    >>> CueConfig(phrases=("Wait",)).phrases
    ('Wait',)
    """

    phrases: tuple[str, ...] = DEFAULT_CUES
    paragraph_breaks: bool = False
    sentence_start_only: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "phrases", tuple(self.phrases))
        if not self.phrases and not self.paragraph_breaks:
            raise ValueError("CueConfig needs at least one phrase or paragraph_breaks=True")
        for phrase in self.phrases:
            if not isinstance(phrase, str) or not phrase.strip():
                raise ValueError(f"cue phrases must be non-empty strings, got {phrase!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def pattern(self) -> re.Pattern[str]:
        # Longest first, so "But wait" wins over "Wait".
        alternatives = [_phrase_regex(p) for p in sorted(self.phrases, key=len, reverse=True)]
        parts = []
        if alternatives:
            lead = r"(?:^|(?<=[\n.!?:;,)>]))\s*" if self.sentence_start_only else ""
            parts.append(rf"(?<![A-Za-z]){lead}(?P<cue>{'|'.join(alternatives)})(?=[^A-Za-z-])")
        if self.paragraph_breaks:
            parts.append(r"(?P<para>\n[ \t]*\n)")
        return re.compile("|".join(parts), re.IGNORECASE)


@dataclass
class CueEvent:
    """One cue found in a row's generated text.

    `token_start` and `token_end` index the row's generated tokens (the first
    and last token the cue's characters came from); `step` is the decode step
    at which the cue was confirmed. `hidden` is filled by the decode loop
    when hidden-state capture is on: {layer: tensor (H,)} at `token_end`;
    `trial` when an exit policy asked for a forced-answer trial at the cue;
    `score` when a scoring policy (a probe) judged it.
    """

    phrase: str
    text: str
    char_start: int
    token_start: int
    token_end: int
    step: int
    hidden: dict[int, Any] | None = field(default=None, repr=False)
    trial: Any = field(default=None, repr=False)  # a ForcedAnswer, when a policy asked for a trial here
    score: float | None = None  # a probe's score here, written by the policy that judged the cue

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("hidden", "trial", "score")}


class CueWatcher:
    """Incremental cue matcher for one row.

    Feed it text deltas with the index of the token that produced them;
    `feed` returns the cues confirmed by that delta.

    >>> w = CueWatcher(CueConfig())
    >>> w.feed("So x = 3.", 0, step=0) + w.feed(" Wait", 1, step=1)
    []
    >>> [c.phrase for c in w.feed(",", 2, step=2)]
    ['Wait']
    """

    _WINDOW = 96  # characters re-scanned before the newest delta: longer than any cue

    def __init__(self, config: CueConfig, *, enabled: bool = True) -> None:
        self.config = config
        self.enabled = enabled
        self._pattern = config.pattern()
        self._canonical = [(re.compile(_phrase_regex(p), re.IGNORECASE), p) for p in config.phrases]
        self._enders = frozenset(c for p in config.phrases for c in (p[-1].lower(), p[-1].upper()))
        self.text = ""
        self.char_token: list[int] = []  # token index of every character of `text`
        self._settled = 0  # no cue may start before this character
        self.events: list[CueEvent] = []

    def feed(self, delta: str, token_index: int, *, step: int) -> list[CueEvent]:
        before = len(self.text)
        self.text += delta
        self.char_token.extend([token_index] * len(delta))
        if not self.enabled or not delta or not self._may_end_a_cue(before):
            return []
        return self._scan(before, step)

    def enable(self) -> None:
        """Start reporting cues from here on (for example once thinking has begun)."""
        self.enabled = True
        self._settled = len(self.text)

    def truncate(self, tokens: int) -> int:
        """Forget text from the first character of token `tokens` on, and the cues in it; returns that character."""
        cut = next((i for i, t in enumerate(self.char_token) if t >= tokens), len(self.char_token))
        self.text = self.text[:cut]
        del self.char_token[cut:]
        self.events[:] = [c for c in self.events if c.token_end < tokens]
        self._settled = min(self._settled, cut)
        return cut

    def _may_end_a_cue(self, before: int) -> bool:
        """Cheap necessary condition for `_scan` to find a cue in text that grew from `before` characters.

        A cue is confirmed by the character after it, which is neither an ASCII letter nor "-", so that
        character is new: somewhere in the new text such a character follows a character a phrase can end
        with (any non-ASCII one, to stay exact under case folding) or, for paragraph breaks, is a newline.
        Most tokens fail this, and the regex scan, the costly part of watching, is skipped.
        """
        text, enders = self.text, self._enders
        for at in range(max(before, 1), len(text)):
            ch = text[at]
            if ch in _CUE_CONTINUES:
                continue
            if text[at - 1] in enders or not text[at - 1].isascii() or (ch == "\n" and self.config.paragraph_breaks):
                return True
        return False

    def _scan(self, before: int, step: int) -> list[CueEvent]:
        """Find cues in the new text and the window of older text a cue could still end in."""
        origin = max(self._settled, before - self._WINDOW)
        found = []
        for match in self._pattern.finditer(self.text, origin):
            group = "cue" if match.groupdict().get("cue") is not None else "para"
            start, end = match.span(group)
            if start < self._settled:
                continue
            matched = match.group(group)
            phrase = PARAGRAPH if group == "para" else self._canonical_phrase(matched)
            event = CueEvent(
                phrase=phrase,
                text=matched,
                char_start=start,
                token_start=self.char_token[start],
                token_end=self.char_token[end - 1],
                step=step,
            )
            found.append(event)
            self._settled = end
        self.events.extend(found)
        return found

    def _canonical_phrase(self, matched: str) -> str:
        return next((phrase for regex, phrase in self._canonical if regex.fullmatch(matched)), matched)


def _phrase_regex(phrase: str) -> str:
    """Words separated by any whitespace; the last letter may repeat ("Hmmm")."""
    words = [re.escape(w) for w in phrase.split()]
    if phrase[-1].isalpha():
        words[-1] += re.escape(phrase[-1]) + "*"
    return r"\s+".join(words)
