"""Fixtures for the benchmark tests: the real data folder (skipped when absent) and tiny synthetic ones.

The tiny folders are written into `tmp_path` at test time from rows made up
here; no benchmark file is ever copied into the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotexit.benchmarks.datadir import ENV_VAR, find_data_dir

TINY_ROWS = {
    "gsm8k/test.jsonl": [
        {"question": "Ann has 3 pens and buys 4. How many pens?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
        {"question": "A box holds 1,000 nails. How many in one box?", "answer": "One box.\n#### 1,000"},
        {"question": "Half of 9?", "answer": "9 / 2 = 4.5\n#### 4.5"},
    ],
    "math500/test.jsonl": [
        {
            "problem": "What is $\\frac{2}{4}$ in lowest terms?",
            "solution": "It is $\\boxed{\\frac{1}{2}}$.",
            "answer": "\\frac{1}{2}",
            "subject": "Algebra",
            "level": 1,
            "unique_id": "test/algebra/1.json",
        },
        {
            "problem": "Solve $x - 5 = 0$.",
            "solution": "$\\boxed{x=5}$",
            "answer": "x=5",
            "subject": "Algebra",
            "level": 2,
            "unique_id": "test/algebra/2.json",
        },
    ],
    "aime24/test.jsonl": [
        {"id": 60, "problem": "Find 5 * 5.", "question": "Find 5 * 5.", "solution": "25", "answer": "025", "url": "u"},
    ],
}


def write_jsonl(path: Path, rows: list[dict] | list[str]) -> Path:
    """Write rows (dicts as JSON, strings verbatim) one per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def jsonl_writer():
    """`write_jsonl(path, rows)`, for tests that need a file of their own (malformed lines, say)."""
    return write_jsonl


@pytest.fixture
def no_env_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that resolve the data folder must not see the developer's COTEXIT_DATA_DIR."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real benchmark folder (../shared/data or $COTEXIT_DATA_DIR); skips the test when absent."""
    found = find_data_dir()
    if found is None or not (found.path / "gsm8k" / "test.jsonl").is_file():
        pytest.skip(f"benchmark data not found: put it at ../shared/data beside the repository or set ${ENV_VAR}")
    return found.path


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """A data folder with a few made-up rows for gsm8k test, math500 test and aime24 test."""
    root = tmp_path / "data"
    for relative, rows in TINY_ROWS.items():
        write_jsonl(root / relative, rows)
    return root
