"""Checking that a model's tokenizer, chat template and thinking format fit the controller, without its weights.

Owns `DoctorReport` and the functions that build it: `diagnose(spec)` reads a
model's tokenizer and config (never its weights) and `diagnose_tokenizer`
checks an already loaded tokenizer. The report holds what the controller
will see: the rendered chat prompt of a sample problem and whether it leaves
thinking open, the think tags and how they tokenise, the forced-exit text and
its tokens, how each cue tokenises, the layers a probe reads by default, and
every problem found with its fix. Rendering the report is the CLI's job
(`cotexit doctor`); this module never prints.

>>> # report = diagnose("toy"); report.ok -> True; report.problems -> ()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cotexit.benchmarks.prompts import BOXED_INSTRUCTION
from cotexit.controller.capture import default_layers
from cotexit.controller.cues import DEFAULT_CUES, CueConfig, CueWatcher
from cotexit.models.loading import choose_format, loading_error, resolve_model
from cotexit.models.template import ChatTemplateInfo, inspect_chat_template
from cotexit.models.thinking import FORMATS, ThinkingFormat

__all__ = [
    "SAMPLE_USER_TEXT",
    "CueReport",
    "DoctorReport",
    "Finding",
    "TagReport",
    "Tokens",
    "diagnose",
    "diagnose_tokenizer",
    "encode",
]

SAMPLE_PROBLEM = "Tom has 5 apples and buys 3 more. How many apples does he have?"
SAMPLE_USER_TEXT = f"{SAMPLE_PROBLEM}\n{BOXED_INSTRUCTION}"
"""The user message the report renders: a short problem posed as the benchmarks pose it (`build_prompt`)."""

_FORMAT_FIX = (
    "pass --thinking-format with tags ("
    + ", ".join(sorted(name for name, f in FORMATS.items() if f.has_tags))
    + ") or set cotexit_thinking_format in the model's config.json"
)


@dataclass(frozen=True)
class Tokens:
    """How one text encodes (`tokenizer(text, add_special_tokens=False)`): ids, each token's text, the decode."""

    text: str
    ids: tuple[int, ...]
    pieces: tuple[str, ...]
    decoded: str

    @property
    def single(self) -> bool:
        return len(self.ids) == 1

    @property
    def round_trips(self) -> bool:
        return self.decoded == self.text


@dataclass(frozen=True)
class TagReport:
    """A think tag: `added` when the tokenizer matches it whole as an added token, `special` when flagged special."""

    role: str  # "think_start" or "think_end"
    tokens: Tokens
    added: bool
    special: bool


@dataclass(frozen=True)
class CueReport:
    """One cue phrase at a sentence start ("Wait") and after a space (" Wait")."""

    cue: str
    at_start: Tokens
    after_space: Tokens
    matches_at_start: bool  # the cue watcher finds it in the text the tokenizer gives back, after a newline
    matches_after_space: bool  # ... and after ". "

    @property
    def matchable(self) -> bool:
        return self.matches_at_start or self.matches_after_space


@dataclass(frozen=True)
class Finding:
    """One problem and what to do about it."""

    problem: str
    fix: str


