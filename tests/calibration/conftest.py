"""The large synthetic pool shared by the statistical calibration tests."""

from __future__ import annotations

import pytest
from synthetic_cues import make_problems

from cotexit.calibration import CueTable


@pytest.fixture(scope="session")
def pool() -> CueTable:
    return make_problems(20_000, seed=12345)
