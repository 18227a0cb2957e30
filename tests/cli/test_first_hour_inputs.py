"""What a new user meets giving cotexit its inputs: benchmark data that is not there, a mistyped model name, a file
of their own problems.

No test here touches the network: the hub is either marked offline through the environment (as `tests/conftest.py`
does for the whole suite) or its reachability check is replaced. `datasets` and transformers' loaders are replaced
by stubs that fail the test when the hub must not be asked.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import types
from pathlib import Path

import pytest

from cotexit import hub
from cotexit.benchmarks import datadir
from cotexit.benchmarks.loading import load_problems
from cotexit.cli import common
from cotexit.cli.main import main
from cotexit.models.builtin import TOY_MODEL_DIR

needs_toy = pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped")

GSM8K_ROWS = [
    {"question": "Ann has 3 pens and buys 4. How many pens?", "answer": "3 + 4 = 7\n#### 7"},
    {"question": "Half of 9?", "answer": "9 / 2 = 4.5\n#### 4.5"},
]


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI; check exit 2 and a single `error:` line on stderr; return the line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the CLI loaded a model before rejecting its input")

    monkeypatch.setattr(common, "load_model", refuse)


@pytest.fixture
def no_datasets(monkeypatch: pytest.MonkeyPatch) -> list:
    """`datasets.load_dataset` replaced by a stub that records its calls and fails the test."""
    calls: list = []

    def load_dataset(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the hub was asked for a dataset")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    return calls


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cotexit as an installed package sees it: no ../shared/data beside the package or the working directory,
    no COTEXIT_DATA_DIR, an empty cache folder (so no user data folder)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    work = tmp_path / "home" / "project"
    work.mkdir(parents=True)
    monkeypatch.setattr(datadir, "repository_root", lambda: site)
    monkeypatch.chdir(work)
    monkeypatch.delenv(datadir.ENV_VAR, raising=False)
    monkeypatch.setenv("COTEXIT_CACHE", str(tmp_path / "cache"))
    return tmp_path


# --- benchmark data that is not there -----------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_missing_data_offline_is_one_fast_line_naming_every_place_and_the_ways_out(
    capsys, monkeypatch, installed, no_model, no_datasets, variable
):
    for name in hub.DATASET_VARIABLES:
        monkeypatch.setenv(name, "1" if name == variable else "0")
    start = time.perf_counter()
    line = one_error_line(capsys, ["bench", "--suite", "gsm8k", "--limit", "2", "--out", str(installed / "out")])
    assert time.perf_counter() - start < 2.0
    assert no_datasets == []  # offline: the hub is not tried at all
    assert line.startswith("error: no gsm8k test data: no data dir found (looked at --data-dir (not given), ")
    assert f"the hub copy openai/gsm8k was not tried: {variable} is set" in line
    for place in (installed / "shared" / "data", installed / "home" / "shared" / "data", installed / "cache" / "data"):
        assert str(place) in line
    assert "pass --data-dir DIR or set COTEXIT_DATA_DIR=DIR to a folder that holds gsm8k/test.jsonl" in line
    assert f"run `cotexit data fetch gsm8k` where the hub is reachable (it writes to {installed / 'cache' / 'data'}" in line
    assert not (installed / "out").exists()


def test_no_network_is_detected_before_the_hub_is_asked(capsys, monkeypatch, installed, no_model, no_datasets):
    for name in hub.DATASET_VARIABLES:
        monkeypatch.setenv(name, "0")
    monkeypatch.setattr(hub, "unreachable", lambda environ=None: "cannot reach https://huggingface.co (no route)")
    line = one_error_line(capsys, ["bench", "--suite", "math500", "--limit", "2"])
    assert no_datasets == []
    assert "the hub copy HuggingFaceH4/MATH-500 was not tried: cannot reach https://huggingface.co (no route)" in line
    assert "--data-dir" in line and "COTEXIT_DATA_DIR" in line


def test_a_hub_that_fails_is_one_line_not_a_traceback(capsys, monkeypatch, installed, no_model):
    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr(hub, "offline_reason", lambda variables: None)
    line = one_error_line(capsys, ["bench", "--suite", "gsm8k", "--limit", "2"])
    assert "the hub copy openai/gsm8k could not be loaded (Couldn't reach 'openai/gsm8k' on the Hub" in line
    assert "--data-dir DIR or set COTEXIT_DATA_DIR=DIR" in line


def test_reachability_check_fails_fast_on_a_closed_port_and_passes_any_http_answer():
    import http.server
    import socket
    import threading

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    start = time.perf_counter()
    reason = hub._probe(f"http://127.0.0.1:{closed}", 2.0)
    assert reason is not None and reason.startswith(f"cannot reach http://127.0.0.1:{closed} (")
    assert time.perf_counter() - start < 2.0

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 (the handler's protocol)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert hub._probe(f"http://127.0.0.1:{server.server_address[1]}", 2.0) is None  # an error status is an answer
    finally:
        server.shutdown()
        server.server_close()


def test_data_fetch_offline_refuses_at_once_and_writes_nothing(capsys, monkeypatch, installed, no_datasets):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = one_error_line(capsys, ["data", "fetch", "gsm8k"])
    assert "cannot fetch gsm8k train: the hub copy openai/gsm8k was not tried: HF_HUB_OFFLINE is set" in line
    assert no_datasets == [] and not (installed / "cache").exists()


def test_data_fetch_writes_where_cotexit_then_finds_the_suite(capsys, monkeypatch, installed):
    calls = []

    def load_dataset(path, config, split):
        calls.append((path, config, split))
        return GSM8K_ROWS

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr(hub, "offline_reason", lambda variables: None)
    assert main(["data", "fetch", "gsm8k", "--split", "test"]) == 0
    out = capsys.readouterr().out
    written = installed / "cache" / "data" / "gsm8k" / "test.jsonl"
    assert calls == [("openai/gsm8k", "main", "test")]
    assert [json.loads(line) for line in written.read_text().splitlines()] == GSM8K_ROWS
    assert f"test: 2 rows -> {written}" in out
    assert "note:" not in out  # the default folder is one cotexit searches
    problems = load_problems("gsm8k", limit=2)  # found without --data-dir
    assert [(p.id, p.answer) for p in problems] == [("gsm8k/test/0", "7"), ("gsm8k/test/1", "4.5")]


def test_data_fetch_elsewhere_says_how_to_use_the_files(capsys, monkeypatch, installed):
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda *a, **k: GSM8K_ROWS))
    monkeypatch.setattr(hub, "offline_reason", lambda variables: None)
    target = installed / "elsewhere"
    assert main(["data", "fetch", "gsm8k", "--split", "test", "--data-dir", str(target)]) == 0
    out = capsys.readouterr().out
    assert (target / "gsm8k" / "test.jsonl").is_file()
    assert f"pass --data-dir {target} or set COTEXIT_DATA_DIR={target}" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "fetch", "arith"], "suite 'arith' is generated: there is nothing to fetch"),
        (["data", "fetch", "aime24", "--split", "train"], "suite 'aime24' has no split 'train'"),
        (["data", "fetch", "gsm8kk"], "did you mean 'gsm8k'?"),
    ],
)
def test_data_fetch_bad_suite_or_split(capsys, installed, no_datasets, argv, message):
    assert message in one_error_line(capsys, argv)
    assert no_datasets == []


# --- model names ----------------------------------------------------------------------------------------------------


@pytest.fixture
def hub_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Online as far as the environment says, but neither the hub check nor transformers may be reached."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("the hub was asked about the model")

    for name in hub.MODEL_VARIABLES:
        monkeypatch.setenv(name, "0")
    monkeypatch.setattr(hub, "unreachable", refuse)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", refuse)


@pytest.mark.parametrize(("model", "hint"), [("toyy", "Did you mean 'toy'?"), ("smollm2", "Did you mean 'smollm2-135m'?")])
def test_a_mistyped_model_name_is_refused_at_once(capsys, hub_not_asked, model, hint):
    start = time.perf_counter()
    line = one_error_line(capsys, ["solve", "1 + 1?", "--model", model])
    assert time.perf_counter() - start < 2.0
    assert f"unknown model '{model}': not a registered name" in line
    assert "not a hub id (those look like owner/name)" in line and hint in line


def test_a_hub_id_offline_and_not_cached_is_refused_at_once(capsys, monkeypatch, hub_not_asked):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = one_error_line(capsys, ["solve", "1 + 1?", "--model", "no-such-org/no-such-model"])
    assert "unknown model 'no-such-org/no-such-model'" in line
    assert "not in the local hub cache (the hub is not asked: HF_HUB_OFFLINE is set)" in line


def test_a_hub_id_with_no_network_is_refused_at_once(capsys, monkeypatch, hub_not_asked):
    monkeypatch.setattr(hub, "unreachable", lambda environ=None: "cannot reach https://huggingface.co (no route)")
    line = one_error_line(capsys, ["solve", "1 + 1?", "--model", "no-such-org/no-such-model"])
    assert "not in the local hub cache (the hub is not asked: cannot reach https://huggingface.co (no route))" in line


# --- a file of one's own problems -----------------------------------------------------------------------------------


def write_problems(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@needs_toy
def test_bench_runs_a_file_of_problems_and_records_its_path_and_hash(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_problems(
        tmp_path / "mine.jsonl",
        [{"problem": "Compute 3 + 4.", "answer": "7"}, {"id": "b", "question": "Compute 2 * 5.", "answer": 10}],
    )
    out = tmp_path / "out"
    argv = ["bench", "--suite", "mine.jsonl", "--limit", "2", "--batch-size", "2", "--max-new-tokens", "16"]
    assert main([*argv, "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["id"], r["gold"]) for r in rows] == [("mine.jsonl/test/0", "7"), ("mine.jsonl/test/b", "10")]
    summary = json.loads((out / "summary.json").read_text())
    data = summary["provenance"]["data"]
    assert summary["suite"] == "mine.jsonl" and summary["n"] == 2
    assert data == {"file": str(tmp_path / "mine.jsonl"), "sha256": hashlib.sha256((tmp_path / "mine.jsonl").read_bytes()).hexdigest()}
    # an edited file is another run: its results are not mixed with the old file's
    write_problems(tmp_path / "mine.jsonl", [{"problem": "Compute 3 + 5.", "answer": "8"}])
    assert main([*argv, "--out", str(out)]) == 2
    assert "suite_sha256" in " ".join(capsys.readouterr().err.split())


@needs_toy
def test_collect_runs_a_file_of_problems_and_records_its_path_and_hash(tmp_path, capsys):
    path = write_problems(tmp_path / "mine.jsonl", [{"problem": "Compute 3 + 4.", "answer": "7"}])
    out = tmp_path / "collect"
    assert main(["collect", "--suite", str(path), "--max-new-tokens", "16", "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["suite"] == str(path) and meta["split"] == "test"
    assert meta["provenance"]["data"] == {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert [json.loads(line)["id"] for line in (out / "problems.jsonl").read_text().splitlines()] == [f"{path}/test/0"]


def test_analyze_takes_a_file_of_problems_and_analyses_generated_text(tmp_path):
    from cotexit.depth.analysis.run import AnalysisConfig

    path = write_problems(tmp_path / "mine.jsonl", [{"problem": "Compute 3 + 4.", "answer": "7"}])
    assert AnalysisConfig(suite=str(path)).text == "generated"  # a file has no gold solutions to teacher-force
    with pytest.raises(ValueError, match="has no gold solution text"):
        AnalysisConfig(suite=str(path), text="gold")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"problem": "1+1?", "answer": "2"}, "{not json"], "mine.jsonl:2: malformed JSON line"),
        ([{"problem": "1+1?", "answer": "2"}, {"text": "2+2?", "answer": "4"}], "mine.jsonl:2: no problem text"),
        ([{"problem": "1+1?"}], "mine.jsonl:1: field 'answer' must be a string or number, got None"),
        (["", "  "], "holds no problems"),
    ],
)
def test_a_bad_problem_file_is_one_line_naming_file_and_line(capsys, tmp_path, no_model, rows, message):
    path = write_problems(tmp_path / "mine.jsonl", rows)
    line = one_error_line(capsys, ["bench", "--suite", str(path), "--out", str(tmp_path / "out")])
    assert message in line and str(path) in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["bench", "collect", "analyze"])
def test_a_missing_problem_file_is_named(capsys, tmp_path, no_model, command):
    line = one_error_line(capsys, [command, "--suite", "problems.jsonl", "--out", str(tmp_path / "out")])
    assert "suite file 'problems.jsonl' not found (a JSON-lines file of problems" in line


def test_an_unknown_suite_name_mentions_files(capsys, no_model):
    line = one_error_line(capsys, ["bench", "--suite", "problems"])
    assert "unknown suite 'problems'" in line and "FILE.jsonl" in line


@pytest.mark.parametrize(("name", "suite"), [("prompts.txt", "FILE.jsonl"), ("mine.jsonl", None)])
def test_solve_refuses_a_file_path_and_says_what_to_do(capsys, tmp_path, no_model, name, suite):
    path = write_problems(tmp_path / name, ["What is 2 + 2?"])
    line = one_error_line(capsys, ["solve", str(path)])
    assert f"'{path}' is a file name, and `solve` answers one problem given as text" in line
    assert f"use `cotexit bench --suite {suite or path}`" in line and f'cotexit solve "$(cat {path})"' in line
