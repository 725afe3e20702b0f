"""A published teacher's responses to the study's instructions (rule published_responses)."""

from teachergrid.core.jsonl import read_jsonl, write_jsonl
from teachergrid.screening.published import published_responses
from teachergrid.support.jobs import start

sm = snakemake  # noqa: F821
log = start(sm)
spec = sm.params.dataset
rows = published_responses(
    spec, sm.wildcards.teacher, read_jsonl(sm.input.instructions), spec["instruction_column"]
)
write_jsonl(sm.output[0], rows)
log.info("%d responses from %s, column %s", len(rows), spec["source"], spec["column"])