@dataclass(frozen=True)
class DoctorReport:
    """Everything `cotexit doctor` shows; `ok` when no problem was found."""

    model: str
    path: str
    model_type: str | None
    num_layers: int | None
    fmt: ThinkingFormat
    template: ChatTemplateInfo | None  # None when the chat template fails to render
    tags: tuple[TagReport, ...]
    forced_exit: Tokens
    forced_exit_closes: bool
    cues: tuple[CueReport, ...]
    probe_layers: tuple[int, ...]
    problems: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def opens_thinking(self) -> bool:
        """Whether the model's first generated token is already thinking (tagless formats always think)."""
        return not self.fmt.has_tags or self.fmt.prompt_opens_thinking

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types; adds `ok`, `opens_thinking`, each cue's `matchable` and each text's `single`."""
        data = asdict(self)
        data["ok"] = self.ok
        data["opens_thinking"] = self.opens_thinking
        for tag, report in zip(data["tags"], self.tags, strict=True):
            tag["tokens"]["single"] = report.tokens.single
        for cue, report in zip(data["cues"], self.cues, strict=True):
            cue["matchable"] = report.matchable
        return data


def encode(tokenizer: Any, text: str) -> Tokens:
    """`text` as the decode loop encodes it, with each token's own text and the whole decode."""
    ids = tuple(int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"])
    kw = {"skip_special_tokens": False, "clean_up_tokenization_spaces": False}
    pieces = tuple(tokenizer.decode([i], **kw) for i in ids)
    return Tokens(text=text, ids=ids, pieces=pieces, decoded=tokenizer.decode(list(ids), **kw))


def diagnose(
    spec: str,
    *,
    thinking_format: str | None = None,
    forced_exit: str | None = None,
    cues: Sequence[str] = DEFAULT_CUES,
    progress: Callable[[str], None] | None = None,
) -> DoctorReport:
    """Check model `spec` (registered name, folder or hub id) from its tokenizer and config.json alone.

    Raises `ValueError` for a model that cannot be found or whose tokenizer or
    config cannot be read; everything else wrong ends up in `problems`.
    """
    from huggingface_hub.errors import EntryNotFoundError
    from transformers import AutoConfig, AutoTokenizer

    path, entry = resolve_model(spec, progress)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError, EntryNotFoundError) as exc:  # hub errors subclass OSError or ValueError
        raise loading_error(spec, path, entry, exc) from exc
    fmt = choose_format(path, config, entry, thinking_format, tokenizer=tokenizer)
    if forced_exit:
        fmt = fmt.with_overrides(forced_exit=forced_exit)
    text_config = config.get_text_config()
    layers = getattr(text_config, "num_hidden_layers", None)
    return diagnose_tokenizer(
        tokenizer,
        fmt,
        model=spec,
        path=path,
        model_type=getattr(config, "model_type", None),
        num_layers=int(layers) if layers else None,
        cues=cues,
    )


def diagnose_tokenizer(
    tokenizer: Any,
    fmt: ThinkingFormat,
    *,
    model: str = "",
    path: str = "",
    model_type: str | None = None,
    num_layers: int | None = None,
    cues: Sequence[str] = DEFAULT_CUES,
    user_text: str = SAMPLE_USER_TEXT,
) -> DoctorReport:
    """The report for a loaded tokenizer under `fmt`; `prompt_opens_thinking` is read from its template."""
    problems: list[Finding] = []
    template = _check_template(tokenizer, fmt, user_text, problems)
    if template is not None and template.has_template and fmt.has_tags:
        fmt = fmt.with_overrides(prompt_opens_thinking=template.opens_thinking)
    tags = _check_tags(tokenizer, fmt, problems)
    forced = encode(tokenizer, fmt.forced_exit)
    closes = _check_forced_exit(fmt, forced, tags, problems)
    cue_reports = tuple(_check_cue(tokenizer, cue, problems) for cue in cues)
    return DoctorReport(
        model=model,
        path=path,
        model_type=model_type,
        num_layers=num_layers,
        fmt=fmt,
        template=template,
        tags=tags,
        forced_exit=forced,
        forced_exit_closes=closes,
        cues=cue_reports,
        probe_layers=default_layers(num_layers) if num_layers else (),
        problems=tuple(problems),
    )


def _check_template(
    tokenizer: Any, fmt: ThinkingFormat, user_text: str, problems: list[Finding]
) -> ChatTemplateInfo | None:
    try:
        info = inspect_chat_template(tokenizer, fmt, user_text=user_text)
    except ValueError as exc:
        problems.append(Finding(str(exc), "fix the chat template in tokenizer_config.json or chat_template.jinja"))
        return None
    if not info.has_template:
        problems.append(
            Finding(
                "the tokenizer has no chat template: prompts fall back to 'Question: ...\\nAnswer:', "
                "which reasoning and instruct models were not trained on",
                "add the model's chat template (the `chat_template` key of tokenizer_config.json, "
                "or chat_template.jinja) from its release",
            )
        )
    if info.closes_thinking:
        problems.append(
            Finding(
                f"the chat prompt ends with {fmt.think_end!r}: the template switches thinking off",
                "use a template that leaves thinking to the model (Qwen3: enable_thinking=True, which cotexit passes)",
            )
        )
    opener = next((tag for tag in _known_tags(0) if info.prompt.rstrip().endswith(tag)), "")
    if not fmt.has_tags and opener:
        problems.append(
            Finding(
                f"the chat prompt opens {opener!r} but thinking format {fmt.name!r} has no think tags",
                _FORMAT_FIX,
            )
        )
    return info


