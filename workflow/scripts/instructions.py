"""Load and sample the instruction set (rule instructions)."""

from teachergrid.core.jsonl import write_jsonl
from teachergrid.screening.instructions import prepare

sm = snakemake  # noqa: F821
from teachergrid.support.jobs import start  # noqa: E402

log = start(sm)
rows = prepare(sm.params.source)
write_jsonl(sm.output[0], rows)
log.info("%d instructions from %s", len(rows), sm.params.source["source"])
