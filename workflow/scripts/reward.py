"""Score one teacher's responses with one reward model (rule reward)."""

from teachergrid.core.jsonl import read_jsonl, write_jsonl
from teachergrid.screening import reward
from teachergrid.support.jobs import start
from teachergrid.support.params import join

sm = snakemake  # noqa: F821
log = start(sm)
rows = read_jsonl(sm.input.responses)
entry = join(sm.params.entry, sm.params.ops)
scores = reward.score(sm.params.model, entry, rows, threads=sm.threads)
write_jsonl(
    sm.output[0],
    (
        {"id": r["id"], "sample": r["sample"], "reward": s}
        for r, s in zip(rows, scores, strict=True)
    ),
)
log.info("%d responses scored, mean reward %.4f", len(scores), sum(scores) / len(scores))
