"""Resuming a bench run: torn lines, interruption, reruns and changed settings.

`run_bench` runs a tiny random Llama (from tests/conftest.py) over the first
problems of the real gsm8k file; the answers are nonsense, but what is
written, kept and skipped is what these tests check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotexit.benchmarks.loading import data_file_sha256
from cotexit.benchmarks.results import ProblemResult, ResultsFile
from cotexit.controller.cues import CueConfig
from cotexit.engines.decoding import DecodeConfig
from cotexit.experiments.runner import BenchConfig, prepare_bench, run_bench
from cotexit.models.loading import LoadedModel
from cotexit.models.thinking import get_format

SETTINGS = {"suite": "gsm8k", "model": "tiny", "decode": {"max_new_tokens": 8}, "cues": {"phrases": ("Wait",)}}
SUMMARY_KEYS = {
    "suite", "model", "n", "accuracy", "mean_thinking_tokens", "mean_total_tokens", "mean_cues", "wall_s",
    "tokens_per_s", "provenance",
}  # fmt: skip


def fake_result(problem_id: str) -> ProblemResult:
    return ProblemResult(
        id=problem_id, gold="7", prediction="7", correct=True, thinking_tokens=3, total_tokens=4,
        prompt_tokens=10, cue_count=0, cue_positions=[], cue_phrases=[], finish_reason="eos", exit=None,
        timings={"row_s": 0.1, "batch": problem_id, "batch_size": 1}, text="seven",
    )  # fmt: skip


@pytest.mark.parametrize("torn", [b'{"id": "p/2", "gold": "1', b'{"id": "p/2"}'], ids=["partial-json", "no-newline"])
def test_torn_last_line_is_dropped_and_truncated(tmp_path: Path, torn: bytes):
    results = ResultsFile(tmp_path, SETTINGS)
    results.append(fake_result("p/0"))
    results.append(fake_result("p/1"))
    whole = results.path.read_bytes()
    with results.path.open("ab") as f:
        f.write(torn)

    reopened = ResultsFile(tmp_path, SETTINGS)
    assert [r["id"] for r in reopened.rows] == ["p/0", "p/1"]
    assert reopened.path.read_bytes() == whole
    reopened.append(fake_result("p/2"))
    lines = reopened.path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["p/0", "p/1", "p/2"]


def test_same_settings_reopen_and_other_settings_refused(tmp_path: Path):
    ResultsFile(tmp_path, SETTINGS).append(fake_result("p/0"))
    assert ResultsFile(tmp_path, SETTINGS).done_ids == {"p/0"}  # tuples stored as lists still match
    other = {**SETTINGS, "decode": {"max_new_tokens": 9}}
    with pytest.raises(ValueError, match=r"decode\.max_new_tokens: 8 -> 9"):
        ResultsFile(tmp_path, other)


def test_other_settings_allowed_while_no_results(tmp_path: Path):
    (tmp_path / "run.json").write_text(json.dumps(SETTINGS))  # a run that stopped before its first result
    other = {**SETTINGS, "decode": {"max_new_tokens": 9}}
    ResultsFile(tmp_path, other).append(fake_result("p/0"))
    assert json.loads((tmp_path / "run.json").read_text())["decode"] == {"max_new_tokens": 9}


def test_opening_writes_nothing_until_the_first_result(tmp_path: Path):
    """A run that fails after opening its folder (a missing probe, a model that does not load) leaves nothing."""
    out = tmp_path / "new" / "out"
    results = ResultsFile(out, SETTINGS)
    assert not out.exists()
    results.append(fake_result("p/0"))
    assert json.loads((out / "run.json").read_text())["suite"] == SETTINGS["suite"]
    assert [r["id"] for r in ResultsFile(out, SETTINGS).rows] == ["p/0"]


def test_out_that_is_a_file_is_refused(tmp_path: Path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        ResultsFile(tmp_path / "out", SETTINGS)


@pytest.fixture
def lm(tokenizer, tiny_llama) -> LoadedModel:
    return LoadedModel(name="tiny", path="tiny", model=tiny_llama, tokenizer=tokenizer, fmt=get_format("plain"))


def bench_config(data_dir: Path, *, limit: int = 4, max_new_tokens: int = 8) -> BenchConfig:
    return BenchConfig(
        suite="gsm8k",
        model="tiny",
        limit=limit,
        batch_size=1,
        data_dir=str(data_dir),
        decode=DecodeConfig(max_new_tokens=max_new_tokens),
        cues=CueConfig(),
    )


def test_resume_loses_nothing_and_duplicates_nothing(lm, real_data_dir: Path, tmp_path: Path):
    out = tmp_path / "run"
    config = bench_config(real_data_dir)
    results_path = out / "results.jsonl"

    events = run_bench(lm, config, out)
    finished = 0
    for event in events:
        finished += event.result is not None
        if finished == 2:
            events.close()  # what Ctrl-C does to the CLI's loop
            break
    first_two = results_path.read_text().splitlines()
    assert len(first_two) == 2
    assert not (out / "summary.json").exists()

    events = list(run_bench(lm, config, out))
    assert (events[0].done, events[0].skipped, events[0].total) == (2, 2, 4)
    assert [e.result.id for e in events[1:]] == ["gsm8k/test/2", "gsm8k/test/3"]
    lines = results_path.read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert ids == [f"gsm8k/test/{i}" for i in range(4)]
    assert lines[:2] == first_two

    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert (summary["suite"], summary["model"], summary["n"]) == ("gsm8k", "tiny", 4)
    provenance = summary["provenance"]
    assert {"config", "git_commit", "packages", "data", "date"} <= set(provenance)
    assert provenance["config"]["decode"]["max_new_tokens"] == 8
    assert provenance["data"]["sha256"] == data_file_sha256(real_data_dir / "gsm8k" / "test.jsonl")

    before = results_path.read_bytes()
    third = list(run_bench(lm, config, out))
    assert len(third) == 1 and third[0].result is None and third[0].skipped == 4
    assert results_path.read_bytes() == before

    fewer = list(run_bench(lm, bench_config(real_data_dir, limit=2), out))  # a smaller --limit reuses results
    assert len(fewer) == 1 and json.loads((out / "summary.json").read_text())["n"] == 2

    with pytest.raises(ValueError, match=r"other settings \(decode\.max_new_tokens: 8 -> 9\)"):
        next(run_bench(lm, bench_config(real_data_dir, max_new_tokens=9), out))
    with pytest.raises(ValueError, match="other settings"):
        prepare_bench(bench_config(real_data_dir, max_new_tokens=9), out)
    assert results_path.read_bytes() == before
