"""The layout of published teacher data (Magpie's Generator-Zoo): per teacher, a column whose
value is a struct holding the response (`content`) and reward scores keyed by reward-model
name; and how a published table names a teacher (by name or hub id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teachergrid.core.datafiles import DataFileError


class PublishedDataError(DataFileError):
    pass


def dataset_key(reward_model: dict[str, Any]) -> str | None:
    """A reward model's name in published data: `dataset_key`, else the last part of its hub
    id (`Skywork/Skywork-Reward-Gemma-2-27B` -> `Skywork-Reward-Gemma-2-27B`); None when the
    config says `dataset_key: null` (always compute its scores)."""
    if "dataset_key" in reward_model:
        key = reward_model["dataset_key"]
        return None if key is None else str(key)
    return str(reward_model["model"]).rstrip("/").split("/")[-1]


def score_keys(spec: dict[str, Any]) -> list[str] | None:
    """The reward scores a published column holds (a local parquet's struct fields, or those
    of a local JSON-lines file's first row; none where the column holds plain text, as a
    screen's mix.jsonl does), or None when that is only known by reading the data (hub
    sources)."""
    suffix = Path(spec["source"]).suffix
    if spec.get("local") and suffix == ".jsonl":
        return _jsonl_score_keys(Path(spec["source"]), spec["column"])
    if not spec.get("local") or suffix != ".parquet":
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(spec["source"])
    if spec["column"] not in schema.names:
        raise PublishedDataError(
            f"{spec['source']}: no column {spec['column']!r} (columns: {', '.join(schema.names)})"
        )
    kind = schema.field(spec["column"]).type
    if pa.types.is_struct(kind):
        return [kind.field(i).name for i in range(kind.num_fields) if kind.field(i).name != CONTENT]
    return []


def _jsonl_score_keys(path: Path, column: str) -> list[str]:
    import json

    with open(path, encoding="utf-8") as handle:
        first = next((line for line in handle if line.strip()), None)
    if first is None:
        raise PublishedDataError(f"{path}: empty")
    try:
        row = json.loads(first)
    except json.JSONDecodeError as exc:
        raise PublishedDataError(f"{path}: line 1: not JSON ({exc.msg})") from None
    if column not in row:
        raise PublishedDataError(
            f"{path}: line 1: no column {column!r} (columns: {', '.join(row)})"
        )
    value = row[column]
    return [k for k in value if k != CONTENT] if isinstance(value, dict) else []


def same_teacher(name: str, other: str) -> bool:
    """Whether two tables name the same teacher: the same name, or a hub id whose last part is
    the other's name (`meta-llama/Llama-3.1-8B-Instruct` and `Llama-3.1-8B-Instruct`)."""
    return name == other or name.rsplit("/", 1)[-1] == other.rsplit("/", 1)[-1]


CONTENT = "content"
