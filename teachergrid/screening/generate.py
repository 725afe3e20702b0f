"""Teacher generation in resumable shards.

Responses are written shard by shard, each shard file appearing atomically. A shard directory
carries a fingerprint of everything that determines its content (model, decoding, instruction
ids, shard size); shards from a different fingerprint are discarded, so a resumed job never
mixes answers from two settings. The engine is loaded only if some shard is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from teachergrid.core.jsonl import read_json, read_jsonl, write_json, write_jsonl
from teachergrid.screening.backends.base import Backend

log = logging.getLogger(__name__)


def fingerprint(
    teacher: dict[str, Any], decoding: dict[str, Any], ids: Sequence[str], shard_size: int
) -> str:
    keys = ("model", "revision", "backend", "chat_template", "system_prompt", "stop")
    payload = {
        "teacher": {k: teacher.get(k) for k in keys},
        "api_model": (teacher.get("api") or {}).get("model"),
        "decoding": decoding,
        "ids": hashlib.sha1("\n".join(ids).encode()).hexdigest(),
        "shard_size": shard_size,
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def shard_path(shard_dir: Path, index: int) -> Path:
    return shard_dir / f"shard-{index:05d}.jsonl"


def prepare_shard_dir(shard_dir: Path, print_: str) -> None:
    """Keep finished shards only if they were made with the same fingerprint."""
    marker = shard_dir / "fingerprint.json"
    if shard_dir.exists():
        old = read_json(marker).get("fingerprint") if marker.exists() else None
        if old != print_:
            log.info("discarding shards of a different setting in %s", shard_dir)
            shutil.rmtree(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"fingerprint": print_})


def run(
    instructions: list[dict[str, str]],
    teacher_name: str,
    make_backend: Callable[[], Backend],
    out_path: Path,
    shard_dir: Path,
    shard_size: int,
    print_: str,
) -> dict[str, int]:
    """Generate every missing shard, then merge all shards into `out_path`."""
    prepare_shard_dir(shard_dir, print_)
    shards = [instructions[i : i + shard_size] for i in range(0, len(instructions), shard_size)]
    todo = [i for i in range(len(shards)) if not shard_path(shard_dir, i).exists()]
    log.info("%s: %d shards, %d to generate", teacher_name, len(shards), len(todo))
    backend: Backend | None = None
    try:
        for i in tqdm(todo, desc=f"generate {teacher_name}", unit="shard"):
            if backend is None:
                backend = make_backend()
            rows = shards[i]
            answers = backend.generate([r["instruction"] for r in rows])
            records = [
                {
                    "id": r["id"],
                    "sample": j,
                    "teacher": teacher_name,
                    "instruction": r["instruction"],
                    "response": text,
                }
                for r, texts in zip(rows, answers, strict=True)
                for j, text in enumerate(texts)
            ]
            write_jsonl(shard_path(shard_dir, i), records)
    finally:
        if backend is not None:
            backend.close()
    merged = [row for i in range(len(shards)) for row in read_jsonl(shard_path(shard_dir, i))]
    write_jsonl(out_path, merged)
    empty = sum(1 for row in merged if not row["response"])
    return {"shards": len(shards), "generated": len(todo), "responses": len(merged), "empty": empty}
