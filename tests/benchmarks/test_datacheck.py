from __future__ import annotations

import dataclasses
import time

import pytest

from cotexit.benchmarks import datacheck
from cotexit.benchmarks.datacheck import check_data, reformat_gold
from cotexit.benchmarks.grading import is_equivalent
from cotexit.benchmarks.suites import get_suite

EXPECTED = {
    ("aime24", "test"): 30,
    ("aime25", "test"): 30,
    ("amc23", "test"): 40,
    ("gsm8k", "train"): 7473,
    ("gsm8k", "test"): 1319,
    ("math", "train"): 7500,
    ("math", "test"): 5000,
    ("math500", "test"): 500,
}


def _uncounted(*names):
    """The named suites without expected row counts, so that tiny files can pass."""
    return [dataclasses.replace(get_suite(n), expected_rows={}) for n in names]


@pytest.mark.parametrize(
    ("gold", "reformatted"),
    [
        ("025", "25"),
        ("18", "18.0"),
        ("0", "0.0"),
        ("-7", "-7.0"),
        ("27.0", "27"),
        ("0.15", "\\frac{3}{20}"),
        ("-1.25", "-\\frac{5}{4}"),
        ("1,000", "1000"),
        ("\\frac{1}{4}", "0.25"),
        ("x+1", "\\boxed{x + 1}"),
        ("\\frac{\\pi}{2}", "\\boxed{\\dfrac{\\pi}{2}}"),
    ],
)
def test_reformat_gold(gold, reformatted):
    assert reformat_gold(gold) == reformatted
    assert is_equivalent(gold, reformatted)


def test_real_data_all_counts_and_golds_pass(real_data_dir):
    start = time.perf_counter()
    report = check_data(real_data_dir)
    assert time.perf_counter() - start < 30
    assert {(f.suite, f.split): f.rows for f in report.files} == EXPECTED
    for file in report.files:
        assert file.error is None and file.count_ok, file
        assert file.self_passed == file.reformatted_passed == file.rows, file.failures
        assert file.sha256 and len(file.sha256) == 64
    assert report.ok and report.missing == ()
    notes = next(f for f in report.files if (f.suite, f.split) == ("math", "train")).notes
    assert len(notes) == 2 and all("empty \\boxed{}" in n for n in notes)


def test_tiny_dir_passes_and_lists_missing(tiny_data_dir):
    report = check_data(tiny_data_dir, suites=_uncounted("gsm8k", "math500", "aime24"))
    assert report.ok
    assert [(f.suite, f.split, f.rows) for f in report.files] == [
        ("gsm8k", "test", 3),
        ("math500", "test", 2),
        ("aime24", "test", 1),
    ]
    assert report.missing == ("gsm8k/train (gsm8k/train.jsonl)",)
    assert report.to_json()["ok"] is True


def test_wrong_row_count_fails(tiny_data_dir):
    report = check_data(tiny_data_dir, suites=["aime24"])
    (file,) = report.files
    assert not file.count_ok and not report.ok
    assert file.notes == ("expected 30 rows, found 1",)


def test_malformed_file_is_an_error(tiny_data_dir, jsonl_writer):
    jsonl_writer(tiny_data_dir / "gsm8k" / "test.jsonl", [{"question": "q", "answer": "#### 1"}, "not json"])
    report = check_data(tiny_data_dir, suites=_uncounted("gsm8k"))
    (file,) = report.files
    assert not report.ok and file.rows == 0
    assert "test.jsonl:2: malformed JSON" in file.error


def test_failures_are_unexplained_unless_known(tiny_data_dir, monkeypatch):
    monkeypatch.setattr(datacheck, "reformat_gold", lambda answer: "wrong")
    report = check_data(tiny_data_dir, suites=_uncounted("aime24"))
    (file,) = report.files
    assert not report.ok and file.failure_count == file.unexplained_count == 1
    assert file.failures[0].problem_id == "aime24/test/60" and file.failures[0].check == "reformatted"
    monkeypatch.setitem(datacheck.KNOWN_GOLD_QUIRKS, "aime24/test/60", "a documented quirk")
    report = check_data(tiny_data_dir, suites=_uncounted("aime24"))
    assert report.ok and report.files[0].failures[0].reason == "a documented quirk"


def test_duplicate_ids_are_an_error(tiny_data_dir, jsonl_writer):
    row = {"id": 1, "problem": "p", "question": "p", "solution": "s", "answer": "1", "url": "u"}
    jsonl_writer(tiny_data_dir / "aime24" / "test.jsonl", [row, row])
    report = check_data(tiny_data_dir, suites=_uncounted("aime24"))
    assert not report.ok and report.files[0].error == "1 duplicate problem id(s)"


def test_missing_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_data(tmp_path / "nope")
