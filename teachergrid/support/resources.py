"""What each job asks the scheduler for: GPUs (count and model), CPUs, memory and wall time.

Every stage has defaults sized for the paper's study (8B models on 80 GB GPUs); the config can
override them per stage and per model. Memory grows with the attempt number, because the usual
reason a retried job failed is that it was killed for memory, and stops at a cap (`mem_mb_max`)
so a retry never asks for more than the site's nodes have. Wall time does not grow: the long
jobs (generation, fine-tuning) resume from their shards and checkpoints, so a job killed at its
time limit makes progress on every attempt.
"""

from __future__ import annotations

from typing import Any

DEFAULT_RESOURCES: dict[str, dict[str, Any]] = {
    "tiny": {"gpu": 0, "threads": 1, "mem_mb": 2000, "runtime": 30},
    "small": {"gpu": 0, "threads": 1, "mem_mb": 8000, "runtime": 60},
    "generation": {"gpu": 1, "threads": 8, "mem_mb": 64000, "runtime": 720},
    "reward": {"gpu": 1, "threads": 8, "mem_mb": 64000, "runtime": 240},
    "compatibility": {"gpu": 1, "threads": 8, "mem_mb": 64000, "runtime": 240},
    "finetune": {"gpu": 4, "threads": 32, "mem_mb": 256000, "runtime": 1440},
    "evaluation": {"gpu": 1, "threads": 8, "mem_mb": 64000, "runtime": 240},
}

# Without an explicit cap, the third attempt of a job asks for at most twice its first request.
DEFAULT_MEMORY_GROWTH_CAP = 2


def complete(resources: dict[str, Any], where: str) -> dict[str, Any]:
    """Fill the optional keys and check that they agree; `where` names the config key."""
    out = dict(resources)
    out.setdefault("gpu", 0)
    out.setdefault("threads", 1)
    out.setdefault("gpu_model", None)
    out.setdefault("cpus_per_gpu", None)
    out.setdefault("mem_mb_max", out["mem_mb"] * DEFAULT_MEMORY_GROWTH_CAP)
    if out["mem_mb_max"] < out["mem_mb"]:
        raise ValueError(
            f"{where}.mem_mb_max: {out['mem_mb_max']} is below mem_mb ({out['mem_mb']})"
        )
    if out["cpus_per_gpu"] and not out["gpu"]:
        raise ValueError(f"{where}.cpus_per_gpu: set, but the job asks for no GPU (gpu: 0)")
    if out["gpu_model"] and not out["gpu"]:
        raise ValueError(f"{where}.gpu_model: set, but the job asks for no GPU (gpu: 0)")
    return out


def memory_mb(resources: dict[str, Any], attempt: int) -> int:
    """Memory for the given attempt (1 for the first run): mem_mb x attempt, capped."""
    return int(min(resources["mem_mb"] * max(1, attempt), resources["mem_mb_max"]))
