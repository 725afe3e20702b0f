"""Instruction sampling: deterministic, deduplicated, stable ids, JSONL and parquet."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from teachergrid.core.datafiles import stable_id
from teachergrid.screening.instructions import prepare, sample_instructions


def test_sample_is_seeded_and_ids_are_content_hashes():
    texts = [f"instruction {i}" for i in range(50)]
    a = sample_instructions(texts, 10, seed=7)
    b = sample_instructions(texts, 10, seed=7)
    c = sample_instructions(texts, 10, seed=8)
    assert a == b and a != c
    assert len({r["id"] for r in a}) == 10
    assert all(r["id"] == stable_id(r["instruction"]) for r in a)


def test_duplicates_are_dropped_and_oversampling_is_an_error():
    rows = sample_instructions(["x", "y", "x"], None, seed=0)
    assert sorted(r["instruction"] for r in rows) == ["x", "y"]
    with pytest.raises(ValueError, match="asked for 5"):
        sample_instructions(["x", "y"], 5, seed=0)


def test_jsonl_and_parquet_sources_agree(tmp_path):
    texts = [f"Task number {i}." for i in range(20)]
    jsonl = tmp_path / "i.jsonl"
    jsonl.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts))
    parquet = tmp_path / "i.parquet"
    pq.write_table(pa.table({"prompt": texts}), parquet)
    spec = {"column": "prompt", "sample": 5, "seed": 3, "local": True}
    assert prepare({**spec, "source": str(jsonl)}) == prepare({**spec, "source": str(parquet)})
