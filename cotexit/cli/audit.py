"""`cotexit audit`: check a served probe's bound on traffic, against a running `vllm serve` with the cotexit plug-in."""

from __future__ import annotations

import argparse
import json
import textwrap
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cotexit.cli import interrupt
from cotexit.cli.interrupt import interrupt_note
from cotexit.experiments.audit import AuditConfig, AuditLog, load_items, run_audit, todo
from cotexit.experiments.audit_report import audit_plot, audit_summary, verdict
from cotexit.experiments.served import ChatClient, RequestPacer, ServerError

console = Console()

REJECTED, SERVER_ERROR = 3, 4

DESCRIPTION = textwrap.fill(
    "Send each sampled prompt to a running `vllm serve` with the cotexit plug-in twice, with the probe "
    "(vllm_xargs cotexit_probe=PROBE) and without it (cotexit_probe=none), with the same seed; compare the final "
    "answers, and feed an anytime-valid test of 'the loss rate is at most epsilon' (a beta-binomial mixture test "
    "martingale with Ville's inequality: its level holds however often it is looked at and wherever it is "
    "stopped). The loss is an answer change, or with --loss harm (a suite with gold answers) right without the "
    "probe and wrong with it. Writes OUT/audit.jsonl (one line per audited prompt), OUT/run.json (the settings), "
    "OUT/summary.json and OUT/audit.png (the running rate and its anytime bounds against epsilon, the e-value "
    "against 1/delta). Rerunning the same command resumes: the same prompts are sampled, audited ones are "
    "skipped and the test is replayed from OUT/audit.jsonl.",
    width=100,
    break_on_hyphens=False,
)

