"""OpenAI-compatible chat-completions backend (closed teachers, or `vllm serve` endpoints).

The key is read from the environment variable the config names and is only ever placed in the
Authorization header: it is never logged, written to results, or put in an error message.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..chat import messages
from .base import Decoding

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class APIKeyMissing(RuntimeError):
    pass


def api_key(api: dict[str, Any]) -> str:
    name = api.get("api_key_env", "OPENAI_API_KEY")
    key = os.environ.get(name)
    if not key:
        raise APIKeyMissing(f"environment variable {name} is not set (it must hold the API key)")
    return key


def request_body(
    instruction: str, api: dict[str, Any], decoding: Decoding, system: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": api["model"],
        "messages": messages(instruction, system=system),
        "max_tokens": decoding.max_new_tokens,
        "temperature": decoding.temperature,
        "n": decoding.n,
    }
    if not decoding.greedy:
        body["top_p"] = decoding.top_p
    return body


def parse_response(payload: dict[str, Any], n: int) -> list[str]:
    choices = sorted(payload["choices"], key=lambda c: c.get("index", 0))
    texts = [c["message"]["content"] or "" for c in choices]
    if len(texts) != n:
        raise ValueError(f"endpoint returned {len(texts)} choices, expected {n}")
    return [t.strip() for t in texts]


class OpenAIBackend:
    def __init__(self, teacher: dict[str, Any], decoding: Decoding) -> None:
        self.api = teacher["api"]
        self.system = teacher.get("system_prompt")
        self.decoding = decoding
        self._key = api_key(self.api)
        self.url = self.api.get("base_url", "https://api.openai.com/v1").rstrip("/")
        self.url += "/chat/completions"

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        retries = int(self.api.get("max_retries", 8))
        timeout = float(self.api.get("timeout_s", 120))
        data = json.dumps(body).encode()
        for attempt in range(retries + 1):
            req = urllib.request.Request(
                self.url,
                data=data,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self._key}",
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS or attempt == retries:
                    raise RuntimeError(f"endpoint answered HTTP {exc.code}") from None
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
                if attempt == retries:
                    raise RuntimeError(f"endpoint failed: {type(exc).__name__}") from None
                reason = type(exc).__name__
            delay = min(60.0, 2.0**attempt) * (0.5 + random.random() / 2)
            log.warning("request failed (%s); retry %d in %.1fs", reason, attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def generate(self, instructions: Sequence[str]) -> list[list[str]]:
        def one(text: str) -> list[str]:
            body = request_body(text, self.api, self.decoding, self.system)
            return parse_response(self._post(body), self.decoding.n)

        with ThreadPoolExecutor(max_workers=int(self.api.get("max_concurrency", 8))) as pool:
            return list(pool.map(one, instructions))

    def close(self) -> None:
        pass
