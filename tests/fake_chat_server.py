"""A stand-in for `vllm serve` with the cotexit plug-in: OpenAI chat completions from a rule, in a thread.

Each prompt holds `= N` ("q3 = 17"); the server thinks a little and answers `\\boxed{N}`. With the probe on
(`vllm_xargs.cotexit_probe` not "none") it thinks less, and a prompt holding the word `flip` gets N + 1: the exit
changed its answer; in a prompt holding `part` the plain run thinks other words from the start (two seeded runs
that parted before the exit). Every request body is recorded; `fail_next` makes the next
requests answer an HTTP error first (a transient 503, a client's 400).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeChatServer:
    def __init__(self, model: str = "toy", probes: tuple[str, ...] = ("toy-probe",)) -> None:
        self.model, self.probes = model, probes
        self.requests: list[dict] = []
        self.fail_next: list[int] = []  # HTTP codes to answer with, one per coming request
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def chats(self) -> list[dict]:
        return [r for r in self.requests if "messages" in r]

    def answer(self, body: dict) -> tuple[int, dict]:
        probe = (body.get("vllm_xargs") or {}).get("cotexit_probe", self.probes[0])
        if probe != "none" and probe not in self.probes:
            return 400, {"error": {"message": f"vllm_xargs['cotexit_probe'] must be one of {list(self.probes) + ['none']}, "
                                              f"got {probe!r}", "type": "BadRequestError", "code": 400}}
        if body.get("model") != self.model:
            return 404, {"error": {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}}
        prompt = body["messages"][-1]["content"]
        value = int(re.search(r"=\s*(-?\d+)", prompt).group(1))
        thinking = "<think>Let me add. Wait, checking again. Hmm, yes."
        if "part" in prompt:  # the plain run samples other tokens from the start: a pair that parted early
            thinking = "<think>Let me count. Wait, checking again. Hmm, yes."
        if probe != "none":
            value += "flip" in prompt
            content, tokens = f"<think>Let me add. Wait,\n</think>\nThe final answer is \\boxed{{{value}}}", 12
        else:
            content, tokens = f"{thinking}\n</think>\nThe final answer is \\boxed{{{value}}}", 20
        return 200, {"id": "chatcmpl-1", "object": "chat.completion", "model": self.model,
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 9, "completion_tokens": tokens, "total_tokens": 9 + tokens}}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, code: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _failure(self, record: dict) -> int | None:
                with server.lock:
                    server.requests.append(record)
                    return server.fail_next.pop(0) if server.fail_next else None

            def do_GET(self) -> None:
                code = self._failure({"path": self.path})
                if code:
                    return self._send(code, {"error": {"message": f"fake failure {code}"}})
                if self.path == "/v1/models":
                    return self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                code = self._failure(body)
                if code:
                    return self._send(code, {"error": {"message": f"fake failure {code}"}})
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                self._send(*server.answer(body))

        return Handler


def prompt_file(path, n: int, flips: set[int] = frozenset()) -> str:
    """A prompt file of `n` prompts `q{i} = {i}`, those in `flips` marked `flip`: the probe changes their answer."""
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "prompt": f"q{i} = {i}" + (" flip" if i in flips else "")}) + "\n")
    return str(path)
