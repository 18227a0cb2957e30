"""A suite from a file of one's own problems (`--suite FILE.jsonl`): what it reads, how it names its problems, what it
records, and how it refuses a file it cannot read."""

from __future__ import annotations

import pytest

from cotexit.benchmarks.loading import data_file_sha256, load_problems, source_path
from cotexit.benchmarks.prompts import build_prompt
from cotexit.benchmarks.suites import file_suite, get_suite, is_suite_file, names_a_file, register_suite


def test_a_jsonl_path_is_a_file_suite_read_from_its_own_file(tmp_path, jsonl_writer, monkeypatch):
    monkeypatch.chdir(tmp_path)
    jsonl_writer(
        tmp_path / "mine.jsonl",
        [
            {"problem": "What is 2 + 3?", "answer": 5},
            {"id": "q7", "question": "Ann has 3 pens and buys 4. How many?", "answer": "3 + 4 = 7\n#### 7"},
            {"problem": "Simplify 2/4.", "answer": "\\frac{1}{2}", "note": "kept out"},
        ],
    )
    spec = get_suite("mine.jsonl")
    assert spec.file == str(tmp_path / "mine.jsonl") and spec.splits == ("test",) and spec.name == "mine.jsonl"
    problems = load_problems("mine.jsonl", data_dir=tmp_path / "no-such-folder")  # a file suite ignores the data dir
    assert [(p.id, p.problem, p.answer) for p in problems] == [
        ("mine.jsonl/test/0", "What is 2 + 3?", "5"),
        ("mine.jsonl/test/q7", "Ann has 3 pens and buys 4. How many?", "7"),  # a GSM8K-style solution gives its final
        ("mine.jsonl/test/2", "Simplify 2/4.", "\\frac{1}{2}"),
    ]
    assert build_prompt(problems[0]).startswith("What is 2 + 3?\nPlease reason step by step")
    assert source_path("mine.jsonl") == tmp_path / "mine.jsonl"
    assert len(data_file_sha256(source_path("mine.jsonl"))) == 64
    assert len(load_problems("mine.jsonl", limit=1)) == 1
    with pytest.raises(ValueError, match="suite 'mine.jsonl' has no split 'train'; allowed: test"):
        load_problems("mine.jsonl", "train")


def test_any_existing_file_is_read_as_json_lines(tmp_path, jsonl_writer):
    path = jsonl_writer(tmp_path / "problems.txt", ["What is 2 + 2?"])
    assert is_suite_file(str(path)) and not is_suite_file("gsm8k") and not is_suite_file(str(tmp_path))
    with pytest.raises(ValueError, match=r"problems\.txt:1: malformed JSON line"):
        load_problems(str(path))


def test_registered_names_win_over_files_and_file_suites_are_not_registered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gsm8k").write_text("{}\n")
    assert get_suite("gsm8k").file is None
    (tmp_path / "mine.jsonl").write_text('{"problem": "1+1?", "answer": "2"}\n')
    with pytest.raises(ValueError, match="is not registered: pass its path to get_suite"):
        register_suite(file_suite("mine.jsonl"))


def test_names_a_file_takes_any_text():
    assert not names_a_file("x" * 5000)  # too long for a path: not an error
    assert not names_a_file("What is 2 + 2?\nAnd 3 + 3?")
    assert not names_a_file("a\0b")
