"""Loss, PPL and IFD of one scoring model on one teacher's responses (rules compatibility,
reference)."""

from teachergrid.core.jsonl import read_jsonl, write_json, write_jsonl
from teachergrid.screening import compatibility
from teachergrid.support.jobs import start
from teachergrid.support.params import join

sm = snakemake  # noqa: F821
log = start(sm)
rows = read_jsonl(sm.input.responses)
entry = join(sm.params.entry, sm.params.ops)
records = compatibility.per_response(sm.params.model, entry, rows, threads=sm.threads)
summary = compatibility.summarize(records, entry["metrics"])
write_jsonl(sm.output.records, records)
write_json(sm.output.summary, {"scorer": entry["name"], **summary})
log.info("%s", summary)
