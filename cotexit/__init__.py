"""cotexit: early exit for reasoning models, in length (stop thinking) and depth (skip layers).

    import cotexit

    lm = cotexit.load_model("toy")                     # a registered name, a local folder or a hub id
    problems = cotexit.load_problems("arith", "test", limit=4)
    with cotexit.Engine(lm, exits=cotexit.Exits(probe="shipped")) as engine:   # backend="hf" | "generate" | "vllm"
        for s in engine.solve(problems):
            print(s.answer, s.correct, s.thinking_tokens, s.exit)

What is here is the public face, re-exported lazily from the packages that
own each piece (importing `cotexit` loads none of them): models
(`load_model`), benchmarks (`load_problems`, and `extract_answer` and
`is_equivalent` to read and grade an answer text), the engine and its exits
(`Engine`, `Exits`, `Solution`, `DecodeConfig`, `SamplingConfig`,
`LayerExitConfig`, `ExitPolicy`, `ThinkingBudget`), probes (`ProbeArtifact`)
and calibration (`collect`, `calibrate_probe`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from cotexit.version import __version__

_EXPORTS = {
    "load_model": "cotexit.models.loading",
    "LoadedModel": "cotexit.models.loading",
    "load_problems": "cotexit.benchmarks.loading",
    "extract_answer": "cotexit.benchmarks.extraction",
    "is_equivalent": "cotexit.benchmarks.grading",
    "Problem": "cotexit.benchmarks.records",
    "Engine": "cotexit.api.engine",
    "Solution": "cotexit.api.engine",
    "Exits": "cotexit.api.exits",
    "collect": "cotexit.api.calibrate",
    "calibrate_probe": "cotexit.api.calibrate",
    "DecodeConfig": "cotexit.engines.decoding",
    "SamplingConfig": "cotexit.engines.decoding",
    "CueConfig": "cotexit.controller.cues",
    "ExitPolicy": "cotexit.controller.policies",
    "ThinkingBudget": "cotexit.controller.policies",
    "RowResult": "cotexit.controller.rows",
    "LayerExitConfig": "cotexit.depth.config",
    "ProbeArtifact": "cotexit.probes.artifact",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cotexit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
