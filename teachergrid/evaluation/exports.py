"""Students' answers in the benchmarks' own file shapes, so that anyone can rerun the official
tools on them (or add them to a leaderboard of their own):

- AlpacaEval's `model_outputs.json` (`results/<model>/model_outputs.json` in its repository): a
  JSON list of `{instruction, output, generator}` in the order of the benchmark's prompts, read
  by `alpaca_eval evaluate --model_outputs FILE`.
- Arena-Hard's answer file (`data/arena-hard-v0.1/model_answer/<model>.jsonl`): one line per
  question, `{question_id, answer_id, model_id, choices: [{index: 0, turns: [{content}]}],
  tstamp}`, sorted by question id as its own generation script leaves it.

A model is named `<base>--<teacher>` in both. The question id is the benchmark's own
(`question_id` of its question file) where the prompts were read with their id
(`evaluation.arena_hard.prompts.id`), else the project's prompt id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any


def model_name(base: str, teacher: str) -> str:
    """The name a fine-tuned cell goes by in the exported files."""
    return f"{base}--{teacher}"


def _answers_for(answers: Sequence[Mapping[str, Any]], bench: str) -> dict[str, str]:
    """Prompt id -> the answer given to `bench` (a prompt answered at two token limits has one
    record per benchmark)."""
    return {a["id"]: a["answer"] for a in answers if bench in a["benchmarks"]}


def alpaca_eval_outputs(
    answers: Sequence[Mapping[str, Any]], prompts: Sequence[Mapping[str, Any]], generator: str
) -> list[dict[str, str]]:
    """AlpacaEval's model_outputs.json records of one model, in the prompts' order."""
    given = _answers_for(answers, "alpaca_eval")
    missing = [p["id"] for p in prompts if p["id"] not in given]
    if missing:
        raise ValueError(f"{generator}: no AlpacaEval answer for {len(missing)} prompt(s)")
    return [
        {"instruction": p["instruction"], "output": given[p["id"]], "generator": generator}
        for p in prompts
    ]


def arena_hard_answers(
    answers: Sequence[Mapping[str, Any]], prompts: Sequence[Mapping[str, Any]], model_id: str
) -> list[dict[str, Any]]:
    """Arena-Hard's answer-file records of one model, sorted by question id. The answer id is
    a digest of model and question (stable across reruns), the time stamp 0: the file is a
    function of the answers alone."""
    given = _answers_for(answers, "arena_hard")
    missing = [p["id"] for p in prompts if p["id"] not in given]
    if missing:
        raise ValueError(f"{model_id}: no Arena-Hard answer for {len(missing)} prompt(s)")
    records = []
    for p in prompts:
        question = str(p.get("question_id") or p["id"])
        digest = hashlib.sha1(f"{model_id}\0{question}".encode()).hexdigest()[:22]
        records.append(
            {
                "question_id": question,
                "answer_id": digest,
                "model_id": model_id,
                "choices": [{"index": 0, "turns": [{"content": given[p["id"]]}]}],
                "tstamp": 0,
            }
        )
    return sorted(records, key=lambda r: r["question_id"])
