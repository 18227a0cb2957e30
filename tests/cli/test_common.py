"""Loading a model for the CLI: transformers' own progress bars stay off while cotexit draws its own."""

from __future__ import annotations

import pytest
from huggingface_hub import constants as hub_constants
from huggingface_hub.utils import are_progress_bars_disabled
from transformers.utils import logging as transformers_logging

from cotexit.cli.common import library_progress_bars_off
from cotexit.cli.main import main


def test_solve_shows_no_loading_weights_bar(capsys):
    before = (transformers_logging.is_progress_bar_enabled(), are_progress_bars_disabled())
    argv = ["solve", "1+1", "--model", "toy", "--max-new-tokens", "5", "--device", "cpu", "--dtype", "float32"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "answer:" in captured.out
    assert "Loading weights" not in captured.err + captured.out
    assert (transformers_logging.is_progress_bar_enabled(), are_progress_bars_disabled()) == before


@pytest.mark.skipif(hub_constants.HF_HUB_DISABLE_PROGRESS_BARS is not None, reason="the environment decides")
def test_progress_bars_come_back_as_they_were():
    before = transformers_logging.is_progress_bar_enabled()
    transformers_logging.enable_progress_bar()
    with library_progress_bars_off():
        assert not transformers_logging.is_progress_bar_enabled() and are_progress_bars_disabled()
    assert transformers_logging.is_progress_bar_enabled() and not are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()
    try:
        with library_progress_bars_off():
            pass
        assert not transformers_logging.is_progress_bar_enabled() and are_progress_bars_disabled()
    finally:
        (transformers_logging.enable_progress_bar if before else transformers_logging.disable_progress_bar)()
