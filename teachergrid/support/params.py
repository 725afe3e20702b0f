"""What a job is told, split by whether it can change the job's result.

Snakemake reruns a job when its params differ from those recorded with its outputs. A job's
settings therefore travel in two parts:

* the *tracked* part: everything that can change what the job computes (the model and its
  revision, dtype, template, decoding, truncation, learning rate, ...). Editing any of it
  reruns the job and everything downstream, as it must.
* the *untracked* part (`Untracked`): labels for the reports (`family`, `params_b`), speed knobs
  (batch sizes, tensor-parallel size, concurrency), the handling of failures (timeouts,
  retries), checkpoint cadence and where things are on disk. Snakemake skips params of types
  it cannot represent when it compares them, and `Untracked` is such a type, so editing these
  reruns nothing.

A file a result depends on (a chat template) is tracked by its content, not by its path, so
moving the project to another directory reruns nothing either.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Keys of a model entry (teacher, base, reward model, reference model, judge) that never change
# a result. Everything else in an entry is tracked.
UNTRACKED_MODEL_KEYS = frozenset(
    {
        "family",
        "params_b",
        "batch_size",
        "tokens_per_batch",
        "tensor_parallel_size",
        "gpu_memory_utilization",
        "enforce_eager",
        "attention",
    }
)
# Keys of an API section that only decide how answers are fetched, never which answers.
UNTRACKED_API_KEYS = frozenset(
    {"api_key_env", "max_concurrency", "timeout_s", "max_retries", "backoff_s"}
)


class Untracked:
    """Job settings that Snakemake must not compare: a read-only mapping in a type that its
    params comparison skips. It is pickled into the job's script like any other param."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._values)

    def __getstate__(self) -> dict[str, Any]:
        return self._values

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._values = state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Untracked) and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Untracked({self._values!r})"


def file_digest(path: str | Path) -> str:
    """`sha256:<hex>` of a file's bytes: how a file a result depends on is tracked."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _is_template_file(value: Any) -> bool:
    from teachergrid.core.chat import NAMED_TEMPLATES

    return (
        isinstance(value, str)
        and value not in ("default", *NAMED_TEMPLATES)
        and not value.startswith("sha256:")
    )


def split_entry(
    entry: Mapping[str, Any], extra_untracked: Iterable[str] = ()
) -> tuple[dict[str, Any], Untracked]:
    """Split a model entry (or any settings mapping) into (tracked, untracked)."""
    untracked_keys = UNTRACKED_MODEL_KEYS | set(extra_untracked)
    tracked: dict[str, Any] = {}
    untracked: dict[str, Any] = {}
    for key, value in entry.items():
        if key in untracked_keys or key == "resources":
            untracked[key] = copy.deepcopy(value)
        elif key == "api" and isinstance(value, Mapping):
            tracked["api"] = {k: v for k, v in value.items() if k not in UNTRACKED_API_KEYS}
            untracked["api"] = {k: v for k, v in value.items() if k in UNTRACKED_API_KEYS}
        elif key == "chat_template" and _is_template_file(value):
            tracked[key] = file_digest(value)
            untracked[key] = value
        else:
            tracked[key] = copy.deepcopy(value)
    return tracked, Untracked(untracked)


def join(tracked: Mapping[str, Any], untracked: Untracked | Mapping[str, Any]) -> dict[str, Any]:
    """The whole settings mapping a job works with: the tracked part, then the untracked part
    on top (nested `api` sections are merged)."""
    extra = untracked.to_dict() if isinstance(untracked, Untracked) else dict(untracked)
    out = copy.deepcopy(dict(tracked))
    for key, value in extra.items():
        if key == "api" and isinstance(out.get("api"), Mapping):
            out["api"] = {**out["api"], **value}
        else:
            out[key] = value
    return out
