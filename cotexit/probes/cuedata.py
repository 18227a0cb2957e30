"""The collected cue data on disk: features in safetensors shards, everything else in JSON lines.

Owns `CueDataWriter` (append a batch atomically enough to resume: the shard
first, then its cue lines, then its problem lines; a problem counts as done
only once its line is written) and `load_cue_data` (the union of complete
problems, with their cue features stacked into one matrix). `meta.json`
holds the model fingerprint, layers, cues, forced-exit text, the decoding,
the dtype the features were computed in, and provenance; reopening a folder
written for another model or other settings is refused.

A collection over several decoding settings (`collect --temperature 0,0.6,1`)
is a folder of such folders, one per setting, listed in `settings.json`
(`write_settings`, `load_settings`): each problem is collected once in every
setting, and its setting is the folder it lies in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from cotexit.files import follow_umask
from cotexit.jsonlines import append_jsonl, read_jsonl_resumable

PROBLEMS = "problems.jsonl"
CUES = "cues.jsonl"
META = "meta.json"
SETTINGS = "settings.json"
RECORDED_LATER = ("dtype",)  # meta keys older folders lack: resuming one that lacks them is allowed


class CueDataWriter:
    def __init__(self, folder: str | os.PathLike[str], meta: dict[str, Any], match_keys: tuple[str, ...]) -> None:
        self.dir = Path(folder)
        if self.dir.exists() and not self.dir.is_dir():
            raise ValueError(f"--out {self.dir} is a file, not a folder")
        if (self.dir / SETTINGS).exists():
            raise ValueError(f"{self.dir} holds a collection over several settings; collect one setting into another --out")
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = json.loads(json.dumps(meta, default=str))  # compare in saved form (tuples become lists)
        meta_path = self.dir / META
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            changed = [
                k for k in match_keys if old.get(k) != meta.get(k) and not (k in RECORDED_LATER and k not in old)
            ]
            if changed and (self.dir / PROBLEMS).exists():
                raise ValueError(
                    f"{self.dir} holds cue data collected with other settings ({', '.join(changed)} differ); "
                    "use another --out"
                )
        meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        read_jsonl_resumable(self.dir / CUES)  # drops a torn tail so that appends stay clean
        self.done = {p["id"] for p in read_jsonl_resumable(self.dir / PROBLEMS)}
        self._shards = len(list(self.dir.glob("features-*.safetensors")))

    def append(self, problems: list[dict[str, Any]], cues: list[dict[str, Any]], features: torch.Tensor) -> None:
        """Write one batch: `features` (n_cues, D) row i belongs to `cues[i]`."""
        if len(cues) != features.shape[0]:
            raise ValueError(f"{len(cues)} cue records but {features.shape[0]} feature rows")
        shard = f"features-{self._shards:05d}.safetensors"
        self._shards += 1
        save_file({"features": features.contiguous().float()}, str(self.dir / shard))
        follow_umask(self.dir / shard)  # safetensors writes 0600
        for i, cue in enumerate(cues):
            cue.update(shard=shard, row=i)
        append_jsonl(self.dir / CUES, cues)
        append_jsonl(self.dir / PROBLEMS, problems)
        self.done.update(p["id"] for p in problems)


@dataclass
class CueData:
    meta: dict[str, Any]
    problems: list[dict[str, Any]]  # one per problem, in collection order
    cues: list[dict[str, Any]]  # cues of those problems, grouped by problem, in cue order
    features: torch.Tensor  # (n_cues, D), row i for cues[i]

    def cues_by_problem(self) -> list[list[int]]:
        index = {p["id"]: i for i, p in enumerate(self.problems)}
        groups: list[list[int]] = [[] for _ in self.problems]
        for j, cue in enumerate(self.cues):
            groups[index[cue["problem"]]].append(j)
        return groups


def load_cue_data(folder: str | os.PathLike[str]) -> CueData:
    path = Path(folder)
    if not (path / META).is_file() or not (path / PROBLEMS).is_file():
        raise ValueError(f"{path} holds no collected cue data (run `cotexit collect --out {path}` first)")
    meta = json.loads((path / META).read_text())
    problems, seen = [], set()
    for p in read_jsonl_resumable(path / PROBLEMS):
        if p["id"] not in seen:
            seen.add(p["id"])
            problems.append(p)
    cues = [c for c in read_jsonl_resumable(path / CUES) if c["problem"] in seen]
    shards: dict[str, torch.Tensor] = {}
    rows = []
    first: dict[tuple[str, int], bool] = {}
    kept = []
    for cue in cues:
        key = (cue["problem"], cue["index"])
        if key in first:
            continue  # a batch rewritten after an interruption
        first[key] = True
        if cue["shard"] not in shards:
            shards[cue["shard"]] = load_file(str(path / cue["shard"]))["features"]
        rows.append(shards[cue["shard"]][cue["row"]])
        kept.append(cue)
    order = {p["id"]: i for i, p in enumerate(problems)}
    perm = sorted(range(len(kept)), key=lambda j: (order[kept[j]["problem"]], kept[j]["index"]))
    dim = len(meta["features"]["layers"]) * int(meta["features"]["hidden_size"])
    features = torch.stack([rows[j] for j in perm]) if rows else torch.zeros((0, dim))
    return CueData(meta=meta, problems=problems, cues=[kept[j] for j in perm], features=features)


def write_settings(folder: str | os.PathLike[str], settings: list[dict[str, Any]]) -> None:
    """Record the settings of a multi-setting collection (each {"name", "decode"}; data in `folder/name`).

    Refuses a folder that holds another list (or single-setting data): a resumed collection has the same one."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path} is a file, not a folder")
    if (path / META).exists():
        raise ValueError(f"{path} holds cue data of one setting; collect several settings into another --out")
    settings = json.loads(json.dumps(settings))
    names = [s["name"] for s in settings]
    if len(set(names)) != len(names):
        raise ValueError(f"the settings repeat one another: {names}")
    if (path / SETTINGS).exists():
        old = json.loads((path / SETTINGS).read_text())["settings"]
        if old != settings:
            raise ValueError(
                f"{path} holds a collection over settings {[s['name'] for s in old]}, not {names}; use another --out"
            )
    path.mkdir(parents=True, exist_ok=True)
    (path / SETTINGS).write_text(json.dumps({"settings": settings}, indent=2) + "\n")
    follow_umask(path / SETTINGS)


def load_settings(folder: str | os.PathLike[str]) -> dict[str, CueData] | None:
    """{setting name: its cue data} of a multi-setting collection, in collection order; None for a one-setting
    folder."""
    path = Path(folder)
    if not (path / SETTINGS).is_file():
        return None
    settings = json.loads((path / SETTINGS).read_text())["settings"]
    return {s["name"]: load_cue_data(path / s["name"]) for s in settings}
