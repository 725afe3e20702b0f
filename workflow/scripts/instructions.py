"""Load and sample the instruction set (rule instructions)."""

from teachergrid.instructions import prepare
from teachergrid.jsonl import write_jsonl

sm = snakemake  # noqa: F821
from teachergrid.jobs import start  # noqa: E402

log = start(sm)
rows = prepare(sm.params.source)
write_jsonl(sm.output[0], rows)
log.info("%d instructions from %s", len(rows), sm.params.source["source"])
