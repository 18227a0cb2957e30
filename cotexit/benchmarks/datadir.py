"""Finding the folder that holds the benchmark files.

Owns the search order: an explicit folder (the CLI's `--data-dir`), then the
`COTEXIT_DATA_DIR` environment variable, then `../shared/data` beside the
repository that holds the `cotexit` package, then `../shared/data` relative to
the working directory, then the user's data folder (`user_data_dir`, where
`cotexit data fetch` writes). When none applies the answer is `None`: loaders
then fetch the public copies from the Hugging Face hub. `searched` says where
the search looked, for messages when nothing was found. What lies inside the
folder is `suites`' business; reading it is `loading`'s.

>>> resolve_data_dir("/nonexistent/folder")
Traceback (most recent call last):
...
FileNotFoundError: data dir '/nonexistent/folder' (from --data-dir) does not exist
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_RELATIVE",
    "ENV_VAR",
    "DataDir",
    "find_data_dir",
    "repository_root",
    "resolve_data_dir",
    "searched",
    "user_data_dir",
]

ENV_VAR = "COTEXIT_DATA_DIR"
DEFAULT_RELATIVE = Path("..") / "shared" / "data"


@dataclass(frozen=True)
class DataDir:
    """A resolved data folder and where the choice came from (for messages and provenance)."""

    path: Path
    origin: str

    def __post_init__(self) -> None:
        if not self.origin:
            raise ValueError("DataDir.origin must be non-empty, e.g. '--data-dir'")


def repository_root() -> Path:
    """The folder that contains the `cotexit` package (the checkout root in a source install)."""
    return Path(__file__).resolve().parents[2]  # cotexit/benchmarks/datadir.py


def user_data_dir() -> Path:
    """The user's benchmark folder: `data` in cotexit's cache ($COTEXIT_CACHE, else $XDG_CACHE_HOME/cotexit, else
    ~/.cache/cotexit, as for fetched models); `cotexit data fetch` writes there by default."""
    explicit = os.environ.get("COTEXIT_CACHE")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cotexit"
    return base.expanduser() / "data"


def _checked(path: Path, origin: str) -> DataDir:
    if not path.exists():
        raise FileNotFoundError(f"data dir '{path}' (from {origin}) does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"data dir '{path}' (from {origin}) is not a directory")
    return DataDir(path=path, origin=origin)


def _defaults() -> list[tuple[Path, str]]:
    """The default folders, in search order, each with its origin; a folder reached twice is listed once."""
    places = [
        ((repository_root() / DEFAULT_RELATIVE).resolve(), f"repository default {DEFAULT_RELATIVE.as_posix()}"),
        ((Path.cwd() / DEFAULT_RELATIVE).resolve(), f"working-directory default {DEFAULT_RELATIVE.as_posix()}"),
        (user_data_dir(), "user default (where `cotexit data fetch` writes)"),
    ]
    seen: set[Path] = set()
    unique = []
    for path, origin in places:
        if path not in seen:
            seen.add(path)
            unique.append((path, origin))
    return unique


def find_data_dir(explicit: str | os.PathLike[str] | None = None) -> DataDir | None:
    """The data folder to read and its origin, or `None` to use the hub.

    An explicit folder or the environment variable must exist (else
    `FileNotFoundError`); the default locations are used only when present.
    """
    if explicit is not None and str(explicit) != "":
        return _checked(Path(explicit).expanduser(), "--data-dir")
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return _checked(Path(from_env).expanduser(), f"${ENV_VAR}")
    for candidate, origin in _defaults():
        if candidate.is_dir():
            return DataDir(path=candidate, origin=origin)
    return None


def searched() -> str:
    """Where `find_data_dir` looked when it found nothing, in order, for a one-line message.

    >>> "--data-dir (not given)" in searched()
    True
    """
    places = ["--data-dir (not given)", f"${ENV_VAR} (not set)"]
    places += [f"{path} (no such folder)" for path, _ in _defaults()]
    return ", ".join(places)


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The data folder to read, or `None` to use the hub; see `find_data_dir`."""
    found = find_data_dir(explicit)
    return None if found is None else found.path
