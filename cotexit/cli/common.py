"""Arguments shared by several subcommands, and turning them into configs.

Owns the model, decoding and cue options, their defaults, and `load_for_cli`
(loading a model with progress messages on stderr, and with the progress
bars of transformers and huggingface_hub off, so that they do not draw over
cotexit's own).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from cotexit.controller.cues import DEFAULT_CUES, CueConfig
from cotexit.engines.decoding import DecodeConfig, SamplingConfig
from cotexit.models.loading import LoadedModel, load_model
from cotexit.models.thinking import FORMATS

DEFAULT_MODEL = "toy"

err = Console(stderr=True)


def add_model_args(parser: argparse.ArgumentParser, *, weights: bool = True) -> None:
    """--model, --thinking-format, --forced-exit; with `weights`, also --device and --dtype."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"registered name (see `cotexit models list`), local folder or hub id (default: {DEFAULT_MODEL})",
    )
    group.add_argument(
        "--thinking-format",
        choices=sorted(FORMATS),
        help="override the model's thinking format (think tags and forced-exit text)",
    )
    group.add_argument("--forced-exit", help="override the text that closes thinking and opens the answer")
    if not weights:
        return
    group.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    group.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="weights dtype")


def add_source_args(parser: argparse.ArgumentParser, *, suites: str) -> None:
    """--suite (`suites`, or a file of the user's own problems with answers) or --prompts (prompts, no answers)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--suite",
        help=f"{suites}, or FILE.jsonl: your own problems, one JSON object per line with 'problem' and 'answer' fields",
    )
    source.add_argument(
        "--prompts", metavar="FILE",
        help="your own prompts, no answers: a JSON-lines file, one object per line with a 'prompt' string (the "
        "user message, sent verbatim: ask for \\boxed{} in it if the model needs telling) and an optional 'id'; "
        "nothing is graded",
    )


def add_decode_args(
    parser: argparse.ArgumentParser, *, max_new_tokens: int, from_probe: bool = False, several_temperatures: bool = False
) -> None:
    """The decoding options. With `from_probe` (commands that run a probe) an option left out takes the value the
    probe was calibrated with (`fill_decode_defaults`), so that a run with `--exit` alone is one its guarantee
    covers; without a probe, or for an option the probe does not record, the usual default. With
    `several_temperatures` --temperature takes a comma-separated list (a tuple of floats)."""
    group = parser.add_argument_group("decoding")
    probe = " (with --probe/--exit: the probe's calibrated value)" if from_probe else ""
    defaults = {"max_new_tokens": max_new_tokens, **DECODE_DEFAULTS}
    parser.set_defaults(decode_fallback=defaults)

    def default(name: str) -> Any:
        return None if from_probe else defaults[name]

    group.add_argument("--max-new-tokens", type=int, default=default("max_new_tokens"),
                       help=f"budget per problem (default: {max_new_tokens}{probe})")
    group.add_argument("--max-answer-tokens", type=int, default=default("max_answer_tokens"),
                       help=f"tokens after a forced exit (default: 32{probe})")
    if several_temperatures:
        group.add_argument(
            "--temperature", type=temperature_list, default=(0.0,), metavar="T[,T...]",
            help="0 = greedy (default: 0); several, comma-separated (e.g. 0,0.6,1.0), collect every problem at each, "
            "one folder per setting under --out, for a probe certified over all of them",
        )
    else:
        group.add_argument("--temperature", type=float, default=default("temperature"), help=f"0 = greedy (default: 0{probe})")
    group.add_argument("--top-p", type=float, default=default("top_p"), help=f"nucleus sampling mass (default: 1.0{probe})")
    group.add_argument("--seed", type=int, default=0, help="sampling seed; each problem gets its own stream (default: 0)")
    group.add_argument(
        "--cues",
        help="comma-separated cue phrases (default: a probe's own, the ones it was calibrated on; without a probe "
        f"{', '.join(DEFAULT_CUES)}); other cues than the probe's are a run its guarantee does not cover",
    )
    group.add_argument("--paragraph-cues", action="store_true", help="also treat blank lines as cues")


def temperature_list(text: str) -> tuple[float, ...]:
    """'0,0.6,1' -> (0.0, 0.6, 1.0), for argparse."""
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0,0.6,1.0, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one temperature")
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"temperatures must be >= 0, got {text!r}")
    return values


DECODE_DEFAULTS = {"temperature": 0.0, "top_p": 1.0, "max_answer_tokens": 32}
_CALIBRATED = {  # option -> where a DecodeConfig's JSON keeps it
    "max_new_tokens": ("max_new_tokens",),
    "max_answer_tokens": ("max_answer_tokens",),
    "temperature": ("sampling", "temperature"),
    "top_p": ("sampling", "top_p"),
}


def fill_decode_defaults(args: argparse.Namespace, calibrated: dict[str, Any] | None, *, greedy_only: bool = False) -> list[str]:
    """Set the decoding options the user left out: from `calibrated` (the probe's calibration decoding, a
    `DecodeConfig.to_json()`) when given, else the defaults; returns the names taken from the probe.

    `greedy_only` (exact layer exit, which reproduces greedy decoding) keeps an unset temperature at 0.
    """
    taken = []
    for name in _CALIBRATED:
        if getattr(args, name) is not None:
            continue
        value = decode_option(calibrated, name)
        if name == "temperature" and greedy_only:
            value = None
        if value is None:
            value = args.decode_fallback[name]
        else:
            taken.append(name.replace("_", "-"))
        setattr(args, name, value)
    return taken


def decode_option(decode: dict[str, Any] | None, name: str) -> Any:
    """The value of decoding option `name` ('temperature', ...) in a `DecodeConfig.to_json()` (None: absent)."""
    value: Any = decode
    for key in _CALIBRATED[name]:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def taken_note(args: argparse.Namespace, names: list[str]) -> str | None:
    """The note a command prints when decoding options came from the probe (`names`, as `fill_decode_defaults`
    returns them): '... --temperature 0.6, --top-p 1 ...'; None when none did."""
    if not names:
        return None
    def shown(value: Any) -> str:
        return f"{value:g}" if isinstance(value, (int, float)) else str(value)

    options = ", ".join(f"--{name} {shown(getattr(args, name.replace('-', '_')))}" for name in names)
    return f"[dim]running as the probe was calibrated: {options} (give an option to override)[/dim]"


def decode_config(args: argparse.Namespace) -> DecodeConfig:
    if args.temperature is None:
        raise AssertionError("fill_decode_defaults(args, ...) must run before decode_config(args)")
    sampling = SamplingConfig(temperature=args.temperature, top_p=args.top_p, seed=args.seed)
    return DecodeConfig(args.max_new_tokens, args.max_answer_tokens, sampling)


def cue_config(args: argparse.Namespace, calibrated: CueConfig | None = None) -> CueConfig:
    """The cues to watch: `--cues`/`--paragraph-cues` when given, else the probe's own (`calibrated`), else the
    defaults."""
    if not args.cues and not args.paragraph_cues and calibrated is not None:
        return calibrated
    phrases = tuple(p.strip() for p in args.cues.split(",") if p.strip()) if args.cues else DEFAULT_CUES
    return CueConfig(phrases=phrases, paragraph_breaks=args.paragraph_cues)


def load_for_cli(args: argparse.Namespace) -> LoadedModel:
    with err.status(f"loading {args.model} ..."), library_progress_bars_off():
        lm = load_model(
            args.model,
            thinking_format=args.thinking_format,
            device=args.device,
            dtype=args.dtype,
            progress=lambda msg: err.print(f"[dim]{msg}[/dim]"),
            weights=getattr(args, "backend", "hf") != "vllm",  # vLLM loads the weights itself
        )
    if args.forced_exit:
        lm.fmt = lm.fmt.with_overrides(forced_exit=args.forced_exit.encode().decode("unicode_escape"))
    return lm


@contextmanager
def library_progress_bars_off() -> Iterator[None]:
    """Turn off the tqdm bars of transformers ("Loading weights") and huggingface_hub; restore both afterwards."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as transformers_logging

    transformers_on = transformers_logging.is_progress_bar_enabled()
    hub_on = not are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()  # turns the hub's off too
    try:
        yield
    finally:
        if transformers_on:
            transformers_logging.enable_progress_bar()  # turns the hub's on too
        if hub_on:
            enable_progress_bars()
        else:
            disable_progress_bars()
