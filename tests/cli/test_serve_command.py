"""`cotexit serve`: the server command it builds (printed with --dry-run) and what it refuses, without vLLM."""

from __future__ import annotations

import json
import shlex

import pytest

from cotexit.cli.main import main
from cotexit.cli.serve import serve_command
from cotexit.shipped import shipped_probe


def test_the_command_runs_the_plug_in_its_probe_the_capture_model_and_the_probes_dtype():
    argv, env = serve_command("toy", None, ["--port", "8000"])
    assert env == {"COTEXIT_PROBE": str(shipped_probe("toy-arith-keep-cue"))}
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert argv[argv.index("--logits-processors") + 1] == "cotexit.engines.vllm.serve:CotexitServeProcessor"
    assert json.loads(argv[argv.index("--hf-overrides") + 1]) == {"architectures": ["CotexitLlamaForCausalLM"]}
    layers = json.loads(argv[argv.index("--additional-config") + 1])["cotexit_capture_layers"]
    assert layers and layers == sorted(layers)
    assert argv[argv.index("--dtype") + 1] == "float32"  # the probe's features' dtype, not vLLM's CPU default
    assert argv[-2:] == ["--port", "8000"]  # vLLM's own options, last and as given
    given, _ = serve_command("toy", None, ["--dtype", "bfloat16"])
    assert given.count("--dtype") == 1 and given[-2:] == ["--dtype", "bfloat16"]


def test_dry_run_prints_the_command_after_the_separator(capsys):
    assert main(["serve", "--dry-run", "--", "--max-model-len", "768"]) == 0
    line = capsys.readouterr().out.strip()
    first, *words = shlex.split(line)
    assert first.startswith("COTEXIT_PROBE=") and words[-2:] == ["--max-model-len", "768"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "smollm2-135m"], "no serving probe ships for model 'smollm2-135m'"),
        (["--probe", "no/such/probe"], "--probe no/such/probe: no probe there"),
    ],
)
def test_what_it_refuses_is_one_line(capsys, argv, message):
    assert main(["serve", "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
