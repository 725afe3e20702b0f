"""An OpenAI-compatible /v1/chat/completions server on loopback that injects faults.

Each prompt's first attempts fail in the way `faults(prompt)` says, then it is answered.
Faults: an HTTP status ("429", "500", "401", ...), "429ra1" (a 429 whose Retry-After asks
for 1 s), "timeout" (answers after the client gave up), "garbage" (a body
that is not JSON), "no-choices" (valid JSON without choices). It counts every request and every
successful answer per prompt, the time of every attempt and the last request body per prompt,
and remembers the Authorization headers it saw. Answers end with finish_reason "stop", or
"length" for a prompt that contains "long".
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, faults: Callable[[str], list[str]], timeout_sleep: float = 1.0) -> None:
        self.faults = faults
        self.timeout_sleep = timeout_sleep
        self.attempts: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.requests = 0
        self.auth: set[str] = set()
        self.times: dict[str, list[float]] = {}
        self.bodies: dict[str, dict] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        body = json.loads(req.rfile.read(int(req.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        with self.lock:
            self.requests += 1
            self.auth.add(req.headers.get("Authorization", ""))
            attempt = self.attempts[prompt]
            self.attempts[prompt] += 1
            self.times.setdefault(prompt, []).append(time.monotonic())
            self.bodies[prompt] = body
        plan = self.faults(prompt)
        fault = plan[attempt] if attempt < len(plan) else "ok"
        try:
            if fault.isdigit():
                self._send(req, int(fault), b'{"error": {"message": "try later"}}')
            elif fault.startswith("429ra"):
                self._send(req, 429, b'{"error": {"message": "slow down"}}',
                           {"Retry-After": fault.removeprefix("429ra")})  # fmt: skip
            elif fault == "timeout":
                time.sleep(self.timeout_sleep)
                self._send(req, 200, self._answer(body, prompt, count=False))
            elif fault == "garbage":
                self._send(req, 200, b"<html>upstream error</html>")
            elif fault == "no-choices":
                self._send(req, 200, b'{"object": "chat.completion"}')
            else:
                self._send(req, 200, self._answer(body, prompt, count=True))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and hung up

    def _answer(self, body: dict, prompt: str, count: bool) -> bytes:
        if count:
            with self.lock:
                self.answered[prompt] += 1
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": f"{prompt} -> {i}"},
                "finish_reason": "length" if "long" in prompt else "stop",
            }
            for i in range(body.get("n", 1))
        ]
        return json.dumps({"object": "chat.completion", "choices": choices}).encode()

    @staticmethod
    def _send(
        req: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict | None = None
    ) -> None:
        req.send_response(status)
        for name, value in (headers or {}).items():
            req.send_header(name, value)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)
