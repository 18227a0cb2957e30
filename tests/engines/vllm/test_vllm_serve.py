"""The `vllm serve` plug-in for real (marker `vllm`): a server on a localhost port, chat completions, an exit.

The server runs the toy model with `CotexitServeProcessor` loaded by name and the shipped keep-cue probe, in
one worker and with tensor parallelism over two (two worker processes, each with its own processor and hooks);
the test sends chat completions over HTTP and stops the server. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from cotexit.benchmarks import build_prompt, load_problems  # noqa: E402
from cotexit.toy import TOY_MODEL_DIR  # noqa: E402
from vllm_server import ROOT, START_TIMEOUT, free_port, serving, start_server, stop_server  # noqa: E402

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not (TOY_MODEL_DIR / "model.safetensors").exists(), reason="toy weights not shipped"),
]
PROBE = Path(os.environ.get("COTEXIT_TEST_SERVE_PROBE", ROOT / "probes" / "toy-arith-keep-cue"))


def _chat(port: int, content: str, xargs: dict | None = None) -> tuple[int, dict]:
    body = {"model": "toy", "messages": [{"role": "user", "content": content}], "max_tokens": 500, "temperature": 0,
            "skip_special_tokens": False}
    if xargs is not None:
        body["vllm_xargs"] = xargs
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture(scope="module", params=[1, 2], ids=["one-worker-compiled", "tensor-parallel-2-eager"])
def port(request, tmp_path_factory):
    """A server of one worker in vLLM's default compiled mode, and one of two workers in eager mode."""
    if not (PROBE / "card.json").exists():
        pytest.fail(f"no keep-cue probe at {PROBE}")
    if request.param > (os.cpu_count() or 1):
        pytest.skip(f"tensor parallelism over {request.param} workers needs {request.param} cores")
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with serving(str(PROBE), log, tensor_parallel=request.param, eager=request.param > 1) as port:
        yield port


def test_a_served_chat_completion_exits_at_a_cue_and_answers(port):
    problems = load_problems("arith", "test", limit=4)
    exits = 0
    for problem in problems:
        status, on = _chat(port, build_prompt(problem))
        status_off, off = _chat(port, build_prompt(problem), {"cotexit_probe": "none"})
        assert status == status_off == 200
        text, full = on["choices"][0]["message"]["content"], off["choices"][0]["message"]["content"]
        assert text.count("</think>") == 1 and full.count("</think>") == 1
        if text == full:
            continue
        exits += 1
        thinking, answer = text.split("\n</think>")  # the forced-exit text starts with the newline
        assert full.startswith(thinking)  # the exit keeps everything up to and including the cue
        assert thinking.endswith(("Wait,", "Hmm,", "Alternatively,", "But wait,"))
        assert answer.startswith("\nThe final answer is \\boxed{") and answer.count("}") == 1
        assert on["usage"]["completion_tokens"] < off["usage"]["completion_tokens"]
    assert exits >= 2, "the shipped probe should exit on most of these problems"


def test_a_bad_probe_choice_is_the_clients_error(port):
    status, body = _chat(port, "What is 2 + 3?", {"cotexit_probe": "no-such-probe"})
    assert status == 400 and "cotexit_probe" in body["error"]["message"]


def test_a_before_cue_probe_stops_the_server_start_with_its_reason(tmp_path):
    log = tmp_path / "server.log"
    server = start_server(free_port(), str(ROOT / "probes" / "toy-arith"), log)
    try:
        server.wait(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("a server with a before-cue probe should not start")
    finally:
        stop_server(server)
    assert server.returncode != 0 and "cut='before-cue'" in log.read_text()

