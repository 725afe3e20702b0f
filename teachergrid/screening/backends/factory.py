"""Which backend serves a model entry: kept apart from the backends' shared types, which
every backend imports, so that no backend module imports another.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from teachergrid.screening.backends.base import Backend, Decoding


def make_backend(
    teacher: dict[str, Any],
    model_path: str,
    decoding: Decoding,
    threads: int | None = None,
    cache_path: Path | None = None,
    prompts: Sequence[str] | None = None,
) -> Backend:
    """Build the backend a teacher's config names (engines are imported lazily).

    `cache_path`: where an API backend keeps the answers it has paid for (ignored by engines
    that run locally). `prompts`: every instruction the job will generate for, which sizes a
    vLLM engine's context where the config does not."""
    kind = teacher["backend"]
    if kind == "hf":
        from teachergrid.screening.backends.hf import HFBackend

        return HFBackend(model_path, teacher, decoding, threads=threads)
    if kind == "vllm":
        from teachergrid.screening.backends.vllm import VLLMBackend

        return VLLMBackend(model_path, teacher, decoding, prompts=prompts)
    if kind == "openai":
        from teachergrid.screening.backends.openai_api import OpenAIBackend

        return OpenAIBackend(teacher, decoding, cache_path=cache_path)
    raise ValueError(f"unknown backend {kind!r}")
