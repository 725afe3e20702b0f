"""Answer both benchmarks with one fine-tuned model (rule evaluate), and judge the answers
when the judge is a reward model (an LLM judge behind an API judges in rule judge, on the
submitting host). The scores are fitted from the judgements by the report. Under a __main__
guard: vLLM spawns its engine in a process that imports this script again."""

from pathlib import Path

from teachergrid.core.jsonl import read_jsonl, write_jsonl
from teachergrid.evaluation.answering import answer, student
from teachergrid.evaluation.judging import judge_answers
from teachergrid.support.jobs import start
from teachergrid.support.params import join


def main(sm) -> None:
    log = start(sm)
    settings = join(sm.params.evaluation, sm.params.evaluation_ops)
    base = join(sm.params.base, sm.params.base_ops)
    alpaca = read_jsonl(sm.input.alpaca_eval)
    arena = read_jsonl(sm.input.arena_hard)
    generator = student(f"{base['name']}+{sm.wildcards.teacher}", settings, base, untuned=False)
    answers = answer(
        generator,
        sm.input.model,
        sm.params.decoding,
        sm.params.max_new_tokens,
        {"alpaca_eval": alpaca, "arena_hard": arena},
        threads=sm.threads,
    )
    write_jsonl(sm.output.answers, answers)
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
