"""Answer both benchmarks with one fine-tuned model (rule evaluate), and judge the answers
when the judge is a reward model (an LLM judge behind an API judges in rule judge, on the
submitting host). The scores are fitted from the judgements by the report. Under a __main__
guard: vLLM spawns its engine in a process that imports this script again."""

from pathlib import Path

from teachergrid.backends.base import Decoding, make_backend
from teachergrid.evaluate import judge_answers
from teachergrid.jobs import start
from teachergrid.jsonl import read_jsonl, write_jsonl
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
    if not hasattr(sm.output, "judgments"):  # the judge rule judges them
        log.info("%d answers; the judge rule judges them", len(answers))
        return
    judgments = judge_answers(
        join(sm.params.judge, sm.params.judge_ops),
        sm.params.judge_model,
        alpaca,
        arena,
        answers,
        {},
        sm.threads,
        Path(sm.output.judgments + ".judge_cache.jsonl"),
    )
    write_jsonl(sm.output.judgments, judgments)
    log.info("%d judgements of %d answers", len(judgments), len(answers))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
