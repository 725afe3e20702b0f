"""Reference (AlpacaEval-style) or baseline (Arena-Hard-style) answers of one benchmark
(rule eval_reference): the benchmark's published answers, or a configured teacher's.
Under a __main__ guard: vLLM spawns its engine in a process that imports this script again."""

from pathlib import Path

from teachergrid.core.jsonl import write_jsonl
from teachergrid.evaluation.benchmark_data import benchmark_rows
from teachergrid.screening.backends.base import Decoding
from teachergrid.screening.backends.factory import make_backend
from teachergrid.support.jobs import start
from teachergrid.support.params import join


def main(sm) -> None:
    log = start(sm)
    spec = sm.params.spec
    teacher = join(sm.params.teacher, sm.params.ops) if sm.params.teacher else None
    rows = benchmark_rows(spec)
    if teacher is not None:
        backend = make_backend(
            teacher,
            sm.params.model,
            Decoding.from_config({**sm.params.decoding, "n": 1}),
            threads=sm.threads,
            cache_path=Path(sm.output[0] + ".api_cache.jsonl"),
        )
        answers = backend.generate([r["instruction"] for r in rows])
        backend.close()
        rows = [{**r, "answer": a[0]} for r, a in zip(rows, answers, strict=True)]
    write_jsonl(sm.output[0], rows)
    log.info(
        "%s: %d prompts with reference answers (%s)",
        sm.wildcards.bench,
        len(rows),
        teacher["name"] if teacher else f"field {spec['reference']['column']}",
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
