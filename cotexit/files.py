"""File modes that follow the user's umask, for every file and folder cotexit writes.

Owns `current_umask` and `follow_umask`. Some writers create files more
privately than the umask asks: `tempfile.mkdtemp` makes 0700 folders (an
artifact is staged in one, then renamed into place) and safetensors' `save_file`
writes 0600 files (weights, evidence, collected features). On a shared
machine others could then not read what a run produced. Every such writer
calls `follow_umask` on what it made, so the final modes are what `open` and
`mkdir` would have given: 0666 & ~umask for files, 0777 & ~umask for folders.
What is written, and where, is the writers' business.

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> follow_umask(folder) == 0o777 & ~current_umask()
    True
    >>> os.rmdir(folder)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["current_umask", "follow_umask", "follow_umask_tree"]

_LOCK = threading.Lock()
_STATUS = Path("/proc/self/status")


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux reports it in /proc/self/status; elsewhere it is read by setting it and
    restoring it at once, under a lock so that cotexit's own threads never see the
    temporary value.
    """
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def follow_umask(path: str | os.PathLike[str]) -> int:
    """Give `path` (a file or a folder, not followed if a link) the mode `open`/`mkdir` would; return that mode."""
    path = Path(path)
    if path.is_symlink():
        raise ValueError(f"follow_umask sets modes of files and folders cotexit wrote; {path} is a link")
    mode = (0o777 if path.is_dir() else 0o666) & ~current_umask()
    os.chmod(path, mode)
    return mode


def follow_umask_tree(root: str | os.PathLike[str]) -> None:
    """`follow_umask` on `root` and every file and folder under it (links are left alone)."""
    root = Path(root)
    follow_umask(root)
    for path in sorted(root.rglob("*")):
        if not path.is_symlink():
            follow_umask(path)
