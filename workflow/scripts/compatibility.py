"""Loss, PPL and IFD of one scoring model on one teacher's responses (rules compatibility,
reference)."""

from teachergrid import compatibility
from teachergrid.jobs import start
from teachergrid.jsonl import read_jsonl, write_json, write_jsonl

sm = snakemake  # noqa: F821
log = start(sm)
rows = read_jsonl(sm.input.responses)
records = compatibility.per_response(sm.params.model, sm.params.entry, rows, threads=sm.threads)
summary = compatibility.summarize(records)
write_jsonl(sm.output.records, records)
write_json(sm.output.summary, {"scorer": sm.params.entry["name"], **summary})
log.info("%s", summary)
