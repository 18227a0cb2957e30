"""The README's `model.generate()` example runs as written on the shipped toy model and exits with the probe."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from cotexit.toy import TOY_MODEL_DIR

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped")
def test_readme_generate_example_runs(monkeypatch):
    text = README.read_text()
    section = text[text.index("### Inside transformers `model.generate()`") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(README.parent)  # the example names probes/toy-arith relative to the repository
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert len(lines) == 4
    assert any("ExitInfo(policy='probe-accuracy-drop'" in line for line in lines)
