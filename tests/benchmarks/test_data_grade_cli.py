"""The `data` and `grade` subcommands, driven through their own parsers (the full CLI lives in cotexit.cli.main)."""

from __future__ import annotations

import argparse

import pytest

from cotexit.cli import data, grade


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Rich wraps table cells at the terminal width; keep lines whole for the assertions."""
    monkeypatch.setenv("COLUMNS", "300")


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cotexit")
    sub = parser.add_subparsers(dest="command", required=True)
    data.add_parser(sub)
    grade.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize(
    ("gold", "pred", "code", "verdict"),
    [
        ("\\frac{1}{2}", "0.5", 0, "equivalent"),
        ("025", "25", 0, "equivalent"),
        ("3", "4", 1, "not equivalent"),
        ("[1, 2]", "[1,2]", 0, "equivalent"),
    ],
)
def test_grade(capsys, gold, pred, code, verdict):
    assert run_cli("grade", gold, pred) == code
    assert capsys.readouterr().out.strip() == verdict


def test_grade_extract(capsys):
    assert run_cli("grade", "--extract", "18", "so she earns \\boxed{18} dollars") == 0
    out = capsys.readouterr().out
    assert "extracted answer: '18'" in out and "equivalent" in out
    assert run_cli("grade", "--extract", "18", "no digits") == 1
    assert "extracted answer: nothing" in capsys.readouterr().out


def test_data_check_tiny_dir_reports_wrong_counts(capsys, tiny_data_dir):
    assert run_cli("data", "check", "--data-dir", str(tiny_data_dir)) == 1
    out = capsys.readouterr().out
    assert "expected 1319 rows, found 3" in out and "problems found" in out


def test_data_check_malformed_file(capsys, tiny_data_dir, jsonl_writer):
    jsonl_writer(tiny_data_dir / "aime24" / "test.jsonl", ["{broken"])
    assert run_cli("data", "check", "--data-dir", str(tiny_data_dir), "--suite", "aime24") == 1
    assert "malformed JSON" in capsys.readouterr().out


def test_data_check_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_cli("data", "check", "--data-dir", str(tmp_path / "nope"))


def test_data_check_real(capsys, real_data_dir):
    assert run_cli("data", "check", "--data-dir", str(real_data_dir), "--json") == 0
    assert '"ok": true' in capsys.readouterr().out


def test_data_list(capsys, tiny_data_dir):
    assert run_cli("data", "list", "--data-dir", str(tiny_data_dir)) == 0
    out = capsys.readouterr().out
    for name in ("gsm8k", "math500", "aime24", "arith", "generated", "missing"):
        assert name in out
