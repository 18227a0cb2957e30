"""The served plug-in says at start when the server computes in another dtype than the probe's features were."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.vllm

PROBES = Path(__file__).resolve().parents[3] / "probes"


@pytest.mark.parametrize(("served", "warned"), [("bfloat16", True), ("float32", False)])
def test_a_server_in_another_dtype_is_logged_as_uncovered(caplog, served, warned):
    import torch

    from cotexit.engines.vllm.serve import _warn_if_other_dtype
    from cotexit.probes.artifact import ProbeArtifact

    path = PROBES / "toy-arith-settings"
    config = SimpleNamespace(model_config=SimpleNamespace(dtype=getattr(torch, served)))
    with caplog.at_level(logging.WARNING, logger="cotexit.serve"):
        _warn_if_other_dtype(path, ProbeArtifact.load(path), config)
    text = caplog.text
    assert ("computed in float32 and this server computes in bfloat16" in text) is warned
    assert ("--dtype float32" in text) is warned


def test_a_card_without_a_dtype_says_nothing(caplog):
    import torch

    from cotexit.engines.vllm.serve import _warn_if_other_dtype
    from cotexit.probes.artifact import ProbeArtifact

    path = PROBES / "toy-arith-keep-cue"  # made before cards recorded their dtype
    with caplog.at_level(logging.WARNING, logger="cotexit.serve"):
        _warn_if_other_dtype(path, ProbeArtifact.load(path), SimpleNamespace(model_config=SimpleNamespace(dtype=torch.bfloat16)))
    assert caplog.text == ""
