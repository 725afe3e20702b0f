"""Answer both benchmarks with one fine-tuned model and judge the answers (rule evaluate).
The scores are fitted from the judgements by the report. Under a __main__ guard: vLLM
spawns its engine in a process that imports this script again."""

from pathlib import Path

from teachergrid.backends.base import Decoding, make_backend
from teachergrid.evaluate import judge_cell
from teachergrid.jobs import start
from teachergrid.jsonl import read_jsonl, write_jsonl
from teachergrid.judges import make_judge
from teachergrid.params import join


def main(sm) -> None:
    log = start(sm)
    ev = join(sm.params.evaluation, sm.params.evaluation_ops)
    base = sm.params.base
    alpaca = read_jsonl(sm.input.alpaca_eval)
    arena = read_jsonl(sm.input.arena_hard)
    prompts = {r["id"]: r["instruction"] for r in alpaca + arena}
    # The fine-tuned model carries the chat template it was trained with.
    generator = {
        "name": f"{base['name']}+{sm.wildcards.teacher}",
        "backend": ev["backend"],
        "batch_size": ev["batch_size"],
        "tensor_parallel_size": ev["tensor_parallel_size"],
        "max_model_len": ev["max_model_len"],
        "dtype": base.get("dtype", "auto"),
        "chat_template": None,
        "stop": [],
        "local": True,
    }
    backend = make_backend(
        generator,
        sm.input.model,
        Decoding.from_config({**sm.params.decoding, "n": 1}),
        threads=sm.threads,
    )
    ids = list(prompts)
    generated = backend.generate([prompts[i] for i in ids])
    answers = {i: a[0] for i, a in zip(ids, generated, strict=True)}
    backend.close()
    write_jsonl(
        sm.output.answers, ({"id": i, "instruction": prompts[i], "answer": answers[i]} for i in ids)
    )
    # Paid judgements survive a failed job: the cache sits beside, not inside, the outputs.
    # Each benchmark's judge speaks its protocol, with the prompt the judge_prompts rule kept.
    prompt_files = {Path(p).stem: p for p in sm.input.prompts}
    spec = join(sm.params.judge, sm.params.judge_ops)
    judges = {
        bench: make_judge(
            spec,
            sm.params.judge_model,
            bench,
            threads=sm.threads,
            prompt_path=prompt_files.get(bench),
            cache_path=Path(sm.output.judgments + ".judge_cache.jsonl"),
        )
        for bench in ("alpaca_eval", "arena_hard")
    }
    judgments = judge_cell(judges, alpaca, arena, answers)
    write_jsonl(sm.output.judgments, judgments)
    log.info("%d judgements of %d answers", len(judgments), len(answers))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
