"""Choosing an engine: what `--backend vllm` says where vLLM is missing or asked for what it cannot do."""

from __future__ import annotations

import contextlib

import sys

import pytest

from cotexit.cli.main import main
from cotexit.engines.backends import check_backend
from cotexit.engines.vllm import VllmOptions, import_vllm


@pytest.fixture
def no_vllm(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError


def test_missing_vllm_is_one_line_saying_how_to_install(no_vllm):
    with pytest.raises(ValueError, match=r"not installed: pip install 'cotexit\[vllm\]'"):
        import_vllm()


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "not installed: pip install"),
        (["--layer-exit", "exact"], "layer exits run on the hf backend only"),
        (["--tensor-parallel-size", "0"], "--tensor-parallel-size must be >= 1"),
        (["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization must be in"),
        (["--max-model-len", "0"], "--max-model-len must be >= 1"),
    ],
)
def test_bench_and_solve_refuse_before_loading_anything(no_vllm, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main(["bench", "--suite", "arith", "--limit", "1", "--backend", "vllm", *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["solve", "1 + 1", "--backend", "vllm", *extra]) == 2


@pytest.mark.parametrize(
    "extra, message",
    [([], "not installed: pip install"), (["--backend", "generate"], "invalid choice: 'generate'"),
     (["--depth-artifact", "probes/toy-arith-depth"], "layer exits run on the hf backend only")],
)
def test_collect_on_vllm_refuses_before_loading_anything(no_vllm, tmp_path, capsys, extra, message):
    out = tmp_path / "cues"
    args = ["collect", "--suite", "arith", "--split", "calib", "--limit", "1", "--backend", "vllm", *extra, "--out", str(out)]
    with pytest.raises(SystemExit) if "invalid choice" in message else contextlib.nullcontext():
        assert main(args) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ValueError, match="hf, generate, vllm"):
        check_backend("sglang")
    VllmOptions()  # the defaults are valid
