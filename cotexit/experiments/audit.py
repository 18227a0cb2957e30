"""Auditing a served probe on live traffic: each sampled prompt sent with and without the probe, the answers compared.

Owns `AuditConfig` (what an audit is: the probe, the bound, the sample, the
decoding; what a resumed audit must share), `AuditItem` and `load_items`
(the prompts, from a prompt file or a suite), `sampled` and `pair_seed`
(which prompts are audited and the seed both runs of a pair share: hashes
of the prompt's id, so a resumed or repeated audit picks the same ones),
`AuditLog` (`DIR/run.json` and `DIR/audit.jsonl`, one line per audited
prompt, and the live check replayed from it) and `run_audit`, a generator
that sends the pairs and yields one `AuditEvent` per audited prompt.

One pair: two chat completions with the same prompt and seed, one with
`"vllm_xargs": {"cotexit_probe": PROBE}`, one with `"cotexit_probe":
"none"` (`cotexit.engines.vllm.serve`). With the same seed both sample the
same tokens until the probe exits, so any difference in the final answers
is the exit's doing (up to the server's numerics: batched floating point
can part two seeded runs, which then counts against the probe). The loss is
an answer change (`cotexit.benchmarks.grading.same_answer` on the answers
`predicted_answer` extracts), or harm (right without the probe, wrong with
it) when the items have gold answers and the audit asks for it; the test is
`cotexit.experiments.live_check.LiveCheck`'s, the anytime-valid
`BoundMonitor`, fed in the order of the prompts, so looking after every
audit, stopping at any time and resuming keep its level. Talking HTTP is
`served`'s; the summary and plot are `audit_report`'s; rendering is the CLI's.

>>> sampled("q7", 1.0, seed=0), sampled("q7", 0.0, seed=0)
(True, False)
>>> pair_seed(0, "q7") == pair_seed(0, "q7") != pair_seed(1, "q7")
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cotexit.benchmarks.grading import grade_answer, predicted_answer, same_answer
from cotexit.calibration.monitor import BoundMonitor
from cotexit.experiments.live_check import LOSSES, LiveCheck
from cotexit.experiments.served import THINK_END, ChatClient, completion_texts
from cotexit.jsonlines import append_jsonl, read_jsonl_resumable

__all__ = ["AuditConfig", "AuditEvent", "AuditItem", "AuditLog", "load_items", "pair_seed", "run_audit", "sampled"]

SCHEMA_VERSION = 1
OFF = "none"  # the plug-in's "no probe" (cotexit.engines.vllm.serve.OFF; not imported: that module needs vLLM)


@dataclass(frozen=True)
class AuditItem:
    """One prompt: `id` (stable across reads of the source), the user message, the gold answer if known."""

    id: str
    prompt: str
    answer: str | None = None


@dataclass(frozen=True)
class AuditConfig:
    """What an audit is; every field must match for a resumed audit (`AuditLog` refuses a folder that differs).

    `source` names the prompts (`{"prompts": FILE}` or `{"suite": NAME, "split": SPLIT}`); `model` is the name
    the server serves; `temperature` and `max_tokens` None are the server's defaults (not sent).
    """

    probe: str
    epsilon: float
    model: str
    source: dict[str, Any]
    delta: float = 0.1
    loss: str = "answer-change"
    sample_fraction: float = 1.0
    seed: int = 0
    temperature: float | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.probe, str) or not self.probe.strip() or self.probe == OFF:
            raise ValueError(f"probe must name a probe the server runs (its folder name), got {self.probe!r}")
        for name in ("epsilon", "delta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be the served model's name, got {self.model!r}")
        fraction = self.sample_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
            raise ValueError(f"sample_fraction must be a number in (0, 1], got {fraction!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        t = self.temperature
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or t < 0):
            raise ValueError(f"temperature must be a number >= 0 or None (the server's default), got {t!r}")
        m = self.max_tokens
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"max_tokens must be an integer >= 1 or None (the server's default), got {m!r}")
        if not isinstance(self.source, dict) or not ({"prompts"} <= set(self.source) or {"suite"} <= set(self.source)):
            raise ValueError(f"source must be {{'prompts': FILE}} or {{'suite': NAME, 'split': SPLIT}}, got {self.source!r}")

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def source_name(self) -> str:
        """The prompts in a few words: the prompt file's name, or the suite and split."""
        if "prompts" in self.source:
            return Path(self.source["prompts"]).name
        return " ".join(str(v) for v in (self.source["suite"], self.source.get("split")) if v)

    def chat_body(self, item: AuditItem, probe: str) -> dict[str, Any]:
        """The chat-completion request for `item` with `probe` (`OFF`: without), seeded by `pair_seed`."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": item.prompt}],
            "seed": pair_seed(self.seed, item.id),
            "skip_special_tokens": False,  # keep a thinking end that the tokenizer marks special in the text
            "vllm_xargs": {"cotexit_probe": probe},
        }
        if self.temperature is not None:
            body["temperature"] = float(self.temperature)
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body


def _unit(text: str) -> float:
    """A number in [0, 1) from the SHA-256 of `text`."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def sampled(item_id: str, fraction: float, seed: int) -> bool:
    """Whether prompt `item_id` is in the audit's sample: a seeded hash of the id below `fraction`, so each
    prompt is in or out for good, whatever order or pass it is read in."""
    return _unit(f"cotexit-audit-sample:{seed}:{item_id}") < fraction


