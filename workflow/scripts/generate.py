"""Generate one teacher's responses in resumable shards (rule generate).

The work sits under a __main__ guard: vLLM starts its engine in a spawned process, which
imports this script again, and must not run the job a second time."""

from pathlib import Path

from teachergrid.core.jsonl import read_jsonl
from teachergrid.screening import generate
from teachergrid.screening.backends.base import Decoding
from teachergrid.screening.backends.factory import make_backend
from teachergrid.support.jobs import start
from teachergrid.support.params import join


def main(sm) -> None:
    log = start(sm)
    teacher = join(sm.params.teacher, sm.params.ops)
    shard_size = sm.params.ops["shard_size"]
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
            prompts=[r["instruction"] for r in instructions],
        ),
        Path(sm.output[0]),
        Path(sm.params.shard_dir),
        shard_size,
        generate.fingerprint(
            sm.params.teacher, sm.params.decoding, [r["id"] for r in instructions], shard_size
        ),
    )
    log.info("%s: %s", teacher["name"], stats)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
