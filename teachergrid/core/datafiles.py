"""Where the study's data comes from: a local file, one file of a hub repository, or a hub
data set, read the same way for instructions, published teachers and benchmarks.

A source is a dict `{source, local, file, revision, subset, split}`: `local` (set by config
validation) reads `source` as a path (parquet, a JSON list, or JSON lines); `file` downloads that
one file of the hub repository with `hf_hub_download`; neither reads the hub data set with
`datasets.load_dataset`, which works for data sets stored as data files (datasets >= 4 refuses
loading scripts). `revision` pins the hub commit either way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from teachergrid.core.jsonl import read_jsonl


class DataFileError(ValueError):
    """A data file cannot be read as records, or lacks a column the study needs."""


def read_file_records(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON list, JSON lines or parquet file; a malformed line is named."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"{path}: not a JSON list ({exc.msg}, line {exc.lineno})"
            raise DataFileError(msg) from None
        return list(data)
    try:
        return read_jsonl(path)
    except ValueError as exc:
        raise DataFileError(str(exc)) from None


def _absent(name: str, columns: list[str], present: list[str]) -> None:
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataFileError(f"{name}: no column {missing[0]!r} (columns: {', '.join(present)})")


def file_path(spec: dict[str, Any]) -> Path:
    """Where a one-file source lies on this machine: `source` itself when `local`, else the
    hub data set's `file` at `revision`, downloaded into the hub cache."""
    if spec.get("local"):
        return Path(spec["source"])
    from huggingface_hub import hf_hub_download  # lazy: only real studies read the hub

    return Path(
        hf_hub_download(
            repo_id=spec["source"],
            filename=spec["file"],
            repo_type="dataset",
            revision=spec.get("revision"),
        )
    )


def read_rows(
    spec: dict[str, Any], columns: list[str] | None = None
) -> tuple[list[dict[str, Any]], str]:
    """The records of a source (only `columns` where given, each of which must exist in a
    parquet file or a hub data set) and a name for messages (the file, or repo and file)."""
    if spec.get("local"):
        path = Path(spec["source"])
        if path.suffix == ".parquet" and columns is not None:
            import pyarrow.parquet as pq

            _absent(str(path), columns, pq.read_schema(path).names)
            return pq.read_table(path, columns=columns).to_pylist(), str(path)
        records = read_file_records(path)
        if columns is not None:
            records = [{c: r.get(c) for c in columns} for r in records]
        return records, str(path)
    if spec.get("file"):
        rows, _ = read_rows({"source": str(file_path(spec)), "local": True}, columns)
        return rows, f"{spec['source']}/{spec['file']}"
    from datasets import load_dataset

    data = load_dataset(
        spec["source"], spec.get("subset"), split=spec["split"],
        revision=spec.get("revision"),
    )  # fmt: skip
    if columns is not None:
        _absent(spec["source"], columns, data.column_names)
        data = data.select_columns(columns)
    return data.to_list(), spec["source"]


def stable_id(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def field(record: Any, path: str, where: str = "") -> Any:
    """The value at a dotted field path (`messages.-1.content.answer`)."""
    value = record
    for part in path.split("."):
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise DataFileError(
                f"{where}no field {path!r} (stopped at {part!r}; record keys: "
                f"{', '.join(record) if isinstance(record, dict) else type(record).__name__})"
            ) from None
    return value
