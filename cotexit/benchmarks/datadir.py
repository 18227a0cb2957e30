"""Finding the folder that holds the benchmark files.

Owns the search order: an explicit folder (the CLI's `--data-dir`), then the
`COTEXIT_DATA_DIR` environment variable, then `../shared/data` beside the
repository that holds the `cotexit` package, then `../shared/data` relative to
the working directory. When none applies the answer is `None`: loaders then
fetch the public copies from the Hugging Face hub. What lies inside the folder
is `suites`' business; reading it is `loading`'s.

>>> resolve_data_dir("/nonexistent/folder")
Traceback (most recent call last):
...
FileNotFoundError: data dir '/nonexistent/folder' (from --data-dir) does not exist
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_RELATIVE", "ENV_VAR", "DataDir", "find_data_dir", "repository_root", "resolve_data_dir"]

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


def _checked(path: Path, origin: str) -> DataDir:
    if not path.exists():
        raise FileNotFoundError(f"data dir '{path}' (from {origin}) does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"data dir '{path}' (from {origin}) is not a directory")
    return DataDir(path=path, origin=origin)


def find_data_dir(explicit: str | os.PathLike[str] | None = None) -> DataDir | None:
    """The data folder to read and its origin, or `None` to use the hub.

    An explicit folder or the environment variable must exist (else
    `FileNotFoundError`); the two default locations are used only when present.
    """
    if explicit is not None and str(explicit) != "":
        return _checked(Path(explicit).expanduser(), "--data-dir")
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return _checked(Path(from_env).expanduser(), f"${ENV_VAR}")
    for base, origin in ((repository_root(), "repository default"), (Path.cwd(), "working-directory default")):
        candidate = (base / DEFAULT_RELATIVE).resolve()
        if candidate.is_dir():
            return DataDir(path=candidate, origin=f"{origin} {DEFAULT_RELATIVE.as_posix()}")
    return None


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The data folder to read, or `None` to use the hub; see `find_data_dir`."""
    found = find_data_dir(explicit)
    return None if found is None else found.path
