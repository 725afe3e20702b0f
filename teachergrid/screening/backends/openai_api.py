"""OpenAI-compatible chat-completions backend (closed teachers, LLM judges, `vllm serve` or
`transformers serve` endpoints), on the `openai` library.

Built for long runs against a rate-limited endpoint:
- one client per job, so HTTP connections are reused; bounded concurrency
  (`api.max_concurrency` requests in flight);
- retries on 408/409/425/429, every 5xx, timeouts, dropped connections and malformed bodies,
  waiting what the server's Retry-After (or retry-after-ms) asks, else exponential backoff with
  full jitter; other 4xx fail at once. The library's own retries are off so that one policy,
  with its counts, governs;
- requests carry the model's `stop` strings; each answer's `finish_reason` is kept (a `length`
  finish is an answer cut by the token limit) and, when asked for, the first token's
  log-probabilities (AlpacaEval's judge reads its verdict from them);
- a per-request cache (append-only JSONL keyed by a hash of the request body), written as each
  answer arrives, so a rerun after a crash or a kill never pays twice for an answer;
- the key is read from the environment variable the config names and only ever handed to the
  client for its Authorization header: never logged, cached, written to results or put in an
  error message.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from teachergrid.core.chat import messages
from teachergrid.screening.backends.base import Decoding

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429}


class APIKeyMissing(RuntimeError):
    pass


class MalformedResponse(ValueError):
    pass


@dataclass(frozen=True)
class Completion:
    """One answer: its text, why it ended (`stop`, `length`, ...; None if the server did not
    say) and, when requested, the first token's top log-probabilities."""

    text: str
    finish_reason: str | None = None
    top_logprobs: dict[str, float] | None = None


def api_key(api: dict[str, Any]) -> str:
    name = api["api_key_env"]
    key = os.environ.get(name)
    if not key:
        raise APIKeyMissing(f"environment variable {name} is not set (it must hold the API key)")
    return key


