"""Chat completions against a running server, many at once: one request's outcome, and a closed loop of them.

Owns `Outcome` (what came back for one request: HTTP status, latency, the
response or the streamed chunks put together, and what was wrong with it),
`chat` (one request, streamed or not, optionally cancelled after a number
of streamed chunks), `closed_loop` (a list of requests kept `concurrency`
at a time until all are done, with the wall time) and `thinking_tokens`.
aiohttp only; what to send and what the answers mean are the callers'.
A streamed response is checked as it arrives: every event is `data: JSON`
with choices, the stream ends with `data: [DONE]`, and each choice ends
with one finish reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

THINK_END_ID = 7  # the toy tokenizer's `</think>` (cotexit/models/weights/toy/tokenizer.json)


@dataclass
class Outcome:
    """One request's result. `kind`: "ok", "http_error" (a status other than 200), "cancelled" (the client
    closed a stream on purpose), "malformed" (200 but not a well-formed completion: `problem` says why) or
    "transport" (no answer: refused, reset, timed out)."""

    kind: str
    status: int | None
    latency_s: float
    response: dict[str, Any] | None = None
    problem: str | None = None
    chunks: int = 0
    tag: dict[str, Any] = field(default_factory=dict)
    sent_at: float = 0.0  # time.monotonic() when it was sent

    def choices(self) -> list[dict[str, Any]]:
        return (self.response or {}).get("choices") or []


async def chat(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], *, cancel_after: int | None = None,
    timeout_s: float = 600.0, tag: dict[str, Any] | None = None,
) -> Outcome:
    """POST `body` to `url`/v1/chat/completions; streamed if `body["stream"]`. With `cancel_after`, a stream is
    closed after that many events (the server sees the client go away)."""
    began = time.monotonic()
    tag = tag or {}
    outcome = await _post(session, url, body, began, cancel_after, timeout_s, tag)
    outcome.sent_at = began
    return outcome


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any], began: float, cancel_after: int | None,
                timeout_s: float, tag: dict[str, Any]) -> Outcome:
    try:
        async with session.post(f"{url}/v1/chat/completions", json=body,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as reply:
            if reply.status != 200:
                text = await reply.text()
                try:
                    detail = json.loads(text)
                except ValueError:
                    detail = {"raw": text[:500]}
                return Outcome("http_error", reply.status, time.monotonic() - began, detail, tag=tag)
            if not body.get("stream"):
                try:
                    response = await reply.json()
                except (ValueError, aiohttp.ContentTypeError) as exc:
                    return Outcome("malformed", 200, time.monotonic() - began, None, f"not JSON: {exc}", tag=tag)
                problem = _check_response(response, body.get("n") or 1)
                return Outcome("malformed" if problem else "ok", 200, time.monotonic() - began, response, problem, tag=tag)
            return await _read_stream(reply, body, began, cancel_after, tag)
    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
        return Outcome("transport", None, time.monotonic() - began, None, f"{type(exc).__name__}: {exc}", tag=tag)


async def _read_stream(reply: aiohttp.ClientResponse, body: dict[str, Any], began: float, cancel_after: int | None,
                       tag: dict[str, Any]) -> Outcome:
    n = body.get("n") or 1
    texts, reasoning = [""] * n, [""] * n
    finish: list[str | None] = [None] * n
    token_ids: list[list[int]] = [[] for _ in range(n)]
    usage, events, done, problem = None, 0, False, None
    async for raw in reply.content:
        line = raw.decode(errors="replace").strip()
        if not line:
            continue
        if not line.startswith("data: "):
            problem = problem or f"a stream line that is not an event: {line[:80]!r}"
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            done = True
            break
        try:
            event = json.loads(data)
        except ValueError:
            problem = problem or f"an event that is not JSON: {data[:80]!r}"
            continue
        if "error" in event:
            problem = problem or f"an error event: {str(event['error'])[:200]}"
            continue
        events += 1
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            i = choice.get("index", 0)
            if not 0 <= i < n:
                problem = problem or f"choice index {i} of n={n}"
                continue
            if finish[i] is not None and (choice.get("delta") or {}).get("content"):
                problem = problem or f"choice {i} has text after its finish reason"
            delta = choice.get("delta") or {}
            texts[i] += delta.get("content") or ""
            reasoning[i] += delta.get("reasoning") or delta.get("reasoning_content") or ""
            token_ids[i] += choice.get("token_ids") or []
            if choice.get("finish_reason") is not None:
                finish[i] = choice["finish_reason"]
        if cancel_after is not None and events >= cancel_after:
            reply.close()  # drop the connection mid-stream, as a client that goes away does
            return Outcome("cancelled", 200, time.monotonic() - began, None, None, events, tag)
    latency = time.monotonic() - began
    choices = [{"index": i, "message": {"role": "assistant", "content": texts[i], "reasoning": reasoning[i] or None},
                "finish_reason": finish[i], "token_ids": token_ids[i]} for i in range(n)]
    response = {"choices": choices, "usage": usage}
    if problem is None and not done:
        problem = "the stream ended without data: [DONE]"
    if problem is None and any(f is None for f in finish):
        problem = f"a choice without a finish reason: {finish}"
    return Outcome("malformed" if problem else "ok", 200, latency, response, problem, events, tag)


def _check_response(response: Any, n: int) -> str | None:
    """Why a non-streamed chat completion is not well-formed, or None."""
    if not isinstance(response, dict) or not isinstance(response.get("choices"), list):
        return "no choices list"
    if len(response["choices"]) != n:
        return f"{len(response['choices'])} choices for n={n}"
    for choice in response["choices"]:
        message = choice.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), (str, type(None))):
            return f"choice {choice.get('index')}: no message"
        if choice.get("finish_reason") not in ("stop", "length"):
            return f"choice {choice.get('index')}: finish reason {choice.get('finish_reason')!r}"
    usage = response.get("usage") or {}
    if not isinstance(usage.get("completion_tokens"), int) or usage["completion_tokens"] < 1:
        return f"usage without completion tokens: {usage}"
    return None


def thinking_tokens(choice: dict[str, Any]) -> int | None:
    """Tokens the choice spent thinking: those before its first `</think>` (all when thinking never closed),
    from the token ids the server returned (`return_token_ids`); None without them."""
    ids = choice.get("token_ids")
    if not ids:
        return None
    return ids.index(THINK_END_ID) if THINK_END_ID in ids else len(ids)


async def closed_loop(
    url: str, requests: Sequence[dict[str, Any]], concurrency: int, *, timeout_s: float = 600.0,
) -> tuple[list[Outcome], float]:
    """Send `requests` (each {"body": ..., optional "cancel_after", "tag"}) with `concurrency` in flight, each
    worker taking the next as its last finishes; (outcomes in request order, wall seconds first send to last
    answer)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
    outcomes: list[Outcome | None] = [None] * len(requests)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    # keep-alive shorter than the server's (uvicorn closes a connection idle 5 s): else a pooled connection the
    # server has just closed can be reused, and the request fails with "Server disconnected"
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=2.0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                r = requests[i]
                outcomes[i] = await chat(session, url, r["body"], cancel_after=r.get("cancel_after"),
                                         timeout_s=timeout_s, tag=r.get("tag"))

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests)))))
        wall = time.monotonic() - began
    return [o for o in outcomes if o is not None], wall
