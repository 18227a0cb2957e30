"""JSON lines that survive interruption: append with fsync, read back dropping a torn tail.

Owns `append_jsonl` and `read_jsonl_resumable`, used by every resumable
output (benchmark results, collected cue data).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append rows and flush them to disk before returning."""
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl_resumable(path: Path) -> list[dict[str, Any]]:
    """Rows of `path` up to the first torn or malformed line; the file is truncated there so appends stay clean."""
    if not path.exists():
        return []
    rows, good_bytes = [], 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError:
                break
            good_bytes += len(raw)
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good_bytes)
    return rows
