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
from collections.abc import Sequence
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
    imports from too (a watching plug-in that belongs to the harness, not to the code under test);
    `cotexit_entry_points` False: hide cotexit's vLLM entry points from the server, so that no cotexit code
    runs in it (vLLM loads installed `vllm.logits_processors` and `vllm.general_plugins` in every server)."""

    name: str
    probes: tuple[str, ...] = ()
    reasoning_parser: str | None = None
    reasoning_config: dict[str, Any] | None = None
    compiled: bool = False
    plugin_class: str = PLUGIN
    extra_path: tuple[str, ...] = ()
    cotexit_entry_points: bool = True
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

    def command(self, port: int, code: Path = ROOT, capture: Sequence[str] = ()) -> list[str]:
        """The server's command line; `capture`: the plug-in's capture-model flags (`capture_flags`)."""
        model = Path(code) / TOY_MODEL_DIR.relative_to(ROOT)
        command = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
            "--served-model-name", "toy", "--dtype", self.dtype, "--max-model-len", str(self.max_model_len),
            "--host", "127.0.0.1", "--port", str(port), "--disable-uvicorn-access-log",
        ]
        if not self.compiled:
            command.append("--enforce-eager")
        if self.plugin:
            command += ["--logits-processors", self.plugin_class, *capture]
        if self.reasoning_parser:
            command += ["--reasoning-parser", self.reasoning_parser]
        if self.reasoning_config:
            command += ["--reasoning-config", json.dumps(self.reasoning_config)]
        return command + list(self.extra_args)

    def environment(self, code: Path = ROOT) -> dict[str, str]:
        """The server's environment: cotexit imported from `code` (a checkout or an exported commit)."""
        env = {**os.environ, **{k: os.environ.get(k, v) for k, v in ENV_DEFAULTS.items()}, **self.env}
        extra = [str(ROOT / p) for p in self.extra_path]
        if not self.cotexit_entry_points:
            extra.insert(0, str(_metadata_folder(LOGS / "no-entry-points", code, vllm_groups=False)))
        env["PYTHONPATH"] = os.pathsep.join([*extra, str(code)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        if self.plugin:
            env["COTEXIT_PROBE"] = ",".join(str(Path(code) / p) for p in self.probes)
        else:
            env.pop("COTEXIT_PROBE", None)
        return env


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
    _metadata_folder(into, into, vllm_groups=True)
    return commit.stdout.strip()


def _metadata_folder(folder: Path, code: Path, vllm_groups: bool) -> Path:
    """Write into `folder` cotexit's package metadata with the entry points `code`'s pyproject declares (without
    the `vllm.*` groups unless `vllm_groups`); returns `folder`. vLLM loads plug-ins from installed entry points
    in every server; a folder early on a server's PYTHONPATH shadows the installed checkout's metadata, whose
    entry points may name code an exported commit does not have, or that a bare server must not run."""
    import tomllib

    project = tomllib.loads((code / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project.get("version", "0")
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    groups = {g: points for g, points in groups.items() if vllm_groups or not g.startswith("vllm.")}
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n" for group, points in groups.items()))
    return folder


def capture_flags(code: Path, probes: Sequence[str]) -> list[str]:
    """The plug-in's capture-model flags for `probes` as `code`'s cotexit gives them
    (`cotexit.engines.vllm.serve.capture_args`, run with `code` first on the path); [] for code from before the
    capture model (hooks, eager only)."""
    model = Path(code) / TOY_MODEL_DIR.relative_to(ROOT)
    script = ("import json, sys\n"
              "try:\n    from cotexit.engines.vllm.serve import capture_args\n"
              "except ImportError:\n    print('[]'); sys.exit()\n"
              "print(json.dumps(capture_args(sys.argv[1], sys.argv[2])))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    done = subprocess.run([sys.executable, "-c", script, str(model), ",".join(str(Path(code) / p) for p in probes)],
                          capture_output=True, text=True, env=env, cwd=code, timeout=300)
    if done.returncode:
        raise ServerFailed(f"cannot get the capture flags from {code}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
        self.capture: list[str] = []

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.capture = capture_flags(self.code, self.spec.probes) if self.spec.plugin else []
        began = time.monotonic()
        self.process = subprocess.Popen(
            self.spec.command(self.port, self.code, self.capture), env=self.spec.environment(self.code),
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, cwd=self.code,
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

    def memory(self, pss: bool = True) -> dict[str, float]:
        """Resident memory of the server's process tree in MB (`tree_memory`); `pss` only while it is idle."""
        assert self.process is not None, "the server is not started"
        return tree_memory(self.process.pid, pss=pss)

    def to_json(self) -> dict[str, Any]:
        """The spec, the command as run (`python` for the interpreter, this folder's paths relative), the start time."""
        command = ["python"] + self.spec.command(self.port, self.code, self.capture)[1:]
        return {**asdict(self.spec), "command": [a.replace(f"{self.code}/", "") for a in command],
                "start_s": None if self.start_s is None else round(self.start_s, 1)}

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


def tree_memory(pid: int, pss: bool = True) -> dict[str, float]:
    """{"rss_mb": summed VmRSS, "pss_mb": summed Pss, "processes": count} of `pid` and its descendants.
    RSS counts pages shared between the processes (torch's libraries) once per process; PSS splits them.
    PSS reads /proc/PID/smaps_rollup, which walks a process's whole address space under its memory-map lock:
    on a vLLM server that takes seconds and stalls it (the HTTP server then drops keep-alive connections whose
    request arrived meanwhile), so read it only from an idle server (`pss=False` leaves it out)."""
    children, todo, seen = _children(), [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children.get(p, []))
    rss = proportional = 0.0
    for p in seen:
        rss += _kb_field(f"/proc/{p}/status", "VmRSS:")
        if pss:
            proportional += _kb_field(f"/proc/{p}/smaps_rollup", "Pss:")
    out = {"rss_mb": round(rss / 1024, 1), "processes": len(seen)}
    return out | ({"pss_mb": round(proportional / 1024, 1)} if pss else {})


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
