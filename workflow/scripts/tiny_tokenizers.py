"""Train the tiny world's tokenizers (rule tiny_tokenizers)."""

from pathlib import Path

from teachergrid.support.jobs import start
from teachergrid.tiny.build import build_tokenizer

sm = snakemake  # noqa: F821
log = start(sm)
for name, spec in sm.params.specs.items():
    build_tokenizer(
        Path(sm.output[0]) / name,
        spec["vocab_size"],
        spec["chat_template"],
        sm.params.seed,
        spec.get("dialect"),
        spec["own_share"],
    )
    log.info(
        "tokenizer %s: vocabulary %d, template %s", name, spec["vocab_size"], spec["chat_template"]
    )
