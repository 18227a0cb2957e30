"""A file of one's own prompts without answers (`--prompts FILE`): what it reads, how it names them, what it refuses."""

from __future__ import annotations

import json

import pytest

from cotexit.benchmarks.loading import data_file_sha256
from cotexit.benchmarks.prompt_files import load_prompts, prompts_provenance


def write(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_prompts_are_read_verbatim_with_their_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = "  Solve 2+3.\nPut the answer in \\boxed{}.  "
    write(tmp_path / "mine.jsonl", [{"prompt": message}, "", {"id": "q7", "prompt": "And 4*5?"}, {"id": 12, "prompt": "6-1?"}])
    prompts = load_prompts("mine.jsonl")
    assert [(p.id, p.prompt) for p in prompts] == [
        ("mine.jsonl/0", message),  # nothing stripped, nothing appended
        ("mine.jsonl/q7", "And 4*5?"),
        ("mine.jsonl/12", "6-1?"),
    ]
    assert [p.id for p in load_prompts("mine.jsonl", limit=1, offset=1)] == ["mine.jsonl/q7"]
    assert prompts_provenance("mine.jsonl") == {
        "file": str(tmp_path / "mine.jsonl"), "sha256": data_file_sha256(tmp_path / "mine.jsonl")
    }


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", r"mine.jsonl:2: malformed JSON line"),
        ('["a list"]', r"mine.jsonl:2: expected a JSON object"),
        ({"text": "no prompt field"}, r"mine.jsonl:2: field 'prompt' must be a non-empty string"),
        ({"prompt": "  "}, r"mine.jsonl:2: field 'prompt' must be a non-empty string"),
        ({"prompt": 5}, r"mine.jsonl:2: field 'prompt' must be a non-empty string"),
        ({"prompt": "x", "id": True}, r"mine.jsonl:2: field 'id' must be a non-empty string or an integer"),
        ({"prompt": "x", "answer": "5"}, r"mine.jsonl:2: has an 'answer' field.*--suite FILE.jsonl"),
        ({"prompt": "x", "id": "0"}, r"mine.jsonl:2: id '0' is already used on line 1"),
    ],
)
def test_a_bad_line_is_one_error_naming_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "mine.jsonl", [{"prompt": "first"}, line])
    with pytest.raises(ValueError, match=message):
        load_prompts(path)


def test_a_missing_empty_or_skipped_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="prompt file .*not found .*'prompt' string"):
        load_prompts(tmp_path / "nothing.jsonl")
    with pytest.raises(ValueError, match="holds no prompts"):
        load_prompts(write(tmp_path / "empty.jsonl", ["", "  "]))
    one = write(tmp_path / "one.jsonl", [{"prompt": "x"}])
    with pytest.raises(ValueError, match="offset 1 skips every one of the 1 prompts"):
        load_prompts(one, offset=1)
    with pytest.raises(ValueError, match="limit must be an integer >= 1"):
        load_prompts(one, limit=0)
