"""When a screening has scored enough instructions: the teachers' CAR on growing random rounds
of instructions, bootstrapped over the instructions, and the rule that stops it.

Every teacher is scored on the same instructions, so a bootstrap replicate redraws instruction
ids once for all teachers (a hard instruction is hard for each of them) and recomputes each
teacher's CAR = mean reward / (1 + beta x mean loss) from per-instruction means. The ranking is
settled when the leader is first in at least `confidence` of the replicates (ties shared) and
the top three are the same set as after the previous round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

STOP_SETTLED = "settled"
STOP_MAX_INSTRUCTIONS = "max-instructions"
STOP_MAX_GPU_HOURS = "max-gpu-hours"
STOP_EXHAUSTED = "exhausted"


def schedule(total: int, first: int, cap: int | None = None) -> list[int]:
    """Cumulative round sizes: `first`, then doubling, up to `cap` (or every instruction)."""
    if first < 1:
        raise ValueError(f"the first round must hold at least one instruction, got {first}")
    limit = min(total, cap) if cap else total
    sizes, n = [], min(first, limit)
    while True:
        sizes.append(n)
        if n >= limit:
            return sizes
        n = min(2 * n, limit)


def ranked(values: Mapping[str, float]) -> list[str]:
    """Teachers best first by `values`, ties by name."""
    return sorted(values, key=lambda t: (-values[t], t))


@dataclass(frozen=True)
class Standing:
    """The teachers after one round: point CAR, P(first) and a 95% rank interval each."""

    n: int
    car: dict[str, float]
    p_first: dict[str, float]
    rank_low: dict[str, float]
    rank_high: dict[str, float]

    @property
    def order(self) -> list[str]:
        return ranked(self.car)

    @property
    def leader(self) -> str:
        return self.order[0]

    def rank(self, teacher: str) -> int:
        return self.order.index(teacher) + 1

    def top(self, k: int = 3) -> frozenset[str]:
        return frozenset(self.order[:k])


def per_instruction(
    records: Sequence[Mapping[str, Any]], order: Sequence[str] | None = None
) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The instructions (`order`, or as the records first name them: the order the screen drew
    them in) and each teacher's mean reward and mean loss per instruction in that order; a
    teacher with several responses to an instruction counts their mean once."""
    order = list(order) if order is not None else list(dict.fromkeys(r["id"] for r in records))
    sums: dict[tuple[str, str], list[float]] = {}
    for r in records:
        acc = sums.setdefault((r["teacher"], r["id"]), [0.0, 0.0, 0.0])
        acc[0] += r["reward"]
        acc[1] += r["loss"]
        acc[2] += 1
    teachers = list(dict.fromkeys(r["teacher"] for r in records))
    missing = [(t, i) for t in teachers for i in order if (t, i) not in sums]
    if missing:
        t, i = missing[0]
        raise ValueError(f"records: teacher {t} has no response to instruction {i}")
    rewards = {t: np.array([sums[(t, i)][0] / sums[(t, i)][2] for i in order]) for t in teachers}
    losses = {t: np.array([sums[(t, i)][1] / sums[(t, i)][2] for i in order]) for t in teachers}
    return order, rewards, losses


def standing(
    rewards: Mapping[str, np.ndarray],
    losses: Mapping[str, np.ndarray],
    beta: float,
    replicates: int,
    seed: int,
) -> Standing:
    """`rewards[t][i]`, `losses[t][i]`: teacher t's mean mapped reward and mean loss on
    instruction i (the same instructions, in the same order, for every teacher)."""
    teachers = list(rewards)
    n = len(next(iter(rewards.values())))
    r = np.vstack([rewards[t] for t in teachers])  # teachers x instructions
    lo = np.vstack([losses[t] for t in teachers])
    point = r.mean(axis=1) / (1.0 + beta * lo.mean(axis=1))
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=replicates) / n  # B x instructions
    cars = (weights @ r.T) / (1.0 + beta * (weights @ lo.T))  # B x teachers
    best = cars.max(axis=1, keepdims=True)
    tied = np.isclose(cars, best, rtol=0, atol=1e-12)
    p_first = (tied / tied.sum(axis=1, keepdims=True)).mean(axis=0)
    # rank 1 = best; tied teachers share the better rank
    ranks = 1 + (cars[:, None, :] > cars[:, :, None] + 1e-12).sum(axis=2)
    low, high = np.percentile(ranks, [2.5, 97.5], axis=0)
    return Standing(
        n=n,
        car=dict(zip(teachers, point.tolist(), strict=True)),
        p_first=dict(zip(teachers, p_first.tolist(), strict=True)),
        rank_low=dict(zip(teachers, low.tolist(), strict=True)),
        rank_high=dict(zip(teachers, high.tolist(), strict=True)),
    )


def stop_reason(
    history: Sequence[Standing],
    confidence: float,
    total: int,
    max_instructions: int | None,
    gpu_seconds: float,
    max_gpu_hours: float | None,
) -> str | None:
    """Why the screening stops after the last round of `history`, or None to go on."""
    now = history[-1]
    if (
        len(history) >= 2
        and now.p_first[now.leader] >= confidence
        and now.top(3) == history[-2].top(3)
    ):
        return STOP_SETTLED
    if now.n >= total:
        return STOP_EXHAUSTED
    if max_instructions is not None and now.n >= max_instructions:
        return STOP_MAX_INSTRUCTIONS
    if max_gpu_hours is not None and gpu_seconds >= max_gpu_hours * 3600:
        return STOP_MAX_GPU_HOURS
    return None
