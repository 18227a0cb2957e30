"""`cotexit grade` through the full CLI entry point: answers that start with '-' are answers, not options."""

from __future__ import annotations

import pytest

from cotexit.cli.grade import protect_answers
from cotexit.cli.main import main


@pytest.mark.parametrize(
    ("argv", "code", "verdict"),
    [
        (["-\\infty", "\\infty"], 1, "not equivalent"),
        (["-\\infty", "-\\infty"], 0, "equivalent"),
        (["--", "-3", "-3"], 0, "equivalent"),
        (["-3", "-3"], 0, "equivalent"),
        (["-\\frac{1}{2}", "-0.5"], 0, "equivalent"),
    ],
)
def test_answers_starting_with_a_dash(capsys, argv, code, verdict):
    assert main(["grade", *argv]) == code
    assert capsys.readouterr().out.strip() == verdict


def test_options_anywhere_and_after_global_options(capsys):
    assert main(["-v", "grade", "-18", "so it is \\boxed{-18}", "--extract"]) == 0
    out = capsys.readouterr().out
    assert "extracted answer: '-18'" in out and out.strip().endswith("equivalent")
    assert main(["grade", "--ext", "--", "-7", "-7"]) == 0  # an abbreviated option, then an explicit `--`
    assert "extracted answer: '-7'" in capsys.readouterr().out


def test_help_still_works(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", "--help"])
    assert exit_info.value.code == 0
    assert "GOLD PRED" in capsys.readouterr().out


def test_a_third_answer_is_still_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", "1", "-1", "-2"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: -2" in capsys.readouterr().err


def test_protect_answers():
    assert protect_answers(["-inf", "inf"]) == ["--", "-inf", "inf"]
    assert protect_answers(["-h"]) == ["-h", "--"]
    assert protect_answers(["--extract", "--", "--extract", "-1"]) == ["--extract", "--", "--extract", "-1"]
