"""Judge one cell's answers with an LLM judge behind an API (rule judge, on the submitting
host, where the network is)."""

from pathlib import Path

from teachergrid.core.jsonl import read_jsonl, write_jsonl
from teachergrid.evaluation.judging import judge_answers
from teachergrid.support.jobs import start
from teachergrid.support.params import join

sm = snakemake  # noqa: F821
log = start(sm)
answers = read_jsonl(sm.input.answers)
judgments = judge_answers(
    join(sm.params.judge, sm.params.judge_ops),
    sm.params.judge_model,
    read_jsonl(sm.input.alpaca_eval),
    read_jsonl(sm.input.arena_hard),
    answers,
    {Path(p).stem: p for p in sm.input.prompts},
    sm.threads,
    Path(sm.output.judgments + ".judge_cache.jsonl"),
)
write_jsonl(sm.output.judgments, judgments)
log.info("%d judgements of %d answers", len(judgments), len(answers))
