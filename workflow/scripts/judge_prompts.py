"""The LLM judge's prompt of each benchmark, fetched from its published configuration on the
submitting host (rule judge_prompts)."""

from pathlib import Path

from teachergrid.evaluation.judges import fetch_prompt
from teachergrid.support.jobs import start

sm = snakemake  # noqa: F821
log = start(sm)
for out in sm.output:
    bench = Path(out).stem
    source = sm.params.sources[bench]
    digest = fetch_prompt(source, bench, Path(out))
    log.info("%s judge prompt: %s (sha256 %s)", bench, source, digest)
