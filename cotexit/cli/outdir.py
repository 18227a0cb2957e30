"""The default output folder of a run: one per run's settings, so that runs never collide.

Owns `default_out`. `bench` without `--out` writes to
`runs/bench/<suite>-<model>[-<exits>][-<backend>]-<decoding>-<hash>`: a short
readable name for people and an 8-hex digest of every setting a resumed run
must share (`BenchConfig.settings()`; the problem limit is not one of them),
so another command gets another folder and the same command finds its own
folder again and resumes there.

>>> default_out("bench", "arith", "toy", {"suite": "arith"}, exits="exit", temperature=0.6)
'runs/bench/arith-toy-exit-t0.6-926b160b'
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path("runs")


def _slug(text: str) -> str:
    """A folder-name-safe short form: a path's last part, runs of other characters as '-'."""
    text = Path(text).name if ("/" in text or "\\" in text) else text
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-")[:40] or "x"


def exits_tag(exits: dict[str, Any], *, shipped_probe: bool = False) -> str | None:
    """The exits of a run in a word or two: `exit` (the shipped probe) or `probe-<folder>`, the baseline, the
    layer-exit mode."""
    if not exits:
        return None
    parts = []
    if exits.get("probe"):
        parts.append("exit" if shipped_probe else f"probe-{_slug(exits['probe'])}")
    if exits.get("baseline"):
        parts.append(_slug(exits["baseline"].replace(":", "")))
    if exits.get("layer_exit"):
        parts.append(f"layer-{exits['layer_exit']['mode']}")
    return "-".join(parts) or "exits"


def default_out(
    command: str,
    suite: str,
    model: str,
    settings: dict[str, Any],
    *,
    exits: str | None,
    temperature: float,
    backend: str = "hf",
    kind: str | None = None,
) -> str:
    """`runs/<command>/<readable name>-<digest of settings>`; `exits` is `exits_tag`'s word for the run's exits,
    `kind` marks another kind of run (e.g. `sweep`)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]
    sampling = "greedy" if temperature == 0 else f"t{temperature:g}"
    parts = [_slug(suite), _slug(model), exits, kind, None if backend == "hf" else backend, sampling, digest]
    return str(ROOT / command / "-".join(p for p in parts if p))
