"""Teachers whose responses (and reward scores) are published in a data set, not generated.

The paper's 100K instructions, with every open generator's response and its three reward
scores, are published as `Magpie-Align/Magpie-100K-Generator-Zoo`: one row per instruction
(`uuid`, `instruction`) and one column per generator (e.g. `gemma-2-9b-it`) holding a struct with
the response `content` and one score per reward model, keyed by the reward model's name (e.g.
`ArmoRM-Llama3-8B-v0.1`). A teacher entry `dataset: {source, column, revision}` takes its
responses from such a column (a struct's `content`, or a plain string); a reward model whose
name in the data set is a key of that struct takes its scores from there. Neither needs a GPU
job: they are read on the submitting host.

Responses are matched to the study's sampled instructions by instruction text (the ids are a
hash of it), so the sample must come from the same data set's `instruction` column.
"""

from __future__ import annotations

from typing import Any

from teachergrid.core.datafiles import read_rows
from teachergrid.core.published_format import CONTENT, PublishedDataError


def response_text(value: Any, where: str) -> str:
    if isinstance(value, dict):
        value = value.get(CONTENT)
    if not isinstance(value, str) or not value.strip():
        raise PublishedDataError(f"{where}: no response text")
    return value


def _by_instruction(
    spec: dict[str, Any], instruction_column: str, wanted: list[dict[str, str]]
) -> dict[str, Any]:
    column = spec["column"]
    rows, _ = read_rows(spec, [instruction_column, column])
    values = {}
    for row in rows:
        values.setdefault(row[instruction_column], row[column])
    missing = [w for w in wanted if w["instruction"] not in values]
    if missing:
        raise PublishedDataError(
            f"{spec['source']}: {len(missing)} of the study's {len(wanted)} instructions are not "
            f"in the data set (first: {missing[0]['instruction'][:60]!r}); sample the "
            "instructions from the same data set"
        )
    return values


def published_responses(
    spec: dict[str, Any],
    teacher: str,
    instructions: list[dict[str, str]],
    instruction_column: str = "instruction",
) -> list[dict[str, Any]]:
    """Response rows (`id`, `sample`, `teacher`, `instruction`, `response`) of a published
    teacher for the study's instructions."""
    values = _by_instruction(spec, instruction_column, instructions)
    return [
        {
            "id": w["id"],
            "sample": 0,
            "teacher": teacher,
            "instruction": w["instruction"],
            "response": response_text(
                values[w["instruction"]], f"{spec['source']}: {spec['column']}: id {w['id']}"
            ),
        }
        for w in instructions
    ]


def published_rewards(
    spec: dict[str, Any],
    key: str,
    instructions: list[dict[str, str]],
    instruction_column: str = "instruction",
) -> list[dict[str, Any]]:
    """Reward rows (`id`, `sample`, `reward`) read from the teacher's column struct."""
    values = _by_instruction(spec, instruction_column, instructions)
    out = []
    for w in instructions:
        value = values[w["instruction"]]
        score = value.get(key) if isinstance(value, dict) else None
        if not isinstance(score, int | float):
            keys = ", ".join(k for k in value if k != CONTENT) if isinstance(value, dict) else ""
            raise PublishedDataError(
                f"{spec['source']}: {spec['column']}: id {w['id']}: no score {key!r} "
                f"(scores there: {keys or 'none'})"
            )
        out.append({"id": w["id"], "sample": 0, "reward": float(score)})
    return out