def request_body(
    prompt: str | list[dict[str, str]],
    api: dict[str, Any],
    decoding: Decoding,
    system: str | None = None,
    stop: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The chat-completions request for an instruction (wrapped in the teacher's system prompt)
    or for ready-made messages (a judge's)."""
    chat = messages(prompt, system=system) if isinstance(prompt, str) else list(prompt)
    body: dict[str, Any] = {
        "model": api["model"],
        "messages": chat,
        "max_tokens": decoding.max_new_tokens,
        "temperature": decoding.temperature,
        "n": decoding.n,
    }
    if stop:
        body["stop"] = list(stop)
    if not decoding.greedy:
        body["top_p"] = decoding.top_p
        body["seed"] = decoding.seed
    body.update(extra or {})
    return body


def request_key(body: dict[str, Any]) -> str:
    """Cache key: the request body, canonically serialised (it holds no secret)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def parse_response(payload: Any, n: int) -> list[Completion]:
    """Completions from a chat-completions response (the library's object or plain JSON)."""
    choices = _get(payload, "choices")
    if not isinstance(choices, list):
        raise MalformedResponse("response without choices")
    out = []
    try:
        for c in sorted(choices, key=lambda c: _get(c, "index") or 0):
            content = _get(_get(c, "message"), "content")
            if content is not None and not isinstance(content, str):
                raise MalformedResponse("message content is not text")
            top = None
            logprobs = _get(_get(c, "logprobs"), "content")
            if logprobs:
                top = {_get(t, "token"): float(_get(t, "logprob"))
                       for t in _get(logprobs[0], "top_logprobs") or []}  # fmt: skip
            out.append(Completion((content or "").strip(), _get(c, "finish_reason"), top))
    except (TypeError, AttributeError, IndexError) as exc:
        raise MalformedResponse(f"response without choices/message/content ({exc!r})") from None
    if len(out) != n:
        raise MalformedResponse(f"endpoint returned {len(out)} choices, expected {n}")
    return out


def retry_after(headers: Any) -> float | None:
    """Seconds the server asks a client to wait (Retry-After in seconds or as an HTTP date,
    or retry-after-ms), or None."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return None if when is None else max(0.0, when.timestamp() - time.time())


class ResponseCache:
    """Append-only JSONL of {key, texts, completions}; a torn last line (a killed writer) is
    ignored. Records written before completions were kept (texts only) still count."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, list[Completion]] = {}
        if path is not None and path.exists():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                        done = record.get("completions") or [{"text": t} for t in record["texts"]]
                        self._data[record["key"]] = [Completion(**c) for c in done]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> list[Completion] | None:
        return self._data.get(key)

    def put(self, key: str, completions: list[Completion]) -> None:
        with self._lock:
            self._data[key] = completions
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                record = {
                    "key": key,
                    "texts": [c.text for c in completions],
                    "completions": [asdict(c) for c in completions],
                }
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())


class OpenAIBackend:
    def __init__(
        self, teacher: dict[str, Any], decoding: Decoding, cache_path: Path | None = None
    ) -> None:
        import openai

        self.api = teacher["api"]
        self.system = teacher.get("system_prompt")
        self.stop = list(teacher.get("stop") or [])
        self.decoding = decoding
        self.url = self.api["base_url"].rstrip("/")
        self.client = openai.OpenAI(
            api_key=api_key(self.api),
            base_url=self.url,
            max_retries=0,
            timeout=float(self.api["timeout_s"]),
        )
        self.cache = ResponseCache(cache_path)
        self.requests_sent = 0
        self.retries = 0
        self.finish_reasons: Counter[str] = Counter()
        self._count = threading.Lock()

    def _post(self, body: dict[str, Any]) -> list[Completion]:
        import openai

        retries = int(self.api["max_retries"])
        base_delay = float(self.api["backoff_s"])
        for attempt in range(retries + 1):
            with self._count:
                self.requests_sent += 1
            wait = None
            try:
                response = self.client.chat.completions.create(**body)
                return parse_response(response, self.decoding.n)
            except openai.APIStatusError as exc:
                code = exc.status_code
                if code not in RETRY_STATUS and code < 500:
                    raise RuntimeError(f"{self.url} answered HTTP {code}") from None
                reason, wait = f"HTTP {code}", retry_after(exc.response.headers)
            except (openai.APIConnectionError, openai.APIResponseValidationError) as exc:
                reason = type(exc).__name__  # timeouts and dropped connections among them
            except (json.JSONDecodeError, MalformedResponse) as exc:
                reason = type(exc).__name__
            if attempt == retries:
                raise RuntimeError(f"{self.url} failed {retries + 1} times (last: {reason})")
            with self._count:
                self.retries += 1
            if wait is None:
                wait = random.uniform(0, min(60.0, base_delay * 2**attempt))  # full jitter
            log.warning("request failed (%s); retry %d in %.2fs", reason, attempt + 1, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def complete(
        self,
        prompts: Sequence[str | list[dict[str, str]]],
        extra: dict[str, Any] | None = None,
        max_new_tokens: int | None = None,
    ) -> list[list[Completion]]:
        """`decoding.n` completions of each prompt (an instruction, or a judge's messages),
        from the cache where the same request was answered before."""
        decoding = self.decoding.limited(max_new_tokens)

        def one(prompt: str | list[dict[str, str]]) -> list[Completion]:
            body = request_body(prompt, self.api, decoding, self.system, self.stop, extra)
            key = request_key(body)
            cached = self.cache.get(key)
            if cached is None:
                cached = self._post(body)
                self.cache.put(key, cached)
            with self._count:
                for c in cached:
                    reason = c.finish_reason or "unknown"
                    self.finish_reasons[reason] += 1
            return cached

        with ThreadPoolExecutor(max_workers=int(self.api["max_concurrency"])) as pool:
            out = list(pool.map(one, prompts))
        cut = self.finish_reasons["length"]
        if cut:
            log.warning("%d answers ended at the token limit (finish_reason 'length')", cut)
        return out

    def generate(
        self, instructions: Sequence[str], max_new_tokens: int | None = None
    ) -> list[list[str]]:
        completions = self.complete(instructions, max_new_tokens=max_new_tokens)
        self.last_finish = [[c.finish_reason or "unknown" for c in cs] for cs in completions]
        return [[c.text for c in cs] for cs in completions]

    def close(self) -> None:
        self.client.close()
