"""AlpacaEval's published instruction difficulty for the joint LC fit, fetched on the
submitting host and kept beside the results (rule instruction_difficulty)."""

from pathlib import Path

from teachergrid.jobs import start
from teachergrid.lengthcontrol import fetch_difficulty

sm = snakemake  # noqa: F821
log = start(sm)
spec = sm.params.spec
count = fetch_difficulty(spec, Path(sm.output[0]))
where = spec["source"] if spec.get("local") else f"{spec['source']}/{spec['file']}"
log.info("instruction difficulty of %d prompts from %s", count, where)
