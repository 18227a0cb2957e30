"""`cotexit doctor --model M`: check a model's tokenizer, chat template and thinking format, without weights.

Renders `cotexit.controller.doctor.DoctorReport`: the chat prompt of a sample
problem, whether thinking is open after it, the think tags and the
forced-exit text with their tokens, how each cue tokenises, the layers a
probe reads by default, and every problem with its fix. Exit code 0 when
nothing is wrong, 1 when problems were found, 2 for bad input.

    cotexit doctor --model toy
    cotexit doctor --model ./r1-tokenizer --json      # a folder with tokenizer files and config.json
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from cotexit.cli.common import add_model_args, err
from cotexit.controller.doctor import DoctorReport, Tokens, diagnose

console = Console(highlight=False)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "doctor",
        help="check a model's tokenizer, chat template and thinking format (no weights needed)",
        description="Check that a model's tokenizer, chat template and thinking format fit cotexit: whether the "
        "chat prompt opens thinking, how the think tags, the forced-exit text and the cues tokenise, and which "
        "layers a probe reads. Needs only the tokenizer files and config.json. Exit code 0 when nothing is wrong, "
        "1 when problems were found (each with its fix).",
    )
    add_model_args(parser, weights=False)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    forced_exit = args.forced_exit.encode().decode("unicode_escape") if args.forced_exit else None
    with err.status(f"reading the tokenizer and config of {args.model} ..."):
        report = diagnose(
            args.model,
            thinking_format=args.thinking_format,
            forced_exit=forced_exit,
            progress=lambda msg: err.print(f"[dim]{escape(msg)}[/dim]"),
        )
    if args.json:
        console.print_json(json.dumps(report.to_json()))
    else:
        render(report)
    return 0 if report.ok else 1


def render(report: DoctorReport) -> None:
    fmt = report.fmt
    layers = f"{report.num_layers} layers" if report.num_layers else "layers unknown"
    where = "" if report.path == report.model else f" from {escape(report.path)}"
    console.print(f"[bold]{escape(report.model)}[/bold]{where} ({report.model_type or 'model type unknown'}, {layers})")
    console.print(f"thinking format: [bold]{fmt.name}[/bold]")
    template = report.template
    if template is not None:
        title = "chat prompt of a sample problem" if template.has_template else "prompt (no chat template)"
        console.print(Panel(escape(template.prompt), title=title, title_align="left"))
    console.print(f"thinking open after the prompt: {_thinking_line(report)}")
    if report.tags:
        tags = Table(title="think tags", title_justify="left")
        for column in ("role", "text", "ids", "one token", "kind"):
            tags.add_column(column)
        for tag in report.tags:
            kind = "special token" if tag.special else "added token, matched whole" if tag.added else "vocabulary"
            single = "[green]yes[/green]" if tag.tokens.single else f"[red]no ({len(tag.tokens.ids)})[/red]"
            kind = kind if tag.tokens.single else "-"
            tags.add_row(tag.role, escape(tag.tokens.text), _ids(tag.tokens), single, kind)
        console.print(tags)
    closes = "[green]closes thinking[/green]" if report.forced_exit_closes else "[red]does not close thinking[/red]"
    console.print(f"forced exit: {escape(repr(fmt.forced_exit))} ({closes})")
    console.print(f"  {len(report.forced_exit.ids)} tokens: {_pieces(report.forced_exit)}")
    console.print(f"  ids: {_ids(report.forced_exit)}")
    cues = Table(title="cues", title_justify="left")
    for column in ("cue", "at a sentence start", "after a space", "matchable"):
        cues.add_column(column)
    for cue in report.cues:
        cues.add_row(
            escape(cue.cue),
            _mark(cue.matches_at_start) + " " + _pieces(cue.at_start),
            _mark(cue.matches_after_space) + " " + _pieces(cue.after_space),
            "[green]yes[/green]" if cue.matchable else "[red]never[/red]",
        )
    console.print(cues)
    probe = ", ".join(map(str, report.probe_layers)) or "unknown (config has no num_hidden_layers)"
    console.print(f"probe layers by default: {probe}")
    if report.ok:
        console.print("[green]no problems found[/green]")
        return
    console.print(f"[red]{len(report.problems)} problem(s):[/red]")
    for finding in report.problems:
        console.print(f"[red]✗[/red] {escape(finding.problem)}")
        console.print(f"  fix: {escape(finding.fix)}")


def _thinking_line(report: DoctorReport) -> str:
    fmt, template = report.fmt, report.template
    if not fmt.has_tags:
        return "yes (no think tags: everything before the answer is thinking)"
    if template is None or not template.has_template:
        fallback = "yes" if fmt.prompt_opens_thinking else "no"
        return f"{fallback} (the {fmt.name} fallback: there is no usable chat template)"
    ending = escape(repr(template.prompt.rstrip().splitlines()[-1][-30:])) if template.prompt.strip() else "''"
    if fmt.prompt_opens_thinking:
        return f"[bold]yes[/bold]: the template ends the prompt with {escape(fmt.think_start)} (last line {ending})"
    return f"[bold]no[/bold]: the prompt ends with {ending}; the model writes {escape(fmt.think_start)} itself"


def _pieces(tokens: Tokens) -> str:
    return escape(" ".join(repr(p) for p in tokens.pieces))


def _ids(tokens: Tokens) -> str:
    return ", ".join(map(str, tokens.ids))


def _mark(ok: bool) -> str:
    return "[green]✓[/green]" if ok else "[red]✗[/red]"
