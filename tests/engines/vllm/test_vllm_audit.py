"""`cotexit audit` against a real `vllm serve` (marker `vllm`): quiet on the traffic the probe is calibrated for,
a rejection on traffic it does not cover.

The server runs the toy model with the shipped keep-cue probe (accuracy-drop: harm at most epsilon 0.02 with
probability 0.9, calibrated on `arith` calib problems at T=0.6), on a free localhost port, started and stopped
here with bounded waits (`vllm_server`). The traffic is `arith` test problems posed as `bench` poses them, with
gold answers (`--suite arith`) or as a prompt file without them (`eval/guarantee/make_prompts.py`).

At T=0.6 the audit checks the probe's own bound, harm at epsilon 0.02, and must stay quiet. (Answer changes are
not what this probe bounds: at T=0.6 its answers change more often than 2%, and an answer-change audit at 0.02
rejects there too, after about 200 prompts; so the quiet check is on harm.) At T=1.0, a setting the probe's
certificate does not cover, the audit must reject within `SHIFTED_N` prompts, on harm (the probe's bound fails)
and on answer changes read from a prompt file without gold.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("vllm")

from cotexit.cli.main import main  # noqa: E402
from cotexit.toy import TOY_MODEL_DIR  # noqa: E402
from vllm_server import ROOT, free_port, start_server, stop_server, wait_healthy  # noqa: E402

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped"),
]
PROBE = ROOT / "probes" / "toy-arith-keep-cue"
EPSILON = 0.02  # the probe's calibrated epsilon
QUIET_N = 120  # in-distribution problems audited, quiet throughout
SHIFTED_N = 200  # at T=1.0 the test must have rejected within this many


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    port, log = free_port(), tmp_path_factory.mktemp("serve") / "server.log"
    server = start_server(port, str(PROBE), log)
    try:
        wait_healthy(server, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


def prompt_file(path, n: int) -> str:
    script = ROOT / "eval" / "guarantee" / "make_prompts.py"
    subprocess.run([sys.executable, str(script), "--split", "test", "--limit", str(n), "--out", str(path)], check=True,
                   capture_output=True, timeout=120)
    return str(path)


def audit(url: str, out, *source: str, temperature: float) -> tuple[int, dict, list[dict]]:
    code = main(["audit", "--url", url, *source, "--probe", PROBE.name, "--epsilon", str(EPSILON), "--delta", "0.1",
                 "--temperature", str(temperature), "--seed", "0", "--concurrency", "16", "--max-rate", "0",
                 "--timeout", "120", "--out", str(out)])
    rows = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    return code, json.loads((out / "summary.json").read_text()), rows


def test_in_distribution_traffic_keeps_the_audit_quiet(url, tmp_path):
    code, summary, rows = audit(url, tmp_path / "t0.6", "--suite", "arith", "--limit", str(QUIET_N), temperature=0.6)
    assert summary["live_check"]["loss"] == "harm" and summary["audited"] == QUIET_N
    assert code == 0 and summary["status"] == "holds", summary["verdict"]
    assert [r["id"] for r in rows] == [f"arith/test/{i}" for i in range(QUIET_N)]
    assert summary["same_text"]["n"] < QUIET_N / 2 and summary["completion_tokens"]["saved_pct"] > 20  # it exits
    assert summary["parted_before_exit"]["n"] <= QUIET_N // 20  # the seeded pairs sample alike until the exit


@pytest.mark.parametrize("loss", ["harm", "answer-change"])
def test_traffic_the_probe_does_not_cover_is_rejected(url, tmp_path, loss):
    if loss == "harm":
        source = ["--suite", "arith", "--limit", str(SHIFTED_N)]
    else:
        source = ["--prompts", prompt_file(tmp_path / "arith-test.jsonl", SHIFTED_N)]
    code, summary, rows = audit(url, tmp_path / "t1.0", *source, temperature=1.0)
    assert code == 3 and summary["status"] == "rejected", summary["verdict"]
    assert all((r["correct"] is None) == (loss == "answer-change") for r in rows)  # a prompt file reads no gold
    live = summary["live_check"]
    assert live["loss"] == loss and summary["audited"] == live["rejected_at"] == len(rows) <= SHIFTED_N
    assert live["lower"] > EPSILON and summary["verdict"].startswith(f"the bound does not hold: the {loss} rate")
