"""Every Python example in the README runs as written, on the shipped toy model, and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def run(code: str, folder: Path, monkeypatch) -> list[str]:
    """Run `code` in `folder`, where `probes/` is the repository's (the examples name it relative to a checkout)."""
    (folder / "probes").symlink_to(REPO / "probes")
    monkeypatch.chdir(folder)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    return printed.getvalue().splitlines()


def test_the_readme_has_the_three_examples():
    assert len(EXAMPLES) == 3
    assert all("import cotexit" in code for code in EXAMPLES)


def test_engine_example(tmp_path, monkeypatch):
    lines = run(EXAMPLES[0], tmp_path, monkeypatch)
    assert len(lines) == 4  # gold, answer, correct, thinking tokens, exit per problem
    assert sum(" True " in line for line in lines) >= 3
    assert any("ExitInfo(policy='probe-accuracy-drop'" in line for line in lines)


def test_calibration_example(tmp_path, monkeypatch):
    lines = run(EXAMPLES[1], tmp_path, monkeypatch)
    assert (tmp_path / "runs" / "readme-probe" / "card.json").is_file()
    assert lines[-1] == "19"  # 12 shells and 7 more, with the probe just calibrated
    assert "alpha" in lines[0] or "<=" in lines[0]  # the guarantee in words


def test_generate_example(tmp_path, monkeypatch):
    lines = run(EXAMPLES[2], tmp_path, monkeypatch)
    assert len(lines) == 1 and lines[0].startswith("19 True "), lines  # the extracted answer, graded