def pair_seed(seed: int, item_id: str) -> int:
    """The sampling seed both requests of `item_id`'s pair send (31 bits)."""
    return int.from_bytes(hashlib.sha256(f"cotexit-audit-pair:{seed}:{item_id}".encode()).digest()[:4], "big") >> 1


def load_items(
    prompts: str | os.PathLike[str] | None = None,
    suite: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    data_dir: str | None = None,
) -> list[AuditItem]:
    """The prompts of a prompt file (no gold; ids are the file's own, so another spelling of its path is the
    same audit) or of a suite (`build_prompt` of each problem, with its gold answer)."""
    if (prompts is None) == (suite is None):
        raise ValueError("give a prompt file or a suite to audit, not " + ("both" if prompts is not None else "neither"))
    if prompts is not None:
        from cotexit.benchmarks.prompt_files import load_prompts

        prefix = f"{prompts}/"
        return [AuditItem(p.id.removeprefix(prefix), p.prompt) for p in load_prompts(prompts, limit=limit)]
    from cotexit.benchmarks.loading import load_problems
    from cotexit.benchmarks.prompts import build_prompt

    return [AuditItem(p.id, build_prompt(p), p.answer) for p in load_problems(suite, split, limit, data_dir)]


class AuditLog:
    """`DIR/run.json` (the config) and `DIR/audit.jsonl` (the audited pairs), with the live check replayed.

    Opening a folder that holds pairs audited under another config raises `ValueError` naming what changed.
    """

    def __init__(self, out_dir: str | os.PathLike[str], config: AuditConfig) -> None:
        self.dir, self.config = Path(out_dir), config
        if self.dir.exists() and not self.dir.is_dir():
            raise ValueError(f"--out {self.dir} is a file, not a folder")
        self.path, self.run_json = self.dir / "audit.jsonl", self.dir / "run.json"
        settings = config.to_json()
        if self.run_json.exists() and self.path.exists() and self.path.stat().st_size > 0:
            before = json.loads(self.run_json.read_text())
            changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
            if changed:
                detail = ", ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
                raise ValueError(f"{self.dir} holds an audit with other settings ({detail}); use another --out")
        self.rows = read_jsonl_resumable(self.path)
        self.live = LiveCheck(config.epsilon, config.delta, loss=config.loss)
        for row in self.rows:
            self.live.add(row)
        self.done = {row["id"] for row in self.rows}
        self._settings_written = bool(self.rows)  # they matched; else (re)write them with the first pair

    @property
    def monitor(self) -> BoundMonitor:
        return self.live.monitor

    def append(self, row: dict[str, Any]) -> bool:
        """Audit one pair (`pair_row`), write it with the monitor's state after it; True if the test rejects at it."""
        if row["id"] in self.done:
            raise ValueError(f"prompt {row['id']!r} is already audited in {self.path}")
        first_rejection = self.live.add(row)
        m = self.live.monitor
        row = {**row, "audit": m.n, "monitor": {"losses": m.losses, "e_value": m.e_value, "lower": m.lower,
                                                 "upper": m.upper, "rejected": m.rejected}}
        if not self._settings_written:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.run_json.write_text(json.dumps(self.config.to_json(), indent=2, sort_keys=True) + "\n")
            self._settings_written = True
        append_jsonl(self.path, [row])
        self.rows.append(row)
        self.done.add(row["id"])
        return first_rejection


