"""A published teacher's reward scores, read from its data set (rule published_rewards)."""

from teachergrid.core.jsonl import read_jsonl, write_jsonl
from teachergrid.screening.published import published_rewards
from teachergrid.support.jobs import start

sm = snakemake  # noqa: F821
log = start(sm)
spec = sm.params.dataset
rows = published_rewards(
    spec, sm.params.key, read_jsonl(sm.input.instructions), spec["instruction_column"]
)
write_jsonl(sm.output[0], rows)
mean = sum(r["reward"] for r in rows) / len(rows)
log.info("%d published scores %r, mean reward %.4f", len(rows), sm.params.key, mean)
