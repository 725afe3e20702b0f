"""Generate one teacher's responses in resumable shards (rule generate)."""

from pathlib import Path

from teachergrid import generate
from teachergrid.backends.base import Decoding, make_backend
from teachergrid.jobs import start
from teachergrid.jsonl import read_jsonl

sm = snakemake  # noqa: F821
log = start(sm)
teacher = sm.params.teacher
instructions = read_jsonl(sm.input.instructions)
decoding = Decoding.from_config(sm.params.decoding)
stats = generate.run(
    instructions,
    teacher["name"],
    lambda: make_backend(
        teacher,
        sm.params.model,
        decoding,
        threads=sm.threads,
        cache_path=Path(sm.params.shard_dir) / "api_cache.jsonl",
    ),
    Path(sm.output[0]),
    Path(sm.params.shard_dir),
    sm.params.shard_size,
    generate.fingerprint(
        teacher, sm.params.decoding, [r["id"] for r in instructions], sm.params.shard_size
    ),
)
log.info("%s: %s", teacher["name"], stats)
