"""Pairwise judges behind one interface: which of two answers to an instruction is better.

`prefer(instructions, first, second)` returns, per instruction, the preference for `first` in
[0, 1] (1: first better, 0.5: tie) and a weight (Arena-Hard counts a decisive verdict, A>>B,
as several battles). Judges see the answers in the order given; callers present both orders
where position bias matters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol


class Judge(Protocol):
    def prefer(
        self, instructions: Sequence[str], first: Sequence[str], second: Sequence[str]
    ) -> list[tuple[float, float]]: ...


class RewardModelJudge:
    """Offline judge: a reward model scores both answers; P(first) = sigmoid(r1 - r2), the
    Bradley-Terry probability the reward model was trained to express. Position-free."""

    def __init__(self, model_path: str, entry: dict[str, Any], threads: int | None = None):
        self.model_path, self.entry, self.threads = model_path, entry, threads

    def prefer(self, instructions, first, second):
        from .reward import score

        rows = [{"instruction": q, "response": a} for q, a in zip(instructions, first, strict=True)]
        rows += [
            {"instruction": q, "response": b} for q, b in zip(instructions, second, strict=True)
        ]
        scores = score(self.model_path, self.entry, rows, threads=self.threads)
        n = len(instructions)
        return [(1.0 / (1.0 + math.exp(-(scores[i] - scores[n + i]))), 1.0) for i in range(n)]


JUDGE_PROMPT = """Please act as an impartial judge and compare the two answers to the user's \
instruction below. Consider helpfulness, correctness, depth and clarity; do not let the \
length of an answer or its position influence you. After a short explanation, give your \
verdict as exactly one of: [[A>>B]], [[A>B]], [[A=B]], [[B>A]], [[B>>A]].

[Instruction]
{instruction}

[Answer A]
{a}

[Answer B]
{b}"""

VERDICTS = {
    "A>>B": (1.0, 3.0),
    "A>B": (1.0, 1.0),
    "A=B": (0.5, 1.0),
    "B=A": (0.5, 1.0),
    "B>A": (0.0, 1.0),
    "B>>A": (0.0, 3.0),
}


def parse_verdict(text: str) -> tuple[float, float] | None:
    """The last [[...]] verdict in a judge's reply, as (preference for A, weight)."""
    found = re.findall(r"\[\[(A>>B|A>B|A=B|B=A|B>A|B>>A)\]\]", text)
    return VERDICTS[found[-1]] if found else None


class OpenAIJudge:
    """An LLM judge behind an OpenAI-compatible endpoint (GPT-4, or a judge served by vLLM).
    A reply without a verdict counts as a tie and is logged."""

    def __init__(self, api: dict[str, Any], cache_path: Path | None = None):
        from .backends.base import Decoding
        from .backends.openai_api import OpenAIBackend

        self.backend = OpenAIBackend(
            {"api": api}, Decoding(temperature=0.0, n=1, max_new_tokens=1024), cache_path
        )
        self.workers = int(api.get("max_concurrency", 8))

    def prefer(self, instructions, first, second):
        prompts = [
            JUDGE_PROMPT.format(instruction=q, a=a, b=b)
            for q, a, b in zip(instructions, first, second, strict=True)
        ]
        replies = self.backend.generate(prompts)
        return [parse_verdict(r[0]) or (0.5, 1.0) for r in replies]


def make_judge(
    spec: dict[str, Any],
    model_path: str | None,
    threads: int | None = None,
    cache_path: Path | None = None,
) -> Judge:
    if spec["kind"] == "reward_model":
        assert model_path is not None
        return RewardModelJudge(model_path, spec, threads)
    if spec["kind"] == "openai":
        return OpenAIJudge(spec["api"], cache_path)
    raise ValueError(f"unknown judge kind {spec['kind']!r}")