def _run(response: dict[str, Any], gold: str | None) -> tuple[dict[str, Any], str, str]:
    """One run's record (its answer, grade, how it finished, its tokens), its whole text and its thinking."""
    text, answer_text = completion_texts(response)
    prediction = predicted_answer(SimpleNamespace(text=text, answer_text=answer_text))
    choice = response["choices"][0]
    thinking = text[: len(text) - len(answer_text)].removesuffix(THINK_END).rstrip()
    record = {
        "prediction": prediction,
        "correct": grade_answer(gold, prediction),
        "finish_reason": choice.get("finish_reason"),
        "completion_tokens": (response.get("usage") or {}).get("completion_tokens"),
    }
    return record, text, thinking


def pair_row(item: AuditItem, treated: dict[str, Any], plain: dict[str, Any], seed: int) -> dict[str, Any]:
    """An audited pair as `LiveCheck` reads it: the probe's run at the top level, the plain run under `full`.

    `parted_before_exit`: the plain run's text does not start with the probe run's thinking, so the two seeded
    runs sampled different tokens before the probe could have acted (the server's numerics; a change then is
    not the exit's doing, and still counts against it)."""
    (exit_run, text, thinking), (full, full_text, _) = _run(treated, item.answer), _run(plain, item.answer)
    return {
        "schema_version": SCHEMA_VERSION,
        "id": item.id,
        "seed": seed,
        **exit_run,
        "full": full,
        "same_text": text == full_text,
        "parted_before_exit": not full_text.startswith(thinking),
        "answer_changed": not same_answer(full["prediction"], exit_run["prediction"]),
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


@dataclass(frozen=True)
class AuditEvent:
    """After each audited prompt: the pair (`row`, as written), how many are audited in all and left in this pass,
    and whether the test first rejected at this one."""

    row: dict[str, Any]
    audited: int
    left: int
    rejected_now: bool


def todo(items: Iterable[AuditItem], config: AuditConfig, done: set[str]) -> tuple[list[AuditItem], int]:
    """(the sampled items not audited yet, in order; how many items are in the sample at all)."""
    items = list(items)
    if config.loss == "harm" and any(item.answer is None for item in items):
        raise ValueError("loss 'harm' needs gold answers, and these prompts have none: audit 'answer-change'")
    chosen = [item for item in items if sampled(item.id, config.sample_fraction, config.seed)]
    return [item for item in chosen if item.id not in done], len(chosen)


def _send(client: ChatClient, body: dict[str, Any]) -> Future:
    """Send in a daemon thread (an interrupted audit never waits for a request in flight)."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(client.chat(body))
        except BaseException as exc:  # handed to the caller, who raises it
            future.set_exception(exc)

    threading.Thread(target=work, daemon=True).start()
    return future


def run_audit(
    client: ChatClient,
    items: Iterable[AuditItem],
    log: AuditLog,
    *,
    concurrency: int = 1,
    stop_on_reject: bool = True,
) -> Iterator[AuditEvent]:
    """Audit the items not in `log` yet, in order, `concurrency` pairs in flight (both requests of a pair sent
    together); each finished pair is written and yields an event. Stops after the pair at which the test
    rejects unless not `stop_on_reject` (it never starts when the log's replay has rejected already).
    A request that keeps failing raises `served.ServerError`; the pairs written before it are kept."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    config = log.config
    pending, _ = todo(items, config, log.done)
    if stop_on_reject and log.monitor.rejected:
        return
    queue, window = deque(pending), deque()

    def submit() -> None:
        item = queue.popleft()
        treated, plain = config.chat_body(item, config.probe), config.chat_body(item, OFF)
        window.append((item, _send(client, treated), _send(client, plain)))

    while queue and len(window) < concurrency:
        submit()
    while window:
        item, treated, plain = window.popleft()
        row = pair_row(item, treated.result(), plain.result(), pair_seed(config.seed, item.id))
        rejected_now = log.append(row)
        if queue and not (rejected_now and stop_on_reject):
            submit()
        yield AuditEvent(log.rows[-1], log.monitor.n, len(queue) + len(window), rejected_now)
        if rejected_now and stop_on_reject:
            return  # pairs still in flight finish in their threads, unrecorded
