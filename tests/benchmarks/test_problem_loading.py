from __future__ import annotations

import hashlib
import sys
import types

import pytest

from cotexit.benchmarks import loading
from cotexit.benchmarks.loading import data_file_sha256, load_problems, read_jsonl, source_path
from cotexit.benchmarks.records import Problem
from cotexit.benchmarks.suites import get_suite

REAL_COUNTS = {
    ("gsm8k", "train"): 7473,
    ("gsm8k", "test"): 1319,
    ("math", "train"): 7500,
    ("math", "test"): 5000,
    ("math500", "test"): 500,
    ("aime24", "test"): 30,
    ("aime25", "test"): 30,
    ("amc23", "test"): 40,
}


@pytest.mark.parametrize(("suite", "split"), sorted(REAL_COUNTS))
def test_real_row_counts_and_shape(real_data_dir, suite, split):
    problems = load_problems(suite, split, data_dir=real_data_dir)
    assert len(problems) == REAL_COUNTS[suite, split]
    assert len({p.id for p in problems}) == len(problems)
    for problem in problems:
        assert isinstance(problem, Problem) and problem.suite == suite
        assert problem.id.startswith(f"{suite}/{split}/")
        assert problem.problem.strip() and problem.answer.strip()


def test_real_records(real_data_dir):
    first = {name: load_problems(name, data_dir=real_data_dir, limit=1)[0] for name, _ in REAL_COUNTS}
    assert (first["gsm8k"].id, first["gsm8k"].answer) == ("gsm8k/test/0", "18")
    assert first["gsm8k"].problem.startswith("Janet")
    assert (first["aime24"].id, first["aime24"].answer) == ("aime24/test/60", "204")
    assert (first["aime25"].id, first["aime25"].answer) == ("aime25/test/0", "70")
    assert (first["amc23"].id, first["amc23"].answer) == ("amc23/test/0", "27.0")
    assert first["math500"].id == "math500/test/test/precalculus/807.json"
    assert first["math500"].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first["math"].metadata == {"level": "Level 3", "type": "Algebra"}
    assert first["math"].answer == "2"


def test_real_gold_fixes(real_data_dir):
    fixed = [p for p in load_problems("math", "train", data_dir=real_data_dir) if "gold_fix" in p.metadata]
    assert sorted(p.id for p in fixed) == [
        "math/train/train/number_theory/7115.json",
        "math/train/train/number_theory/7117.json",
    ]
    assert all(p.answer == "0" for p in fixed)


def test_real_hashes_match_sha256sums(real_data_dir):
    sums = real_data_dir / "SHA256SUMS"
    if not sums.is_file():
        pytest.skip("no SHA256SUMS beside the data")
    expected = {name: digest for digest, name in (line.split() for line in sums.read_text().splitlines() if line)}
    path = source_path("aime24", data_dir=real_data_dir)
    assert data_file_sha256(path) == expected["aime24/test.jsonl"]


def test_default_split_limit_and_ids(tiny_data_dir):
    problems = load_problems("gsm8k", data_dir=tiny_data_dir, limit=2)
    assert [p.id for p in problems] == ["gsm8k/test/0", "gsm8k/test/1"]
    assert [p.answer for p in problems] == ["7", "1000"]
    math500 = load_problems("math500", data_dir=tiny_data_dir)
    assert math500[1].id == "math500/test/test/algebra/2.json"
    assert math500[1].metadata == {"level": 2, "subject": "Algebra"}


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "3"])
def test_bad_limit(tiny_data_dir, limit):
    with pytest.raises(ValueError, match="limit must be an integer >= 1"):
        load_problems("gsm8k", data_dir=tiny_data_dir, limit=limit)


def test_unknown_suite_and_split(tiny_data_dir):
    with pytest.raises(ValueError, match="did you mean 'gsm8k'"):
        load_problems("gsm8", data_dir=tiny_data_dir)
    with pytest.raises(ValueError, match="allowed: test"):
        load_problems("math500", "train", data_dir=tiny_data_dir)


