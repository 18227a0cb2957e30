"""Run the README's commands in order, as a new user would, and fail on any refusal, traceback or coverage warning.

The commands are read from README.md itself: the `cotexit ...` part of the set-up's first command (the main job;
its install part is what CI's own set-up runs) and every line of the bash block under "## First steps". They run
one after another in a fresh copy of the checkout (`git ls-files`, so nothing built or run before is there), with
the `cotexit` of the running interpreter's environment, offline.

    python tests/readme_commands.py            # the commands as written (a few minutes on 2 cores)
    python tests/readme_commands.py --fast     # every --limit capped at 4: what CI runs (tests/test_readme_commands.py)

A command fails when it exits non-zero, prints a traceback, is refused for a folder holding another run's results,
or warns that the probe's guarantee does not cover the run (the first steps use the shipped probe at its own
settings).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAST_LIMIT = 4
BAD = ("Traceback (most recent call last)", "holds results of a run with other settings", "does not cover this run")


@dataclass(frozen=True)
class Outcome:
    command: str
    returncode: int
    output: str

    @property
    def problem(self) -> str | None:
        if self.returncode != 0:
            return f"exit code {self.returncode}"
        flat = " ".join(self.output.split())
        return next((f"printed {bad!r}" for bad in BAD if bad in flat), None)


def _section(readme: str, heading: str) -> str:
    start = readme.index(heading)
    end = readme.find("\n## ", start + len(heading))
    return readme[start : end if end != -1 else len(readme)]


def _bash_blocks(text: str) -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def readme_commands(readme: str) -> list[str]:
    """The set-up's main job and the first steps, in README order."""
    setup = _bash_blocks(_section(readme, "## Set-up"))[0][0]
    main_job = setup.split("&&")[-1].strip()
    if not main_job.startswith("cotexit "):
        raise ValueError(f"the set-up's first command does not end in a cotexit command: {setup!r}")
    first_steps = [line.strip() for block in _bash_blocks(_section(readme, "## First steps")) for line in block if line.strip()]
    if not first_steps or not all(c.startswith("cotexit ") for c in first_steps):
        raise ValueError(f"the first steps should be cotexit commands, got {first_steps}")
    return [main_job, *first_steps]


def capped(command: str, limit: int) -> str:
    """`command` with its `--limit N` lowered to at most `limit`."""
    return re.sub(r"--limit (\d+)", lambda m: f"--limit {min(int(m.group(1)), limit)}", command)


def fresh_copy(dest: Path) -> Path:
    """The checkout's tracked files (as they are in the working tree) under `dest`."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def run_commands(commands: list[str], cwd: Path, timeout_s: float = 900) -> list[Outcome]:
    """Run each command in `cwd` in order; stops at the first that fails."""
    cotexit = Path(sys.executable).parent / "cotexit"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "COLUMNS": "120"}
    outcomes = []
    for command in commands:
        argv = shlex.split(command)
        argv[0] = str(cotexit) if cotexit.exists() else argv[0]
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)
        outcome = Outcome(command, done.returncode, done.stdout + done.stderr)
        outcomes.append(outcome)
        if outcome.problem:
            break
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=f"cap every --limit at {FAST_LIMIT}")
    args = parser.parse_args()
    commands = readme_commands((REPO / "README.md").read_text())
    if args.fast:
        commands = [capped(c, FAST_LIMIT) for c in commands]
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_commands(commands, fresh_copy(Path(tmp) / "cotexit"))
    for outcome in outcomes:
        print(f"{'FAIL' if outcome.problem else 'ok  '} {outcome.command}" + (f": {outcome.problem}" if outcome.problem else ""))
        if outcome.problem:
            print(outcome.output[-3000:])
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
