"""Talking to a running OpenAI-compatible server (`vllm serve` with the cotexit plug-in): chat completions over HTTP.

Owns `ChatClient` (list the served models, send one chat completion, retry
what is transient), `RequestPacer` (at most R requests per second, shared
by every thread that sends), `ServerError` (what the caller shows the user
in one line) and `completion_texts` (a response's whole text and its answer
part). Standard library only (`urllib.request`). What to send and what the
answers mean are the caller's (`cotexit.experiments.audit`).

Retried: a refused or reset connection, a timeout, HTTP 429 and 5xx, each
at most `retries` times with doubling waits. Not retried: any other 4xx (a
bad model name, a probe the server does not run: the client's mistake,
which will not mend by waiting) and a reply that is not JSON.

>>> pacer = RequestPacer(max_rate=2.0, clock=iter([0.0, 0.1, 0.2]).__next__, sleep=lambda s: print(f"wait {s:.1f}"))
>>> pacer.wait(); pacer.wait()
wait 0.4
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ChatClient", "RequestPacer", "ServerError", "completion_texts"]

THINK_END = "</think>"


class ServerError(RuntimeError):
    """The server could not be reached, or refused a request: `str()` is one line for the user."""


class RequestPacer:
    """Spaces requests at least 1/`max_rate` seconds apart (None: no limit); safe to share between threads."""

    def __init__(
        self,
        max_rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_rate is not None and (isinstance(max_rate, bool) or not isinstance(max_rate, (int, float)) or not max_rate > 0):
            raise ValueError(f"max_rate must be a number of requests per second > 0, or None, got {max_rate!r}")
        self.interval = 0.0 if max_rate is None else 1.0 / float(max_rate)
        self._clock, self._sleep = clock, sleep
        self._next = None  # the earliest time the next request may go
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this caller may send one request."""
        if not self.interval:
            return
        with self._lock:  # reserve a slot, then sleep outside the lock
            now = self._clock()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class ChatClient:
    """An OpenAI-compatible server at `url` (`http://HOST:PORT`, with or without `/v1`).

    >>> client = ChatClient("http://127.0.0.1:8000")
    >>> client.base
    'http://127.0.0.1:8000/v1'
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 600.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        pacer: RequestPacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"the server URL must start with http:// or https://, got {url!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        base = url.rstrip("/")
        self.base = base if base.endswith("/v1") else base + "/v1"
        self.timeout_s, self.retries, self.backoff_s = float(timeout_s), retries, float(backoff_s)
        self.pacer = pacer or RequestPacer(None)
        self._sleep = sleep

    def models(self) -> list[str]:
        """The ids of the models the server serves (`GET /v1/models`)."""
        body = self._call("GET", "/models", None)
        try:
            return [str(m["id"]) for m in body["data"]]
        except (KeyError, TypeError) as exc:
            raise ServerError(f"GET {self.base}/models: not an OpenAI model list ({exc!r})") from None

    def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """One chat completion (`POST /v1/chat/completions`); the response as JSON."""
        response = self._call("POST", "/chat/completions", dict(body))
        if not isinstance(response.get("choices"), list) or not response["choices"]:
            raise ServerError(f"POST {self.base}/chat/completions: a response without choices: {str(response)[:200]}")
        return response

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        url = self.base + path
        data = None if body is None else json.dumps(body).encode()
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            self.pacer.wait()
            request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                detail = _error_detail(exc)
                if exc.code != 429 and exc.code < 500:
                    raise ServerError(f"{method} {url}: HTTP {exc.code}: {detail}") from None
                last = f"HTTP {exc.code}: {detail}"
                continue
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"cannot reach the server ({reason})"
                continue
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                raise ServerError(f"{method} {url}: the reply is not JSON: {raw[:200]!r}") from None
        tries = f"{self.retries + 1} tries" if self.retries else "1 try"
        raise ServerError(f"{method} {url}: {last} (gave up after {tries})")


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The server's own message from an OpenAI-style error body, else the start of the body, on one line."""
    try:
        raw = exc.read()
    except OSError:
        raw = b""
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = raw.decode(errors="replace")[:300] or exc.reason
    return " ".join(str(message).split())


def completion_texts(response: Mapping[str, Any], think_end: str = THINK_END) -> tuple[str, str]:
    """(whole text, answer part) of a chat completion's first choice.

    A server that splits the reasoning out (`--reasoning-parser`) returns it as `reasoning_content` (or
    `reasoning`) and the answer as `content`; otherwise `content` holds both and the answer is what follows the
    last `think_end` ("" when thinking never closed).

    >>> completion_texts({"choices": [{"message": {"content": "<think>2+2 is 4. Wait,\\n</think>\\n4"}}]})
    ('<think>2+2 is 4. Wait,\\n</think>\\n4', '\\n4')
    """
    message = response["choices"][0].get("message") or {}
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        return reasoning + content, content
    cut = content.rfind(think_end)
    return content, (content[cut + len(think_end) :] if cut >= 0 else "")
