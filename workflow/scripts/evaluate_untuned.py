"""Answer both benchmarks with a base before fine-tuning (rule evaluate_untuned), with the chat
template its students are trained on: answers only, checked against the truth by the report,
not judged. Under a __main__ guard: vLLM spawns its engine in a process that imports this
script again."""

from teachergrid.core.jsonl import read_jsonl, write_jsonl
from teachergrid.evaluation.answering import answer, student
from teachergrid.support.jobs import start
from teachergrid.support.params import join


def main(sm) -> None:
    log = start(sm)
    base = join(sm.params.base, sm.params.base_ops)
    answers = answer(
        student(base["name"], join(sm.params.evaluation, sm.params.evaluation_ops), base, True),
        sm.params.model,
        sm.params.decoding,
        sm.params.max_new_tokens,
        {
            "alpaca_eval": read_jsonl(sm.input.alpaca_eval),
            "arena_hard": read_jsonl(sm.input.arena_hard),
        },
        threads=sm.threads,
    )
    write_jsonl(sm.output.answers, answers)
    log.info("%d answers of the base before fine-tuning (checked, not judged)", len(answers))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
