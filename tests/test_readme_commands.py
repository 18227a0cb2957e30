"""The README's set-up job and first steps, run in order in a fresh copy of the checkout (`readme_commands.py`),
with every `--limit` capped: no refusal, no traceback, no coverage warning. The run itself is marked slow here:
CI runs the same script with the installed wheel's cotexit (`.ci/run`), outside the test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from readme_commands import REPO, Outcome, capped, fresh_copy, readme_commands, run_commands  # noqa: E402


def test_commands_are_read_from_the_readme():
    commands = readme_commands((REPO / "README.md").read_text())
    assert commands[0].startswith("cotexit bench --suite arith")
    assert any("--exit" in c and c.startswith("cotexit bench") for c in commands[1:])
    assert any(c.startswith("cotexit solve") for c in commands) and any("--sweep" in c for c in commands)
    assert capped("cotexit bench --suite arith --limit 50 --exit", 4) == "cotexit bench --suite arith --limit 4 --exit"


def test_a_bad_outcome_is_caught():
    assert Outcome("x", 2, "error: no").problem == "exit code 2"
    assert "does not cover" in Outcome("x", 0, "warning: the probe's guarantee does not\ncover this run: ...").problem
    assert Outcome("x", 0, "all fine").problem is None


@pytest.mark.slow  # CI runs it with the wheel's cotexit (`.ci/run`: readme_commands.py --fast), not twice
def test_readme_commands_run_in_order_in_a_fresh_copy(tmp_path):
    commands = [capped(c, 4) for c in readme_commands((REPO / "README.md").read_text())]
    outcomes = run_commands(commands, fresh_copy(tmp_path / "checkout"), timeout_s=600)
    failed = [o for o in outcomes if o.problem]
    assert not failed, f"{failed[0].command}: {failed[0].problem}\n{failed[0].output[-3000:]}"
    assert len(outcomes) == len(commands)
