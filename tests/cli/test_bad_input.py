"""Bad input to the CLI: one `error:` line on stderr, exit code 2, no traceback, and no model loaded.

Every case here fails before a model's weights are read: the tests replace
`load_model` with a stub that fails the test when called, except the cases
about the model argument itself, which fail inside `load_model` before
transformers loads anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cotexit.benchmarks.results import ProblemResult, ResultsFile
from cotexit.cli import common
from cotexit.cli.main import build_parser, main
from cotexit.experiments.runner import BenchConfig

GSM8K_ROWS = [
    {"question": "Ann has 3 pens and buys 4. How many pens?", "answer": "3 + 4 = 7\n#### 7"},
    {"question": "Half of 9?", "answer": "9 / 2 = 4.5\n#### 4.5"},
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder with a two-row gsm8k test file."""
    path = tmp_path / "data" / "gsm8k" / "test.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in GSM8K_ROWS), encoding="utf-8")
    return path.parent.parent


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the CLI gets as far as loading a model."""

    def refuse(*args, **kwargs):
        raise AssertionError("the CLI loaded a model before rejecting bad input")

    monkeypatch.setattr(common, "load_model", refuse)


def fails_cleanly(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI, check exit 2 and a single `error:` line on stderr, and return that line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def bench(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["bench", "--suite", "gsm8k", "--data-dir", str(data_dir), "--out", str(out), *extra]


def test_unknown_suite_suggests_close_name(capsys, no_model, tmp_path):
    line = fails_cleanly(capsys, ["bench", "--suite", "gsm8kk", "--limit", "1", "--out", str(tmp_path / "o")])
    assert "unknown suite 'gsm8kk'" in line and "did you mean 'gsm8k'?" in line


def test_missing_data_dir(capsys, no_model, tmp_path):
    line = fails_cleanly(capsys, bench(tmp_path / "nonexistent", tmp_path / "o", "--limit", "1"))
    assert "does not exist" in line and "nonexistent" in line


def test_data_dir_without_the_suite_file(capsys, no_model, tmp_path):
    (tmp_path / "empty").mkdir()
    line = fails_cleanly(capsys, bench(tmp_path / "empty", tmp_path / "o", "--limit", "1"))
    assert "gsm8k/test.jsonl" in line


def test_data_dir_that_is_a_file(capsys, no_model, tmp_path):
    (tmp_path / "file").write_text("x")
    line = fails_cleanly(capsys, bench(tmp_path / "file", tmp_path / "o", "--limit", "1"))
    assert "not a directory" in line


def test_malformed_data_line_names_file_and_line(capsys, no_model, data_dir, tmp_path):
    path = data_dir / "gsm8k" / "test.jsonl"
    path.write_text(path.read_text() + '{"question": oops\n', encoding="utf-8")
    line = fails_cleanly(capsys, bench(data_dir, tmp_path / "o"))
    assert f"{path}:3:" in line and "malformed JSON" in line


def test_data_row_without_problem_text(capsys, no_model, data_dir, tmp_path):
    (data_dir / "gsm8k" / "test.jsonl").write_text(json.dumps({"answer": "#### 1"}) + "\n")
    line = fails_cleanly(capsys, bench(data_dir, tmp_path / "o"))
    assert "test.jsonl:1:" in line and "no problem text" in line


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--limit", "0", "--limit must be >= 1"),
        ("--batch-size", "0", "--batch-size must be >= 1"),
        ("--max-new-tokens", "0", "max_new_tokens must be >= 1"),
        ("--max-answer-tokens", "0", "max_answer_tokens must be >= 1"),
        ("--temperature", "-1", "temperature must be >= 0"),
        ("--top-p", "0", "top_p must be in (0, 1]"),
        ("--cues", ",", "at least one phrase"),
    ],
)
def test_bad_bench_option_is_rejected_before_loading(capsys, no_model, data_dir, tmp_path, option, value, message):
    line = fails_cleanly(capsys, bench(data_dir, tmp_path / "o", option, value))
    assert message in line
    assert not (tmp_path / "o").exists()


def test_out_is_a_file(capsys, no_model, data_dir, tmp_path):
    out = tmp_path / "results.txt"
    out.write_text("not a folder")
    line = fails_cleanly(capsys, bench(data_dir, out, "--limit", "1"))
    assert "is a file, not a folder" in line


def _fake_result(problem_id: str) -> ProblemResult:
    return ProblemResult(
        id=problem_id, gold="7", prediction="7", correct=True, thinking_tokens=3, total_tokens=4,
        prompt_tokens=10, cue_count=0, cue_positions=[], cue_phrases=[], finish_reason="eos", exit=None,
        timings={"row_s": 0.1, "batch": problem_id, "batch_size": 1}, text="7",
    )  # fmt: skip


def _settings(argv: list[str]) -> dict:
    """The settings `cotexit bench ARGV` would record, built the way the CLI builds them."""
    args = build_parser().parse_args(argv)
    common.fill_decode_defaults(args, None)
    config = BenchConfig(
        suite=args.suite, model=args.model, split=args.split, limit=args.limit, batch_size=args.batch_size,
        data_dir=args.data_dir, decode=common.decode_config(args), cues=common.cue_config(args),
    )  # fmt: skip
    return config.settings()


def test_resume_with_other_settings_is_refused(capsys, no_model, data_dir, tmp_path):
    out = tmp_path / "o"
    results = ResultsFile(out, _settings(bench(data_dir, out, "--max-new-tokens", "8")))
    results.append(_fake_result("gsm8k/test/0"))
    line = fails_cleanly(capsys, bench(data_dir, out, "--max-new-tokens", "9"))
    assert "other settings" in line and "decode.max_new_tokens: 8 -> 9" in line
    assert len((out / "results.jsonl").read_text().splitlines()) == 1


def test_resume_with_same_settings_gets_to_the_model(capsys, no_model, data_dir, tmp_path):
    """The settings check passes (tuples in the cue config compare equal to the stored lists)."""
    out = tmp_path / "o"
    argv = bench(data_dir, out, "--max-new-tokens", "8")
    ResultsFile(out, _settings(argv)).append(_fake_result("gsm8k/test/0"))
    with pytest.raises(AssertionError, match="loaded a model"):
        main(argv)


def test_solve_empty_problem(capsys, no_model):
    assert "problem text is empty" in fails_cleanly(capsys, ["solve", ""])
    assert "problem text is empty" in fails_cleanly(capsys, ["solve", "   \n"])


def test_solve_bad_option_is_rejected_before_loading(capsys, no_model):
    assert "max_new_tokens must be >= 1" in fails_cleanly(capsys, ["solve", "1 + 1?", "--max-new-tokens", "0"])


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("smollm2-13m", "Did you mean 'smollm2-135m'?"),
        ("no-such-model", "unknown model 'no-such-model'"),
        ("no-such-org/no-such-model", "unknown model 'no-such-org/no-such-model'"),
        ("/nonexistent/model/folder", "not a local folder"),
    ],
)
def test_unknown_model(capsys, monkeypatch, model, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = fails_cleanly(capsys, ["solve", "1 + 1?", "--model", model])
    assert message in line and "smollm2-135m" in line


def test_model_folder_without_tokenizer(capsys, tmp_path):
    from transformers import LlamaConfig

    folder = tmp_path / "model"
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    config.save_pretrained(folder)
    line = fails_cleanly(capsys, ["solve", "1 + 1?", "--model", str(folder)])
    assert f"model folder {folder} has no tokenizer" in line


def test_model_folder_without_config(capsys, tmp_path):
    (tmp_path / "model").mkdir()
    assert "has no config.json" in fails_cleanly(capsys, ["solve", "1 + 1?", "--model", str(tmp_path / "model")])


def test_model_path_is_a_file(capsys, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0")
    assert "is a file" in fails_cleanly(capsys, ["solve", "1 + 1?", "--model", str(tmp_path / "weights.bin")])


@pytest.mark.parametrize(("device", "message"), [("foo", "is not a torch device"), ("cuda:99", "cuda:99")])
def test_bad_device(capsys, device, message):
    assert message in fails_cleanly(capsys, ["solve", "1 + 1?", "--model", "no-such-model", "--device", device])


def _hub_errors() -> list[Exception]:
    """One instance of each error transformers or huggingface_hub raises for a bad model id."""
    from huggingface_hub import errors

    def make(cls: type[Exception], message: str) -> Exception:
        try:
            return cls(message)
        except TypeError:  # HTTP errors want a response object; the message is all that matters here
            exc = cls.__new__(cls)
            Exception.__init__(exc, message)
            return exc

    return [
        OSError("no-such-model is not a local folder and is not a valid model identifier"),
        ValueError("Unrecognized model identifier"),
        make(errors.HFValidationError, "Repo id must be in the form 'repo_name' or 'namespace/repo_name'"),
        make(errors.RepositoryNotFoundError, "404 Client Error: Repository Not Found"),
        make(errors.LocalEntryNotFoundError, "Cannot find the requested files in the disk cache"),
        make(errors.EntryNotFoundError, "404 Client Error: Entry Not Found"),
    ]


@pytest.mark.parametrize("error", _hub_errors(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("offline", ["1", "0"])
def test_hub_errors_become_unknown_model(monkeypatch, error, offline):
    """Whatever the hub client raises for a bad id, `load_model` says 'unknown model' (no network used: offline,
    the id is looked up in the local cache only; online, the reachability check is stubbed)."""
    import transformers

    from cotexit import hub
    from cotexit.models.loading import load_model

    def raise_error(*args, **kwargs):
        raise error

    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(hub, "unreachable", lambda environ=None: None)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", raise_error)
    with pytest.raises(ValueError, match="unknown model 'no-such-org/no-such-model'") as info:
        load_model("no-such-org/no-such-model")
    assert ("HF_HUB_OFFLINE is set" in str(info.value)) == (offline == "1")


def test_console_script_exit_code_and_no_traceback(tmp_path):
    """The same through a real process: exit status 2 and one line on stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "cotexit.cli.main", "bench", "--suite", "gsm8kk", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "COLUMNS": "40"},
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # not wrapped at COLUMNS
    assert lines[0].startswith("error: unknown suite 'gsm8kk'; did you mean 'gsm8k'? Known suites: ")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "0.9,0.95"], "strict to lenient"),
        (["--grid", "0.99,x"], "could not convert"),
        (["--method", "full-states", "--grid", "0.99,0.9"], "--grid is for --method engine"),
        (["--epsilon-tok", "0"], "--epsilon must be in (0, 1)"),
        (["--skip", "-1"], "--skip must be >= 0"),
        (["--suite", "gsm8k", "--split", "test", "--skip", "100000"], "leaves no problems"),
    ],
)
def test_bad_calibrate_depth_option_is_rejected_before_loading(capsys, no_model, tmp_path, extra, message):
    argv = ["calibrate-depth", "--suite", "arith", "--split", "calib", "--epsilon-tok", "0.05", "--out", str(tmp_path / "d")]
    line = fails_cleanly(capsys, argv + extra)
    assert message in line


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--depth-threshold", "0.9"], "--depth-threshold needs --depth-artifact"),
        (["--offset", "-1"], "--offset must be an integer >= 0"),
    ],
)
def test_collect_rejects_bad_depth_and_offset_options(capsys, no_model, tmp_path, extra, message):
    line = fails_cleanly(capsys, ["collect", "--suite", "arith", "--split", "calib", "--out", str(tmp_path / "c"), *extra])
    assert message in line
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epsilon", "0.02"], "not a probe artifact"),
    ],
)
def test_calibrate_joint_rejects_a_missing_probe(capsys, no_model, tmp_path, extra, message):
    line = fails_cleanly(capsys, ["calibrate-joint", "--probe", str(tmp_path / "none"), "--data", str(tmp_path), "--out",
                                  str(tmp_path / "j"), *extra])
    assert message in line


def test_joint_artifact_with_a_depth_exit_needs_the_hf_backend(capsys, no_model, tmp_path):
    shipped = Path(__file__).resolve().parents[2] / "probes" / "toy-arith-joint-depth"
    line = fails_cleanly(capsys, ["bench", "--suite", "arith", "--probe", str(shipped), "--backend", "generate",
                                  "--out", str(tmp_path / "r")])
    assert "certified with a depth exit" in line


def test_sweep_refuses_a_joint_artifact(capsys, no_model, tmp_path):
    shipped = Path(__file__).resolve().parents[2] / "probes" / "toy-arith-joint"
    line = fails_cleanly(capsys, ["bench", "--suite", "arith", "--sweep", "--probe", str(shipped), "--out", str(tmp_path / "r")])
    assert "joint" in line and "--sweep" in line
