"""Every fine-tuned cell's answers in AlpacaEval's and Arena-Hard's own file shapes (rule
exports; teachergrid/evaluation/exports.py)."""

import json

from teachergrid.core.jsonl import atomic_open, read_jsonl, write_jsonl
from teachergrid.evaluation import exports
from teachergrid.support.jobs import start

sm = snakemake  # noqa: F821
log = start(sm)
prompts = {bench: read_jsonl(sm.input[bench]) for bench in ("alpaca_eval", "arena_hard")}
cells = [tuple(cell) for cell in sm.params.cells]
outputs = dict(zip(cells, sm.output[: len(cells)], strict=True))
arena = dict(zip(cells, sm.output[len(cells) :], strict=True))
for (base, teacher), answers_file in zip(cells, sm.input.answers, strict=True):
    name = exports.model_name(base, teacher)
    answers = read_jsonl(answers_file)
    with atomic_open(outputs[(base, teacher)]) as handle:
        records = exports.alpaca_eval_outputs(answers, prompts["alpaca_eval"], name)
        json.dump(records, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    write_jsonl(
        arena[(base, teacher)], exports.arena_hard_answers(answers, prompts["arena_hard"], name)
    )
    log.info("%s: %d AlpacaEval and %d Arena-Hard answers", name, len(records),
             len(prompts["arena_hard"]))  # fmt: skip
