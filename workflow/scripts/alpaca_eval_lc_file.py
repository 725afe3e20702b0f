"""One of AlpacaEval's published files for the joint LC fit (instruction difficulty or gamed
baselines), fetched on the submitting host and kept beside the results (rule
alpaca_eval_lc_file)."""

from pathlib import Path

from teachergrid.evaluation.lengthcontrol import fetch_published
from teachergrid.support.jobs import start

sm = snakemake  # noqa: F821
log = start(sm)
spec = sm.params.spec
kind = sm.wildcards.lc_file
rows = fetch_published(spec, Path(sm.output[0]), kind)
where = spec["source"] if spec.get("local") else f"{spec['source']}/{spec['file']}"
log.info("%s: %d rows from %s", kind, rows, where)
