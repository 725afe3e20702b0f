"""The one interface every generation backend implements.

A backend turns instructions into `n` responses each, applying the teacher's own chat
template. Stages above it (sharding, resuming, evaluation answers) never know which engine ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class Decoding:
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    max_new_tokens: int = 1024
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def from_config(cls, setting: dict[str, Any]) -> Decoding:
        return cls(**{k: setting[k] for k in cls.__dataclass_fields__ if k in setting})

    def limited(self, max_new_tokens: int | None) -> Decoding:
        """The same decoding at another token limit (None: this one's)."""
        return self if max_new_tokens is None else replace(self, max_new_tokens=max_new_tokens)


class Backend(Protocol):
    # Why each response of the last `generate` call ended, in the same shape: `length` (cut at
    # `max_new_tokens`), `stop` (an end of turn, EOS or stop string), or the engine's own word.
    last_finish: list[list[str]]

    def generate(
        self, instructions: Sequence[str], max_new_tokens: int | None = None
    ) -> list[list[str]]:
        """Return, for each instruction, `decoding.n` response texts; `max_new_tokens`
        overrides the decoding's limit for this call (one engine answers at several limits)."""
        ...

    def close(self) -> None: ...


def truncate_at_stop(text: str, stops: Sequence[str]) -> str:
    """Cut a response at the first stop string (engines may return text past it)."""
    cut = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]
