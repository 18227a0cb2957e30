"""Result lines read back typed: `ProblemResult.from_json` round-trips `to_json` and refuses other schemas."""

from __future__ import annotations

import pytest

from cotexit.benchmarks.results import ProblemResult, ResultsFile


def result(id_: str = "arith/test/0") -> ProblemResult:
    return ProblemResult(
        id=id_, gold="10", prediction="10", correct=True, thinking_tokens=12, total_tokens=20, prompt_tokens=30,
        cue_count=1, cue_positions=[4], cue_phrases=["Wait"], finish_reason="answer",
        exit={"policy": "probe-accuracy-drop", "cut": 4, "step": 5, "cue_index": 0}, timings={"row_s": 0.1, "batch": id_},
        text="x", probe_scores=[0.9],
    )


def test_a_written_result_reads_back_equal(tmp_path):
    file = ResultsFile(tmp_path, {"suite": "arith"})
    file.append(result())
    again = ResultsFile(tmp_path, {"suite": "arith"})
    assert again.results() == [result()]
    assert again.results()[0].probe_scores == [0.9]


def test_other_schemas_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="schema_version 0"):
        ProblemResult.from_json({**result().to_json(), "schema_version": 0})
    with pytest.raises(ValueError, match="'surprise'"):
        ProblemResult.from_json({**result().to_json(), "surprise": 1})
