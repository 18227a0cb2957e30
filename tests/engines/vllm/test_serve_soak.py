"""A short soak of a real `vllm serve` with the plug-in (marker `vllm`): 128 mixed requests at concurrency 32.

The traffic and the checks are `eval/serve/soak.py`'s (probe and `none`
requests, streamed and not, cancelled streams, malformed `vllm_xargs`,
`n=2`, `best_of`), on one server with the row-watching plug-in
(`eval/serve/plugin/rows_watch.py`), sent once for the module; each test
checks one property. About a minute with the server's start; every wait is
bounded. The full soak (1,200 requests) is `eval/serve/soak.py`.
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

pytest.importorskip("vllm.sampling_params")  # not just "vllm": this tests folder imports as one
pytest.importorskip("aiohttp")

from cotexit.toy import TOY_MODEL_DIR  # noqa: E402
from vllm_server import ROOT, free_port, start_watched_server, stop_server, wait_healthy  # noqa: E402

sys.path.insert(0, str(ROOT / "eval" / "serve"))
from client import closed_loop  # noqa: E402
from servers import tree_memory  # noqa: E402
from soak import cue_phrases, judge, rows_report, traffic  # noqa: E402

from cotexit.experiments.audit import load_items  # noqa: E402

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped"),
]
PROBE = ROOT / "probes" / "toy-arith-keep-cue"
REQUESTS, CONCURRENCY, WARMUP = 128, 32, 16
MEMORY_BOUND = 0.10  # RSS after the traffic at most 10% above after warm-up


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    """Start the server, warm it up, send the traffic, read memory and the log; stop the server."""
    if not (PROBE / "card.json").exists():
        pytest.fail(f"no keep-cue probe at {PROBE}")
    items = load_items(suite="arith", split="test", limit=REQUESTS + WARMUP)
    port, log = free_port(), tmp_path_factory.mktemp("soak") / "server.log"
    url = f"http://127.0.0.1:{port}"
    server = start_watched_server(port, str(PROBE), log)
    try:
        wait_healthy(server, port, log)
        asyncio.run(closed_loop(url, traffic(items[REQUESTS:], WARMUP, seed=1), CONCURRENCY, timeout_s=60))
        memory_warm = tree_memory(server.pid)
        outcomes, _ = asyncio.run(closed_loop(url, traffic(items[:REQUESTS], REQUESTS), CONCURRENCY, timeout_s=60))
        time.sleep(2)
        memory_after = tree_memory(server.pid)
        alive = server.poll() is None
    finally:
        stop_server(server)
    return {
        "verdict": judge(outcomes, cue_phrases(PROBE)), "alive": alive, "log": log.read_text(errors="replace"),
        "growth": memory_after["rss_mb"] / memory_warm["rss_mb"] - 1,
    }


def test_the_server_stays_up_and_every_answered_request_gets_what_it_expects(soak):
    verdict = soak["verdict"]
    assert soak["alive"]
    assert verdict["unexpected"] == verdict["dropped_connections"], verdict["unexpected_examples"]
    # Connections dropped without an answer come in bursts when the machine is loaded (seen without cotexit too:
    # eval/serve/README.md); bounded here, counted in eval/serve/soak.json.
    assert verdict["dropped_connections"] <= REQUESTS // 4, verdict["transport_failures_by_second"]
    assert verdict["malformed_answers"] == 0, verdict["malformed_answer_examples"]
    assert sum(verdict["by_kind"]["cancel"].values()) > 0 and sum(verdict["by_kind"]["bad_xargs"].values()) > 0
    assert all("cotexit_probe" in m or "vllm_xargs" in m for m in verdict["bad_xargs_messages"])


def test_exits_fire_on_probe_requests_and_never_on_none(soak):
    exits = soak["verdict"]["exits"]
    assert exits["probe"]["exited"] >= exits["probe"]["samples"] // 2
    assert exits["n2"]["samples"] == 2 * soak["verdict"]["by_kind"]["n2"]["ok"] and exits["n2"]["exited"] > 0
    assert exits["none"]["exited"] == 0


def test_resident_memory_after_the_traffic_is_within_the_bound(soak):
    assert soak["growth"] <= MEMORY_BOUND


def test_no_controller_row_outlives_its_request(soak):
    rows = rows_report(soak["log"])
    assert rows["updates"] > 0, "the watching plug-in logged nothing"
    assert rows["rows_over_alive"] == 0, rows
