"""The instruction set: load from a hub data set or a local file, sample N with a seed, and give
every instruction a stable id (a hash of its text), so ids survive resampling and reordering."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from teachergrid.config import check_instruction_file
from teachergrid.core.datafiles import read_rows, stable_id

log = logging.getLogger(__name__)


def load_columns(source: dict[str, Any], columns: list[str]) -> dict[str, list[str]]:
    """Columns of a local JSONL/parquet file, a hub file or a hub data set, as lists of strings
    (a local JSON lines file is checked line by line first, so a bad line is named)."""
    if source.get("local"):
        for column in columns:
            check_instruction_file(Path(source["source"]), column)
    rows, _ = read_rows(source, columns)
    return {c: [str(row[c]) for row in rows] for c in columns}


def _load_texts(source: dict[str, Any]) -> list[str]:
    return load_columns(source, [source["column"]])[source["column"]]


def sample_instructions(texts: list[str], sample: int | None, seed: int) -> list[dict[str, str]]:
    """Deduplicate, then draw `sample` instructions with a seeded permutation (all if None).

    The draw depends only on the (deduplicated) input order and the seed, so the same config
    always yields the same set.
    """
    seen: set[str] = set()
    unique = []
    for text in texts:
        if text not in seen:
            seen.add(text)
            unique.append(text)
    if len(unique) < len(texts):
        log.info("dropped %d duplicate instructions", len(texts) - len(unique))
    if sample is not None and sample > len(unique):
        raise ValueError(f"asked for {sample} instructions but the source has {len(unique)}")
    order = np.random.default_rng(seed).permutation(len(unique))
    if sample is not None:
        order = order[:sample]
    return [{"id": stable_id(unique[i]), "instruction": unique[i]} for i in order]


def prepare(source: dict[str, Any]) -> list[dict[str, str]]:
    texts = _load_texts(source)
    return sample_instructions(texts, source["sample"], int(source["seed"]))
