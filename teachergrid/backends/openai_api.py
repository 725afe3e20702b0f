"""OpenAI-compatible chat-completions backend (closed teachers, or `vllm serve` endpoints).

Built for long runs against a rate-limited endpoint:
- bounded concurrency (`api.max_concurrency` requests in flight);
- retries with exponential backoff and full jitter on 429, 5xx, timeouts, dropped connections
  and malformed bodies; other 4xx fail at once;
- a per-request cache (append-only JSONL keyed by a hash of the request body), written as each
  answer arrives, so a rerun after a crash or a kill never pays twice for an answer;
- the key is read from the environment variable the config names and only ever placed in the
  Authorization header: never logged, cached, written to results or put in an error message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..chat import messages
from .base import Decoding

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class APIKeyMissing(RuntimeError):
    pass


class MalformedResponse(ValueError):
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
        body["seed"] = decoding.seed
    return body


def request_key(body: dict[str, Any]) -> str:
    """Cache key: the request body, canonically serialised (it holds no secret)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def parse_response(payload: Any, n: int) -> list[str]:
    try:
        choices = sorted(payload["choices"], key=lambda c: c.get("index", 0))
        texts = [c["message"]["content"] or "" for c in choices]
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedResponse(f"response without choices/message/content ({exc!r})") from None
    if len(texts) != n:
        raise MalformedResponse(f"endpoint returned {len(texts)} choices, expected {n}")
    return [t.strip() for t in texts]


class ResponseCache:
    """Append-only JSONL of {key, texts}; a torn last line (a killed writer) is ignored."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, list[str]] = {}
        if path is not None and path.exists():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                        self._data[record["key"]] = record["texts"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> list[str] | None:
        return self._data.get(key)

    def put(self, key: str, texts: list[str]) -> None:
        with self._lock:
            self._data[key] = texts
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"key": key, "texts": texts}) + "\n")
                handle.flush()
                os.fsync(handle.fileno())


class OpenAIBackend:
    def __init__(
        self, teacher: dict[str, Any], decoding: Decoding, cache_path: Path | None = None
    ) -> None:
        self.api = teacher["api"]
        self.system = teacher.get("system_prompt")
        self.decoding = decoding
        self._key = api_key(self.api)
        self.url = self.api.get("base_url", "https://api.openai.com/v1").rstrip("/")
        self.url += "/chat/completions"
        self.cache = ResponseCache(cache_path)
        self.requests_sent = 0
        self.retries = 0
        self._count = threading.Lock()

    def _post(self, body: dict[str, Any]) -> list[str]:
        retries = int(self.api.get("max_retries", 8))
        timeout = float(self.api.get("timeout_s", 120))
        base_delay = float(self.api.get("backoff_s", 1.0))
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
            with self._count:
                self.requests_sent += 1
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    return parse_response(json.loads(resp.read()), self.decoding.n)
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS:
                    raise RuntimeError(f"{self.url} answered HTTP {exc.code}") from None
                reason = f"HTTP {exc.code}"
            except (OSError, json.JSONDecodeError, MalformedResponse) as exc:
                # URLError, timeouts and dropped connections are OSErrors
                reason = type(exc).__name__
            if attempt == retries:
                raise RuntimeError(f"{self.url} failed {retries + 1} times (last: {reason})")
            with self._count:
                self.retries += 1
            delay = random.uniform(0, min(60.0, base_delay * 2**attempt))  # full jitter
            log.warning("request failed (%s); retry %d in %.2fs", reason, attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def generate(self, instructions: Sequence[str]) -> list[list[str]]:
        def one(text: str) -> list[str]:
            body = request_body(text, self.api, self.decoding, self.system)
            key = request_key(body)
            cached = self.cache.get(key)
            if cached is not None:
                return cached
            texts = self._post(body)
            self.cache.put(key, texts)
            return texts

        with ThreadPoolExecutor(max_workers=int(self.api.get("max_concurrency", 8))) as pool:
            return list(pool.map(one, instructions))

    def close(self) -> None:
        pass
