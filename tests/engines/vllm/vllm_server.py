"""A real `vllm serve` of the toy model with the cotexit plug-in, on a localhost port, for the tests that need one.

Owns `free_port`, `start_server` (the OpenAI server as a subprocess in its own session, its output in a log file;
`start_watched_server`: the same with the soak's row-watching plug-in),
`wait_healthy` (until `/health` answers, at most `START_TIMEOUT` seconds, failing the test with the log's tail if
the server exits or never answers) and `stop_server` (SIGTERM to the session, then SIGKILL). Every wait is bounded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from cotexit.engines.vllm.serve import capture_args
from cotexit.toy import TOY_MODEL_DIR

ROOT = TOY_MODEL_DIR.parents[3]  # cotexit/models/weights/toy
START_TIMEOUT = 240  # seconds for the server to answer /health


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    port: int, probe: str, log: Path, tensor_parallel: int = 1, eager: bool = True, by_name: bool = True,
    extra: Sequence[str] = (), plugin: str = "cotexit.engines.vllm.serve:CotexitServeProcessor", path: Sequence[str] = (),
) -> subprocess.Popen:
    """`vllm serve` of the toy model with the plug-in serving `probe` (and its capture model), eager unless told;
    the plug-in (`plugin`, a module on `path` or installed) named with `--logits-processors`, or (`by_name`
    False) through its installed entry point only; `extra` flags appended."""
    env = {
        **os.environ, "COTEXIT_PROBE": probe, "HF_HUB_OFFLINE": "1", "VLLM_USE_V2_MODEL_RUNNER": "0",
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        "VLLM_CPU_NUM_OF_RESERVED_CPU": os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU", "1"),
    }
    if path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (*path, os.environ.get("PYTHONPATH")) if p)
    if tensor_parallel > 1:  # one core per worker on a CPU machine
        env["VLLM_CPU_OMP_THREADS_BIND"] = "|".join(str(c) for c in range(tensor_parallel))
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(TOY_MODEL_DIR),
        "--served-model-name", "toy", "--dtype", "float32", *(["--enforce-eager"] if eager else []), "--max-model-len", "768",
        "--host", "127.0.0.1", "--port", str(port),
        *(["--logits-processors", plugin] if by_name else []),
        "--tensor-parallel-size", str(tensor_parallel), *capture_args(str(TOY_MODEL_DIR), probe), *extra,
    ]
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=10)


def wait_healthy(server: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"the server did not answer /health within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


WATCH_DIR = ROOT / "eval" / "serve" / "plugin"  # rows_watch.py: the plug-in plus a log line of its controller rows


@contextmanager
def serving(probe: str, log: Path, **options) -> Iterator[int]:
    """A server of `start_server(..., **options)` on a free port, healthy; its port. Stopped when the block ends."""
    port = free_port()
    server = start_server(port, probe, log, **options)
    try:
        wait_healthy(server, port, log)
        yield port
    finally:
        stop_server(server)


def start_watched_server(port: int, probe: str, log: Path) -> subprocess.Popen:
    """`start_server`'s server (one worker), its plug-in `rows_watch:RowsWatch`: the same processor, which also
    logs `cotexit-rows: rows=R alive=A ...` at each batch change (what the soak checks)."""
    return start_server(port, probe, log, plugin="rows_watch:RowsWatch", path=[str(WATCH_DIR)])