EXIT_CODES = f"""exit codes:
  0  the bound holds on everything audited so far
  2  bad input: options, prompt file, or an --out folder holding an audit with other settings
  {REJECTED}  the bound does not hold: the test rejected "loss rate <= epsilon" (for good; rerunning says so again)
  {SERVER_ERROR}  the server could not be reached or refused a request (after --retries tries where transient)
  130 interrupted (Ctrl-C): what was audited is kept, and the same command resumes"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "audit",
        help="check a served probe's bound on traffic: each sampled prompt with and without the probe",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000 (with or without /v1)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--prompts", metavar="FILE",
        help="the traffic to audit: a JSON-lines file, one object per line with a 'prompt' string (the user message, "
        "sent verbatim) and an optional 'id' (default: its position); no answers",
    )
    source.add_argument("--suite", help="audit on a suite's problems instead (arith, gsm8k, ... or FILE.jsonl with "
                        "'problem' and 'answer'): sent as `bench` poses them, with gold answers for --loss harm")
    parser.add_argument("--split", help="with --suite: the split (default: its test split)")
    parser.add_argument("--data-dir", help="with --suite: benchmark data folder")
    parser.add_argument("--probe", required=True,
                        help="the probe to audit: its folder name among the server's COTEXIT_PROBE folders")
    parser.add_argument("--epsilon", type=float, required=True,
                        help="the bound to check: the loss rate is at most epsilon (e.g. the probe's calibrated epsilon)")
    parser.add_argument("--delta", type=float, default=0.1,
                        help="the test's level: it rejects a bound that holds with probability at most delta (default: 0.1)")
    parser.add_argument("--loss", choices=("answer-change", "harm"),
                        help="what counts against the bound (default: harm with --suite, answer-change with --prompts)")
    parser.add_argument("--out", required=True, help="output folder; the same folder resumes the audit")
    sample = parser.add_argument_group("sampling and load on the server")
    sample.add_argument("--sample-fraction", type=float, default=1.0,
                        help="audit this fraction of the prompts, chosen by a seeded hash of each prompt's id (default: 1)")
    sample.add_argument("--max-rate", type=float, default=2.0,
                        help="at most this many requests per second, both runs of a pair counted (default: 2; 0: no limit)")
    sample.add_argument("--concurrency", type=int, default=1,
                        help="pairs in flight at once; both requests of a pair are sent together (default: 1)")
    sample.add_argument("--limit", type=int, help="read only the first N prompts (before sampling)")
    sample.add_argument("--follow", action="store_true",
                        help="keep going: when every sampled prompt is audited, read the prompt file again every "
                        "--poll seconds for new lines (a growing traffic log), until Ctrl-C or a rejection")
    sample.add_argument("--poll", type=float, default=30.0, help="with --follow: seconds between reads (default: 30)")
    sample.add_argument("--keep-going", action="store_true",
                        help="go on auditing after the test rejects (to estimate the rate; the verdict stays)")
    decoding = parser.add_argument_group("requests")
    decoding.add_argument("--model", help="the served model's name (default: the one the server lists)")
    decoding.add_argument("--seed", type=int, default=0,
                          help="seeds the sample and each pair's shared sampling seed (default: 0)")
    decoding.add_argument("--temperature", type=float, help="sampling temperature (default: the server's)")
    decoding.add_argument("--max-tokens", type=int, help="tokens per response (default: the server's)")
    decoding.add_argument("--retries", type=int, default=3,
                          help="tries again after a refused connection, a timeout, HTTP 429 or 5xx (default: 3)")
    decoding.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one response (default: 600)")
    parser.set_defaults(func=run)


def _checked(args: argparse.Namespace) -> None:
    if args.suite is None and (args.split is not None or args.data_dir is not None):
        raise ValueError("--split and --data-dir name a suite's data; a --prompts file is read as it is")
    if args.max_rate < 0:
        raise ValueError(f"--max-rate must be >= 0 (0: no limit), got {args.max_rate!r}")
    if args.poll <= 0:
        raise ValueError(f"--poll must be > 0 seconds, got {args.poll!r}")
    if args.follow and args.prompts is None:
        raise ValueError("--follow reads a growing --prompts file again; a suite does not grow")
    if args.loss == "harm" and args.prompts is not None:
        raise ValueError("--loss harm needs gold answers: give --suite, or audit answer changes (the default)")


def _items(args: argparse.Namespace):
    return load_items(prompts=args.prompts, suite=args.suite, split=args.split, limit=args.limit, data_dir=args.data_dir)


def _model(client: ChatClient, asked: str | None) -> str:
    served = client.models()
    if asked is not None:
        if asked not in served:
            raise ServerError(f"the server at {client.base} serves {served}, not --model {asked!r}")
        return asked
    if len(served) != 1:
        raise ServerError(f"the server at {client.base} serves {len(served)} models {served}: name one with --model")
    return served[0]


def run(args: argparse.Namespace) -> int:
    _checked(args)
    items = _items(args)  # a bad prompt file fails before the server is asked
    client = ChatClient(args.url, timeout_s=args.timeout, retries=args.retries,
                        pacer=RequestPacer(args.max_rate or None))
    if args.suite is not None:
        from cotexit.benchmarks.suites import get_suite

        source = {"suite": args.suite, "split": get_suite(args.suite).check_split(args.split)}
    else:
        source = {"prompts": args.prompts}  # as given, as `bench` records it
    settings = dict(probe=args.probe, epsilon=args.epsilon, delta=args.delta, source=source,
                    loss=args.loss or ("harm" if args.suite is not None else "answer-change"),
                    sample_fraction=args.sample_fraction, seed=args.seed, temperature=args.temperature,
                    max_tokens=args.max_tokens)
    AuditConfig(model="?", **settings)  # bad options fail before the server is asked
    try:
        config = AuditConfig(model=_model(client, args.model), **settings)
    except ServerError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return SERVER_ERROR
    log = AuditLog(args.out, config)
    pending, chosen = todo(items, config, log.done)
    console.print(f"auditing probe {config.probe!r} on {config.model} at {client.base}: {chosen} of {len(items)} "
                  f"prompts sampled, {chosen - len(pending)} already audited in {args.out}", highlight=False)
    stopped, code = "end of prompts", 0
    try:
        with interrupt_note(args.out, lambda: len(log.rows)):
            stopped = _audit(args, client, log, items)
    except ServerError as exc:
        stopped, code = f"server error: {exc}", SERVER_ERROR
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        stopped = "interrupted"
        raise
    finally:
        _write_report(args, client, log, stopped)
    line = verdict(log)
    console.print(f"[red]{escape(line)}[/red]" if log.monitor.rejected else escape(line), highlight=False, soft_wrap=True)
    console.print(f"audit: {Path(args.out) / 'audit.jsonl'}  summary: {Path(args.out) / 'summary.json'}  "
                  f"plot: {Path(args.out) / 'audit.png'}", highlight=False)
    if code:
        return code
    return REJECTED if log.monitor.rejected else 0


def _audit(args: argparse.Namespace, client: ChatClient, log: AuditLog, items) -> str:
    """Audit until the prompts run out (and, with --follow, forever); why it stopped."""
    columns = [TextColumn("[bold]audit"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[what]}s {task.fields[losses]}  e-value {task.fields[e]}"), TimeElapsedColumn()]
    what = "harm" if log.config.loss == "harm" else "change"
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("audit", total=None, what=what, losses=log.monitor.losses, e=f"{log.monitor.e_value:.3g}")
        while True:
            pending, _ = todo(items, log.config, log.done)
            progress.update(task, total=log.monitor.n + len(pending), completed=log.monitor.n)
            for event in run_audit(client, items, log, concurrency=args.concurrency, stop_on_reject=not args.keep_going):
                interrupt.check()
                m = log.monitor
                progress.update(task, completed=event.audited, losses=m.losses, e=f"{m.e_value:.3g}")
                if event.rejected_now and args.keep_going:
                    progress.console.print(f"[red]{escape(verdict(log))}[/red]", highlight=False, soft_wrap=True)
            if log.monitor.rejected and not args.keep_going:
                return "rejected"
            if not args.follow:
                return "end of prompts"
            items = _wait_for_new(args, log, progress, task)


def _wait_for_new(args: argparse.Namespace, log: AuditLog, progress: Progress, task) -> list:
    """With --follow: read the prompt file every --poll seconds until it holds a sampled prompt not audited yet."""
    while True:
        deadline = time.monotonic() + args.poll
        while time.monotonic() < deadline:
            interrupt.check()
            time.sleep(min(1.0, args.poll))
        try:
            items = _items(args)
        except ValueError as exc:  # a line being written as it is read; a bad line stays bad and is said each poll
            progress.console.print(f"[yellow]warning:[/yellow] {escape(str(exc))}", highlight=False, soft_wrap=True)
            continue
        if todo(items, log.config, log.done)[0]:
            return items


def _write_report(args: argparse.Namespace, client: ChatClient, log: AuditLog, stopped: str) -> None:
    if not log.rows and not Path(args.out).exists():
        return  # nothing was audited: leave no folder behind
    data = {}
    if args.prompts is not None:
        from cotexit.benchmarks.prompt_files import prompts_provenance

        data = prompts_provenance(args.prompts)
    summary = audit_summary(log, url=client.base, stopped=stopped, data=data)
    out = Path(args.out)
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(out / "summary.json")
    audit_plot(log, out / "audit.png")
    if note := summary.get("note"):
        console.print(f"[yellow]warning:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    if parted := summary["parted_before_exit"]["n"]:
        console.print(f"note: {parted} of {summary['audited']} pairs sampled different tokens before the probe's exit "
                      "(the server's numerics, or a server that ignores the seed); their answer changes count against "
                      "the probe", highlight=False, soft_wrap=True)