def test_malformed_line_names_file_and_line(tiny_data_dir, jsonl_writer):
    path = jsonl_writer(tiny_data_dir / "gsm8k" / "test.jsonl", [{"question": "q", "answer": "#### 1"}, "", "{oops"])
    with pytest.raises(ValueError, match=rf"{path}:3: malformed JSON"):
        load_problems("gsm8k", data_dir=tiny_data_dir)
    assert len(load_problems("gsm8k", data_dir=tiny_data_dir, limit=1)) == 1  # reading stops before the bad line


def test_non_object_and_missing_fields(tiny_data_dir, jsonl_writer):
    jsonl_writer(tiny_data_dir / "gsm8k" / "test.jsonl", ["[1, 2]"])
    with pytest.raises(ValueError, match=r"test.jsonl:1: expected a JSON object"):
        load_problems("gsm8k", data_dir=tiny_data_dir)
    jsonl_writer(tiny_data_dir / "gsm8k" / "test.jsonl", [{"answer": "#### 1"}])
    with pytest.raises(ValueError, match=r"test.jsonl:1: no problem text.*question"):
        load_problems("gsm8k", data_dir=tiny_data_dir)
    jsonl_writer(tiny_data_dir / "gsm8k" / "test.jsonl", [{"question": "q", "answer": "no marker"}])
    with pytest.raises(ValueError, match=r"test.jsonl:1: no '#### N'"):
        load_problems("gsm8k", data_dir=tiny_data_dir)


def test_missing_file_says_how_to_point_at_data(tiny_data_dir):
    with pytest.raises(FileNotFoundError, match=r"amc23/test.jsonl.*--data-dir DIR or set COTEXIT_DATA_DIR=DIR.*cotexit data fetch amc23 --data-dir"):
        load_problems("amc23", data_dir=tiny_data_dir)


def test_source_path_and_hash(tiny_data_dir):
    path = source_path("gsm8k", data_dir=tiny_data_dir)
    assert path == tiny_data_dir / "gsm8k" / "test.jsonl"
    assert data_file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source_path("arith", "test") is None


def test_read_jsonl_skips_blank_lines(tmp_path, jsonl_writer):
    path = jsonl_writer(tmp_path / "x.jsonl", [{"a": 1}, "   ", {"a": 2}])
    assert [(n, r["a"]) for n, r in read_jsonl(path)] == [(1, 1), (3, 2)]


def test_generated_suite_and_limit():
    spec = get_suite("arith")
    fake = [Problem(id=f"arith/test/{i}", suite="arith", problem=f"{i}?", answer=str(i)) for i in range(4)]
    generated = type(spec)(**{**spec.__dict__, "generate": lambda split, limit: fake})
    assert load_problems(generated, limit=2) == fake[:2]
    broken = type(spec)(**{**spec.__dict__, "generate": lambda split, limit: ["not a problem"]})
    with pytest.raises(TypeError, match="expected Problem"):
        load_problems(broken)


def test_hub_fallback_maps_fields_and_concatenates_configs(monkeypatch):
    calls = []
    tables = {
        "AIME2025-I": [{"question": "first?", "answer": 70}, {"question": "second?", "answer": 588}],
        "AIME2025-II": [{"question": "third?", "answer": 16}],
    }

    def load_dataset(path, config, split):
        calls.append((path, config, split))
        return tables[config]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr(loading, "find_data_dir", lambda explicit=None: None)
    monkeypatch.setattr(loading.hub, "offline_reason", lambda variables: None)  # the tests run with HF_*_OFFLINE set
    problems = load_problems("aime25")
    assert [(p.id, p.problem, p.answer) for p in problems] == [
        ("aime25/test/0", "first?", "70"),
        ("aime25/test/1", "second?", "588"),
        ("aime25/test/2", "third?", "16"),
    ]
    assert calls == [("opencompass/AIME2025", "AIME2025-I", "test"), ("opencompass/AIME2025", "AIME2025-II", "test")]
    calls.clear()
    assert len(load_problems("aime25", limit=1)) == 1 and len(calls) == 1
    assert source_path("aime25") is None
