"""Screening one new base against every teacher of a study, on as few instructions as the
answer needs, and the training set it yields.

The teachers' responses and rewards are the study's own files (published data, materialised by
the workflow's screening stage); only the base's losses are computed here, round by round on
a growing random sample of instructions that is the same for every teacher
(`screening.rounds`). Each round's losses are kept (`records.jsonl`), so the per-instruction
evidence of when the ranking settled stays with the result.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from teachergrid.core.jsonl import read_jsonl
from teachergrid.screening.compatibility import scorer
from teachergrid.screening.metrics import compatibility_summary, map_rewards
from teachergrid.screening.rounds import (
    Standing,
    per_instruction,
    schedule,
    standing,
    stop_reason,
)
from teachergrid.support import layout

log = logging.getLogger(__name__)


@dataclass
class Teacher:
    """One teacher's responses, each with its mapped reward, grouped by instruction id."""

    name: str
    by_id: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def read_teachers(
    root: Path, teachers: Sequence[str], reward_model: str, mapping: Mapping[str, Any]
) -> dict[str, Teacher]:
    """The study's responses and `reward_model`'s scores of them (`results/<study>/...`),
    rewards mapped as CAR maps them. A missing file is one line naming the target that makes it."""
    out = {}
    for name in teachers:
        responses = root / layout.RESPONSES.format(teacher=name)
        rewards = root / layout.REWARDS.format(teacher=name, rm=reward_model)
        for path in (responses, rewards):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path}: not there; the study's screening stage makes it "
                    f"(snakemake --configfile CONFIG {path})"
                )
        scores = {(r["id"], r["sample"]): r["reward"] for r in read_jsonl(rewards)}
        rows = read_jsonl(responses)
        mapped = map_rewards([scores[(r["id"], r["sample"])] for r in rows], dict(mapping))
        teacher = Teacher(name)
        for row, reward in zip(rows, mapped, strict=True):
            teacher.by_id.setdefault(row["id"], []).append({**row, "reward": reward})
        out[name] = teacher
    return out


@dataclass
class Settings:
    beta: float
    first_round: int = 64
    max_instructions: int | None = None
    max_gpu_hours: float | None = None
    confidence: float = 0.9
    replicates: int = 200
    seed: int = 0


@dataclass
class Result:
    history: list[Standing]
    stopped_by: str
    seconds: float
    device: str
    records: list[dict[str, Any]]
    summary: dict[str, dict[str, float]]
    order: list[str]


Scorer = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def base_scorer(model_path: str, entry: Mapping[str, Any], threads: int | None = None) -> Scorer:
    """Per response: the base's loss with and without the instruction, its tokens and length
    (the compatibility stage's own scorer, `entry`: a scoring entry with its metrics)."""
    return scorer(model_path, entry, threads)


def run(
    teachers: Mapping[str, Teacher],
    score: Scorer,
    settings: Settings,
    options: Mapping[str, Any],
    progress: Callable[[str], None] = log.info,
) -> Result:
    """Score round after round until `stop_reason` says stop."""
    common = set.intersection(*(set(t.by_id) for t in teachers.values()))
    ids = sorted(common)
    random.Random(settings.seed).shuffle(ids)
    sizes = schedule(len(ids), settings.first_round, settings.max_instructions)
    records: list[dict[str, Any]] = []
    history: list[Standing] = []
    start, done, tokens = time.time(), 0, 0
    stopped = None
    for size in sizes:
        batch = ids[done:size]
        rows = [dict(r) for t in teachers.values() for i in batch for r in t.by_id[i]]
        for row, scored in zip(rows, score(rows), strict=True):
            tokens += scored.pop("tokens_read")
            records.append({"round": len(history) + 1, **row, **scored})
        done = size
        history.append(_standing(records, teachers, ids[:done], settings))
        elapsed = time.time() - start
        now = history[-1]
        left = _time_left(elapsed, done, sizes[-1])
        progress(
            f"{done} of {len(ids)} instructions scored ({tokens / elapsed:,.0f} tokens/s, "
            f"{elapsed:.0f} s; at most {left:.0f} s left): leader {now.leader} "
            f"(P(first) {now.p_first[now.leader]:.2f}), top 3 {', '.join(now.order[:3])}"
        )
        stopped = stop_reason(history, settings.confidence, len(ids), settings.max_instructions,
                              _device_seconds(elapsed), settings.max_gpu_hours)  # fmt: skip
        if stopped:
            break
    summary = {
        name: {
            "reward": float(np.mean([r["reward"] for r in records if r["teacher"] == name])),
            **compatibility_summary(
                [r["loss"] for r in records if r["teacher"] == name],
                [r["loss_unconditional"] for r in records if r["teacher"] == name],
                [r["length"] for r in records if r["teacher"] == name],
                [r["n_tokens"] for r in records if r["teacher"] == name],
                options,
            ),
        }
        for name in teachers
    }
    for values in summary.values():
        values["car"] = values["reward"] / (1.0 + settings.beta * values["loss"])
    return Result(history, stopped or "exhausted", time.time() - start, _device(), records,
                  summary, history[-1].order)  # fmt: skip


def _standing(
    records: list[dict[str, Any]], teachers: Mapping[str, Teacher], ids: list[str], s: Settings
) -> Standing:
    """Per-instruction means of each teacher's mapped reward and loss, then `standing`."""
    _, rewards, losses = per_instruction(records, ids)
    return standing({t: rewards[t] for t in teachers}, {t: losses[t] for t in teachers},
                    s.beta, s.replicates, s.seed + len(ids))  # fmt: skip


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def _device_seconds(elapsed: float) -> float:
    """GPU-seconds spent (one GPU; none on CPU, where the GPU budget never binds)."""
    return elapsed if _device() != "cpu" else 0.0


def _time_left(elapsed: float, done: int, most: int) -> float:
    return elapsed / max(done, 1) * max(most - done, 0) if done else math.inf


def mix(
    teachers: Mapping[str, Teacher],
    records: Sequence[dict[str, Any]],
    best: str,
    beta: float,
) -> list[dict[str, Any]]:
    """The training set for the base: for every instruction scored, the response with the
    highest reward / (1 + beta x the base's loss on it) over every teacher's responses; for
    every instruction not scored, the best teacher's response(s). Each row says which."""
    chosen: dict[str, dict[str, Any]] = {}
    for r in records:
        value = r["reward"] / (1.0 + beta * r["loss"])
        if r["id"] not in chosen or value > chosen[r["id"]]["_value"]:
            chosen[r["id"]] = {**r, "_value": value}
    rows = []
    for i in sorted(set().union(*(t.by_id for t in teachers.values()))):
        if i in chosen:
            r = chosen[i]
            rows.append(_row(r, "per-instruction CAR", r["_value"]))
        else:
            rows += [_row(r, "best teacher (instruction not scored)", None)
                     for r in teachers[best].by_id.get(i, [])]  # fmt: skip
    return rows


def _row(r: Mapping[str, Any], rule: str, value: float | None) -> dict[str, Any]:
    return {"id": r["id"], "instruction": r["instruction"], "response": r["response"],
            "teacher": r["teacher"], "chosen_by": rule, "car": value}  # fmt: skip