def _check_tags(tokenizer: Any, fmt: ThinkingFormat, problems: list[Finding]) -> tuple[TagReport, ...]:
    added_vocab = tokenizer.get_added_vocab()
    if not fmt.has_tags:
        known = sorted(set(_known_tags(1)) & set(added_vocab))
        if known:
            problems.append(
                Finding(
                    f"the tokenizer has {', '.join(map(repr, known))} as a token but thinking format {fmt.name!r} "
                    "has no think tags, so thinking would run until the first \\boxed",
                    _FORMAT_FIX,
                )
            )
        return ()
    reports = []
    for role, text in (("think_start", fmt.think_start), ("think_end", fmt.think_end)):
        tokens = encode(tokenizer, text)
        added = tokens.single and text in added_vocab
        special = tokens.single and _is_special(tokenizer, tokens.ids[0])
        reports.append(TagReport(role=role, tokens=tokens, added=added, special=special))
        if not tokens.single:
            problems.append(
                Finding(
                    f"{role} {text!r} is split into {len(tokens.ids)} tokens {list(tokens.pieces)!r}: "
                    f"a model of format {fmt.name!r} writes it as one token, so this tokenizer is not that model's",
                    "check --thinking-format (a model without think tokens is 'plain') or use the model's tokenizer",
                )
            )
    return tuple(reports)


def _check_forced_exit(
    fmt: ThinkingFormat, forced: Tokens, tags: tuple[TagReport, ...], problems: list[Finding]
) -> bool:
    if not fmt.has_tags:
        return True
    closes = fmt.think_end in forced.decoded
    if not closes:
        problems.append(
            Finding(
                f"the forced-exit text {fmt.forced_exit!r} decodes to {forced.decoded!r}, "
                f"without {fmt.think_end!r}: a forced exit would not close thinking",
                f"pass --forced-exit with text that contains {fmt.think_end!r}, e.g. {_default_exit(fmt)!r}",
            )
        )
        return False
    end = next(t for t in tags if t.role == "think_end")
    if end.tokens.single and end.tokens.ids[0] not in forced.ids:
        problems.append(
            Finding(
                f"the forced-exit text encodes {fmt.think_end!r} in pieces, not as its token {end.tokens.ids[0]}: "
                "the model never saw thinking closed that way",
                f"write {fmt.think_end!r} on its own in --forced-exit, e.g. {_default_exit(fmt)!r}",
            )
        )
    return closes


def _check_cue(tokenizer: Any, cue: str, problems: list[Finding]) -> CueReport:
    at_start, after_space = encode(tokenizer, cue), encode(tokenizer, " " + cue)
    start_ok = _watcher_finds(cue, "5.\n" + at_start.decoded + ", so")
    space_ok = _watcher_finds(cue, "5." + after_space.decoded + ", so")
    if not (start_ok or space_ok):
        problems.append(
            Finding(
                f"cue {cue!r} can never match: the tokenizer gives {cue!r} back as {at_start.decoded!r} "
                f"and {after_space.text!r} as {after_space.decoded!r}",
                "drop it from --cues or write it as this tokenizer spells it",
            )
        )
    return CueReport(cue, at_start, after_space, matches_at_start=start_ok, matches_after_space=space_ok)


def _watcher_finds(cue: str, text: str) -> bool:
    """Whether the cue watcher reports `cue` in `text` (as generated text, all at once)."""
    found = CueWatcher(CueConfig(phrases=(cue,))).feed(text, 0, step=0)
    return any(event.phrase == cue for event in found)


def _default_exit(fmt: ThinkingFormat) -> str:
    """The registered forced-exit text when it closes `fmt`'s tags, else the same shape with `fmt.think_end`."""
    registered = FORMATS.get(fmt.name)
    if registered is not None and registered.think_end == fmt.think_end:
        return registered.forced_exit
    return f"\n{fmt.think_end}\n\nThe final answer is \\boxed{{"


def _is_special(tokenizer: Any, token_id: int) -> bool:
    added = tokenizer.added_tokens_decoder.get(token_id)
    return token_id in tokenizer.all_special_ids or bool(getattr(added, "special", False))


def _known_tags(which: int) -> list[str]:
    """The think start (0) or end (1) tags of the registered formats."""
    return sorted({(f.think_start, f.think_end)[which] for f in FORMATS.values() if f.has_tags})


