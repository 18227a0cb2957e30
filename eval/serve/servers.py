"""A real `vllm serve` of the toy model as a subprocess on a localhost port, for the served benchmark and the soak.

Owns `ServerSpec` (what a server is: with or without the cotexit plug-in and
its probes, with or without a reasoning parser and config for vLLM's own
`thinking_token_budget`, eager or compiled), `Server` (start it in a
session of its own with its output in a log file, wait for `/health` at
most `start_timeout_s`, stop it: SIGTERM to the session, then SIGKILL),
`export_code` (a commit's files, for servers that must not see uncommitted
edits) and `tree_memory` and `tree_cpu_s` (resident memory and CPU seconds
of a process and its descendants, from /proc). Every wait is bounded. What
to send and what it means are the callers' (`bench_serve.py`, `soak.py`).

    with Server(ServerSpec("plugin", probes=("probes/toy-arith-keep-cue",)), log=Path("/tmp/s.log")) as server:
        print(server.url)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cotexit.toy import TOY_MODEL_DIR

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "runs" / "serve-logs"  # the servers' output (runs/ is not committed)
PLUGIN = "cotexit.engines.vllm.serve:CotexitServeProcessor"
ENV_DEFAULTS = {
    "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "1", "VLLM_USE_V2_MODEL_RUNNER": "0",
}


@dataclass(frozen=True)
class ServerSpec:
    """One server configuration. `probes`: the plug-in's `COTEXIT_PROBE` folders (empty: no plug-in);
    `reasoning_parser`/`reasoning_config`: vLLM's reasoning parser and `--reasoning-config` (what
    `thinking_token_budget` needs); `compiled`: leave vLLM's default compilation on (else `--enforce-eager`);
    `plugin_class`: the logits processor loaded by name; `extra_path`: folders of this checkout the server
    imports from too (a watching plug-in that belongs to the harness, not to the code under test)."""

    name: str
    probes: tuple[str, ...] = ()
    reasoning_parser: str | None = None
    reasoning_config: dict[str, Any] | None = None
    compiled: bool = False
    plugin_class: str = PLUGIN
    extra_path: tuple[str, ...] = ()
    max_model_len: int = 768
    dtype: str = "float32"
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"a server name must be letters, digits, '-' or '_', got {self.name!r}")
        if self.reasoning_config is not None and self.reasoning_parser is None:
            raise ValueError(f"server {self.name!r}: a reasoning_config needs a reasoning_parser")

    @property
    def plugin(self) -> bool:
        return bool(self.probes)

    def command(self, port: int, code: Path = ROOT) -> list[str]:
        model = Path(code) / TOY_MODEL_DIR.relative_to(ROOT)
        command = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
            "--served-model-name", "toy", "--dtype", self.dtype, "--max-model-len", str(self.max_model_len),
            "--host", "127.0.0.1", "--port", str(port), "--disable-uvicorn-access-log",
        ]
        if not self.compiled:
            command.append("--enforce-eager")
        if self.plugin:
            command += ["--logits-processors", self.plugin_class]
        if self.reasoning_parser:
            command += ["--reasoning-parser", self.reasoning_parser]
        if self.reasoning_config:
            command += ["--reasoning-config", json.dumps(self.reasoning_config)]
        return command + list(self.extra_args)

    def environment(self, code: Path = ROOT) -> dict[str, str]:
        """The server's environment: cotexit imported from `code` (a checkout or an exported commit)."""
        env = {**os.environ, **{k: os.environ.get(k, v) for k, v in ENV_DEFAULTS.items()}, **self.env}
        extra = [str(ROOT / p) for p in self.extra_path]
        env["PYTHONPATH"] = os.pathsep.join([str(code), *extra] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        if self.plugin:
            env["COTEXIT_PROBE"] = ",".join(str(Path(code) / p) for p in self.probes)
        else:
            env.pop("COTEXIT_PROBE", None)
        return env

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "command": ["python"] + self.command(0)[1:]}


def export_code(ref: str, into: Path) -> str:
    """`git archive` of commit `ref` of this checkout into the folder `into` (created); returns the full commit.
    Servers run from it do not see uncommitted edits of the working tree."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                            capture_output=True, text=True, timeout=10)
    if commit.returncode:
        raise ValueError(f"--code-ref {ref!r} is not a commit of {ROOT}: {commit.stderr.strip()}")
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", commit.stdout.strip()], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True, timeout=120)
    if archive.wait(timeout=120):
        raise RuntimeError(f"git archive {ref} failed")
    return commit.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerFailed(RuntimeError):
    """The server exited or never answered: `str()` says which, with the end of its log."""


class Server:
    """A running `ServerSpec`, as a context manager; `url` is `http://127.0.0.1:PORT`. `code`: the folder the
    server imports cotexit, the toy model and the probes from (default: this checkout; `export_code`)."""

    def __init__(self, spec: ServerSpec, log: Path, start_timeout_s: float = 300.0, code: Path = ROOT) -> None:
        self.spec, self.log, self.start_timeout_s, self.code = spec, Path(log), start_timeout_s, Path(code)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.start_s: float | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        self.process = subprocess.Popen(
            self.spec.command(self.port, self.code), env=self.spec.environment(self.code), stdout=self.log.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True, cwd=self.code,
        )
        deadline = began + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"server {self.spec.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            if self.healthy():
                self.start_s = time.monotonic() - began
                return
            time.sleep(1)
        self.stop()
        raise ServerFailed(f"server {self.spec.name} did not answer /health in {self.start_timeout_s:.0f} s:\n"
                           f"{self.log_tail()}")

    def healthy(self, timeout_s: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=timeout_s) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def memory(self) -> dict[str, float]:
        """Resident memory of the server's process tree in MB (`tree_memory`)."""
        assert self.process is not None, "the server is not started"
        return tree_memory(self.process.pid)

    def cpu_s(self) -> float:
        """CPU seconds the server's process tree has spent so far (`tree_cpu_s`)."""
        assert self.process is not None, "the server is not started"
        return tree_cpu_s(self.process.pid)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state, past the command's parentheses
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree_memory(pid: int) -> dict[str, float]:
    """{"rss_mb": summed VmRSS, "pss_mb": summed Pss, "processes": count} of `pid` and its descendants.
    RSS counts pages shared between the processes (torch's libraries) once per process; PSS splits them."""
    children, todo, seen = _children(), [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children.get(p, []))
    rss = pss = 0.0
    for p in seen:
        rss += _kb_field(f"/proc/{p}/status", "VmRSS:")
        pss += _kb_field(f"/proc/{p}/smaps_rollup", "Pss:")
    return {"rss_mb": round(rss / 1024, 1), "pss_mb": round(pss / 1024, 1), "processes": len(seen)}


def _kb_field(path: str, key: str) -> float:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) spent so far by `pid` and its living descendants, from /proc."""
    children, todo, total = _children(), [pid], 0.0
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime: fields 14 and 15 of stat
    return total
