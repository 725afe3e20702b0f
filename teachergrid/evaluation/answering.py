"""A student answers both benchmarks' prompts: each benchmark at its own token limit
(Arena-Hard's is 4096), a prompt both benchmarks hold at the same limit answered once, for
both. Shared by the fine-tuned cells (rule evaluate) and the bases before fine-tuning (rule
evaluate_untuned)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from teachergrid.screening.backends.base import Decoding
from teachergrid.screening.backends.factory import make_backend

log = logging.getLogger(__name__)


def student(
    name: str, settings: Mapping[str, Any], base: Mapping[str, Any], untuned: bool
) -> dict[str, Any]:
    """The model entry a student answers as. A fine-tuned model carries the chat template it
    was trained with; a base before fine-tuning is given that same template (and its own
    revision and remote-code setting)."""
    return {
        "name": name,
        "backend": settings["backend"],
        "batch_size": settings["batch_size"],
        "tensor_parallel_size": settings["tensor_parallel_size"],
        "gpu_memory_utilization": settings["gpu_memory_utilization"],
        "max_model_len": settings["max_model_len"],
        "dtype": base["dtype"],
        "attention": base["attention"],
        "chat_template": base["chat_template"] if untuned else None,
        "stop": [],
        "local": True,
        # a fine-tuned model is saved as a plain transformers model: no remote code
        "trust_remote_code": base["trust_remote_code"] if untuned else False,
        **({"revision": base["revision"]} if untuned else {}),
    }


def answer(
    generator: dict[str, Any],
    model_path: str,
    decoding: Mapping[str, Any],
    limits: Mapping[str, int],
    prompts: Mapping[str, Sequence[dict[str, Any]]],
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Every prompt of every benchmark (`prompts`: benchmark -> rows with id and instruction)
    answered once per token limit, with the benchmarks that hold it and why it ended."""
    groups: dict[int, dict[str, dict]] = {}
    for bench, rows in prompts.items():
        for r in rows:
            entry = groups.setdefault(limits[bench], {}).setdefault(
                r["id"], {"id": r["id"], "instruction": r["instruction"], "benchmarks": []}
            )
            entry["benchmarks"].append(bench)
    # one engine for the job: sized for its longest prompt at the highest limit, then asked
    # for each limit's answers in turn (vLLM's start-up and a model's loading paid once)
    backend = make_backend(
        generator,
        model_path,
        Decoding.from_config({**decoding, "n": 1, "max_new_tokens": max(groups, default=1)}),
        threads=threads,
        prompts=[r["instruction"] for entries in groups.values() for r in entries.values()],
    )
    answers: list[dict[str, Any]] = []
    for limit, entries in sorted(groups.items()):
        rows = list(entries.values())
        generated = backend.generate([r["instruction"] for r in rows], max_new_tokens=limit)
        finish = getattr(backend, "last_finish", None) or [["unknown"]] * len(rows)
        for r, texts, reasons in zip(rows, generated, finish, strict=True):
            answers.append({**r, "answer": texts[0], "finish_reason": reasons[0]})
        cut = sum(r["finish_reason"] == "length" for r in answers[-len(rows) :])
        log.info("%d answers at most %d new tokens; %d cut at the limit", len(rows), limit, cut)
    backend.close()
    return answers
