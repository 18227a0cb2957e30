"""`cotexit solve "PROBLEM"`: stream one problem's reasoning with its cue events marked."""

from __future__ import annotations

import argparse

from rich.console import Console

from cotexit.benchmarks.extraction import extract_answer
from cotexit.benchmarks.prompts import BOXED_INSTRUCTION
from cotexit.benchmarks.suites import names_a_file
from cotexit.cli.backend import add_backend_arg, check_backend_args, vllm_options
from cotexit.cli.common import add_decode_args, add_model_args, cue_config, decode_config, load_for_cli, taken_note
from cotexit.cli.guarantee_view import guarantee_grid, uncovered_warning
from cotexit.cli.exits import add_exit_args, build_treatment, exit_settings, fill_run_defaults, probe_cues
from cotexit.controller.cues import CueEvent
from cotexit.controller.rows import ExitInfo, RowResult
from cotexit.engines.backends import open_engine
from cotexit.engines.loop.decode import Decoder
from cotexit.models.loading import chat_prompt
from cotexit.probes.controller import ProbeExitPolicy

console = Console(highlight=False)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "solve",
        help="solve one problem, streaming the reasoning and marking cue events",
        description="Solve one problem. The reasoning streams as it is generated; each cue event "
        "(Wait, Hmm, ...) is marked with its number and token position. Prints the extracted answer "
        "and token counts at the end. With --backend generate or vllm the text is printed when the engine returns, "
        "with the cues found and the exit listed after it.",
    )
    parser.add_argument("problem", help="the problem text")
    parser.add_argument("--no-instruction", action="store_true", help=f"do not append {BOXED_INSTRUCTION!r}")
    add_model_args(parser)
    add_backend_arg(parser)
    add_decode_args(parser, max_new_tokens=1024, from_probe=True)
    add_exit_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.problem.strip():
        raise ValueError("the problem text is empty")
    if names_a_file(path := args.problem.strip()):
        suite = path if path.lower().endswith(".jsonl") else "FILE.jsonl"
        raise ValueError(
            f"{path!r} is a file name, and `solve` answers one problem given as text: to run a file of problems, "
            f"use `cotexit bench --suite {suite}` "
            "(one JSON object per line with 'problem' and 'answer' fields); "
            f"to solve the text in the file, pass the text: cotexit solve \"$(cat {path})\""
        )
    exit_settings(args)
    note = taken_note(args, fill_run_defaults(args))  # decoding left out: the probe's calibration settings
    decode, cues = decode_config(args), cue_config(args, probe_cues(args))  # bad options fail before the model loads
    check_backend_args(args)
    if note:
        console.print(note)
    lm = load_for_cli(args)
    treatment = build_treatment(args, lm)
    if warning := uncovered_warning(treatment and treatment.guarantee):
        console.print(warning)
    options: dict = {}
    if treatment is not None:
        options = {"policies": treatment.policies, "capture": treatment.capture}
        if treatment.engine is not None:
            engine = treatment.engine()
            options["step_forward"] = engine
    user = args.problem.strip() if args.no_instruction else f"{args.problem.strip()}\n{BOXED_INSTRUCTION}"
    prompt = chat_prompt(lm.tokenizer, user)
    if args.backend == "hf":
        result = _stream(Decoder(lm.model, lm.tokenizer, lm.fmt, decode, cues=cues, **options), prompt)
    else:
        with open_engine(args.backend, lm, decode, cues, engine_options=vllm_options(args), **options) as run_batch:
            result = run_batch([prompt], ["solve"])[0]
        console.print(result.text, markup=False)
        for number, cue in enumerate(result.cues, 1):
            console.print(_cue_mark(number, cue))
        if result.exit is not None:
            console.print(_exit_mark(result.exit))
    answer = extract_answer(result.answer_text) or extract_answer(result.text)
    console.rule()
    console.print(f"answer: [bold]{answer if answer is not None else '(none found)'}[/]")
    console.print(
        f"tokens: {result.total_tokens} generated, {result.thinking_tokens} thinking, "
        f"{result.cues_seen} cue(s); finished by {result.finish_reason}"
        + (f"; {_exit_words(result.exit)}" if result.exit else "")
    )
    if treatment is not None and any(isinstance(p, ProbeExitPolicy) for p in treatment.policies):
        console.print(f"probe scores at cues: {', '.join(f'{s:.2f}' for s in result.probe_scores) or '-'}")
    if treatment is not None and (grid := guarantee_grid({"guarantee": treatment.guarantee})) is not None:
        console.print(grid)
    if "step_forward" in options:
        stats = options["step_forward"].stats
        if stats.acceptance_rate is None:
            console.print(f"layers per token: {stats.mean_layers_per_token:.2f} of {stats.num_layers}")
        else:  # exact mode: drafts and their verification are counted too, so this can pass the stack's depth
            console.print(
                f"blocks run per token: {stats.mean_layers_per_token:.2f} (full stack: {stats.num_layers}; "
                f"drafts and verification included); draft acceptance {stats.acceptance_rate:.1%}"
            )
    return 0


def _stream(decoder: Decoder, prompt: str) -> RowResult:
    """Decode with the decode loop, printing the text as it grows with cue and exit marks."""
    session = decoder.session([prompt], keys=["solve"])
    row = session.rows[0]
    shown = 0
    keeps_cue = decoder.policies.semantics.cut == "keep-cue"  # the exit comes after the cue, not in its place
    for event in session.steps():
        for _, info in [] if keeps_cue else event.exits:
            console.print(_exit_mark(info, before_cue=True), end="")
            shown = min(shown, len(row.text))
        console.print(row.text[shown:], end="", markup=False)
        shown = len(row.text)
        for _, cue in event.cues:
            if cue in row.cues:
                console.print(_cue_mark(row.cues.index(cue) + 1, cue), end="")
        for _, info in event.exits if keeps_cue else []:
            console.print(_exit_mark(info), end="")
    console.print(row.text[shown:], markup=False)
    return session.results()[0]


def _cue_mark(number: int, cue: CueEvent) -> str:
    return f"[bold yellow]⟨cue {number}: {cue.phrase.strip() or '¶'} @{cue.token_start}⟩[/]"


def _exit_words(info: ExitInfo) -> str:
    at_cue = f" at cue {info.cue_index + 1}" if info.cue_index is not None else ""
    return f"exited by {info.policy}{at_cue}: thinking closed at token {info.cut}"


def _exit_mark(info: ExitInfo, before_cue: bool = False) -> str:
    dropped = " (before the cue: the cue's text above is discarded)" if before_cue and info.cue_index is not None else ""
    return f"[bold red]⟨{_exit_words(info)}{dropped}⟩[/]"
